#include "prover_bridge/linc_text.hpp"

#include <string>

namespace troupe::prover {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<Problem> extract_fol_lines(std::string_view text) {
  size_t stop = text.find("</EVALUATE>");
  if (stop != std::string_view::npos) text = text.substr(0, stop);
  std::vector<std::string> lines;
  size_t pos = 0, line_no = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    ++line_no;
    size_t k = line.find("FOL:");
    if (k != std::string_view::npos) {
      std::string_view f = trim(line.substr(k + 4));
      if (f.empty())
        return Error{ErrorCode::parse, "translation line " + std::to_string(line_no) + ": 'FOL:' with no formula"};
      lines.emplace_back(f);
    }
    pos = end + 1;
  }
  if (lines.empty()) return Error{ErrorCode::parse, "the translation has no 'FOL:' line"};
  Problem p;
  p.conclusion = std::move(lines.back());
  lines.pop_back();
  p.premises = std::move(lines);
  return p;
}

}  // namespace troupe::prover
