#include "prover_bridge/szs.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <string_view>

namespace troupe::prover {
namespace {

constexpr std::array<std::string_view, 3> kProved = {"Theorem", "ContradictoryAxioms", "Unsatisfiable"};
constexpr std::array<std::string_view, 7> kOpen = {"CounterSatisfiable", "Satisfiable", "ResourceOut", "GaveUp",
                                                   "Timeout",            "MemoryOut",   "Unknown"};
constexpr std::array<std::string_view, 6> kFailed = {"InputError", "SyntaxError", "TypeError",
                                                     "UsageError", "OSError",     "Error"};

template <size_t N>
bool in(const std::array<std::string_view, N>& set, std::string_view w) {
  return std::find(set.begin(), set.end(), w) != set.end();
}

// The word after the last "SZS status" on a line that starts with # or %.
std::string last_status(const std::string& out) {
  std::string found;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    std::string_view line(out.data() + pos, end - pos);
    if (!line.empty() && (line[0] == '#' || line[0] == '%')) {
      size_t k = line.find("SZS status ");
      if (k != std::string_view::npos) {
        k += 11;
        size_t e = k;
        while (e < line.size() && (std::isalnum(static_cast<unsigned char>(line[e])) || line[e] == '_')) ++e;
        if (e > k) found.assign(line.substr(k, e - k));
      }
    }
    pos = end + 1;
  }
  return found;
}

std::string first_line(const std::string& s, size_t max = 240) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find('\n', b);
  std::string line = s.substr(b, (e == std::string::npos ? s.size() : e) - b);
  if (line.size() > max) line = line.substr(0, max) + "...";
  // Keep messages printable.
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return line;
}

}  // namespace

CallOutcome interpret_e(const process::ChildResult& r, double timeout_s) {
  CallOutcome o;
  o.ms = r.wall_ms;
  o.cpu_ms = r.cpu_ms;
  if (!r.started) {
    o.szs = "Error";
    o.error = true;
    o.reason = r.start_error;
    return o;
  }
  if (r.timed_out) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", timeout_s);
    o.szs = "Timeout";
    o.error = true;
    o.reason = std::string("the prover did not finish within ") + buf + " s and was killed";
    return o;
  }
  std::string status = last_status(r.out);
  if (r.signal != 0) {
    o.szs = "Error";
    o.error = true;
    o.reason = "the prover crashed (signal " + std::to_string(r.signal) + ")";
    std::string why = first_line(r.err);
    if (!why.empty()) o.reason += ": " + why;
    return o;
  }
  if (status.empty()) {
    std::string why = first_line(r.err);
    if (r.exit_code == 3 || why.find("eprover:") != std::string::npos) {
      o.szs = "InputError";
      o.error = true;
      o.reason = "the prover rejected its input" + (why.empty() ? std::string() : ": " + why);
      return o;
    }
    o.szs = "Error";
    o.error = true;
    o.reason = "no SZS status in the prover's output (exit code " + std::to_string(r.exit_code) + ")";
    std::string said = first_line(r.out);
    if (said.empty()) said = why;
    if (!said.empty()) o.reason += "; it said: " + said;
    return o;
  }
  o.szs = status;
  if (in(kProved, status)) {
    o.proved = true;
  } else if (in(kOpen, status)) {
    o.proved = false;
  } else if (in(kFailed, status)) {
    o.error = true;
    o.reason = "the prover reported " + status;
    std::string why = first_line(r.err);
    if (!why.empty()) o.reason += ": " + why;
  } else {
    o.szs = "Error";
    o.error = true;
    o.reason = "unknown SZS status '" + status.substr(0, 40) + "' in the prover's output";
  }
  return o;
}

}  // namespace troupe::prover
