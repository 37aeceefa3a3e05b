// libFuzzer target for the FOL parser (and the TPTP emitter behind it).
// Properties checked on every input:
//   - parse_fol() returns, never crashes, never overflows the stack;
//   - an error names a column within the input and quotes what it found
//     ("column N: ... found ..." or an unexpected/invalid character);
//   - a parsed formula converts to TPTP, and its NLTK rendering parses
//     again to the same rendering (round trip);
//   - the repair pass (fol_repair.hpp) on the input as a premise returns,
//     and what it returns parses; a formula that parsed and needed no
//     repair comes back byte for byte; a refusal names the formula.
// Build and run: see fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "prover_bridge/fol_parser.hpp"
#include "prover_bridge/fol_repair.hpp"
#include "prover_bridge/tptp.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = troupe::prover::parse_fol(text);
  auto fixed = troupe::prover::repair_formulas({std::string(text)}, "Goal(a)");
  if (fixed.ok()) {
    for (const auto& f : fixed->premises)
      if (auto p = troupe::prover::parse_fol(f); !p.ok()) broken("repaired formula does not parse", f + " -> " + p.error().message);
    if (fixed->repairs.empty() && fixed->premises.at(0) != text) broken("unrepaired formula changed", fixed->premises[0]);
  } else if (fixed.error().message.rfind("premise 1: ", 0) != 0) {
    broken("refusal without the formula's name", fixed.error().message);
  }
  if (!r.ok()) {
    const std::string& m = r.error().message;
    if (m.rfind("column ", 0) != 0) broken("error without a column", m);
    long column = std::strtol(m.c_str() + 7, nullptr, 10);
    if (column < 1 || static_cast<size_t>(column) > size + 1) broken("column outside the input", m);
    bool names_token = m.find(", found ") != std::string::npos || m.find("unexpected character") != std::string::npos ||
                       m.find("invalid UTF-8") != std::string::npos || m.find("string") != std::string::npos;
    if (!names_token) broken("error that does not name the token", m);
    return 0;
  }
  auto tptp = troupe::prover::to_tptp({*r}, *r);
  if (tptp.conjecture.empty()) broken("empty TPTP", std::string(text));
  std::string once = troupe::prover::to_string(r->formula);
  auto again = troupe::prover::parse_fol(once);
  if (!again.ok()) broken("rendering does not parse", once + " -> " + again.error().message);
  std::string twice = troupe::prover::to_string(again->formula);
  if (twice != once) broken("round trip changed the formula", once + " != " + twice);
  return 0;
}
