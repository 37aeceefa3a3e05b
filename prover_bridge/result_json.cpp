#include "prover_bridge/result_json.hpp"

#include <cmath>

#include "common/json_writer.hpp"

namespace troupe::prover {

std::string proof_json(const ProofResult& r, std::string_view raw_id, bool with_tptp) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  if (!raw_id.empty()) w.key("id").raw(raw_id);
  w.field("label", r.label);
  w.key("szs").begin_array();
  for (const auto& s : r.szs) {
    if (s.empty()) w.null();
    else w.value(s);
  }
  w.end_array();
  w.key("error");
  if (r.error.empty()) w.null();
  else w.value(r.error);
  w.field("ms", std::round(r.ms * 10) / 10);
  if (!r.notes.empty()) {
    w.key("notes").begin_array();
    for (const auto& n : r.notes) w.value(n);
    w.end_array();
  }
  if (!r.repairs.empty()) {
    w.key("repairs").begin_array();
    for (const auto& x : r.repairs)
      w.begin_object().field("kind", x.kind).field("symbol", x.symbol).field("where", x.where).field("detail", x.detail).end_object();
    w.end_array();
    w.key("repaired").begin_object().key("premises").begin_array();
    for (const auto& f : r.repaired.premises) w.value(f);
    w.end_array().field("conclusion", r.repaired.conclusion).end_object();
  }
  if (with_tptp && !r.tptp.empty()) w.field("tptp", r.tptp);
  w.end_object();
  return out;
}

}  // namespace troupe::prover
