#include "workflows/inputs.hpp"

#include <simdjson.h>

#include <charconv>

namespace troupe::workflows {
namespace {

bool blank(const std::string& s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  return true;
}

std::string scalar_text(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::STRING: return std::string(std::string_view(e.get_string()));
    case simdjson::dom::element_type::INT64: return std::to_string(int64_t(e.get_int64()));
    case simdjson::dom::element_type::UINT64: return std::to_string(uint64_t(e.get_uint64()));
    case simdjson::dom::element_type::DOUBLE: {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, double(e.get_double()));
      return std::string(buf, end);
    }
    case simdjson::dom::element_type::BOOL: return bool(e.get_bool()) ? "true" : "false";
    default: return "";
  }
}

}  // namespace

Result<std::unique_ptr<JsonlInputs>> JsonlInputs::open(const std::string& path) {
  auto in = std::make_unique<JsonlInputs>();
  in->path_ = path;
  in->in_.open(path, std::ios::binary);
  if (!in->in_) return Error{ErrorCode::io, path + ": cannot open input file"};
  return in;
}

Result<actors::RunInput> JsonlInputs::parse_line(const std::string& line, const std::string& path,
                                                 int64_t line_no) {
  std::string where = path + ":" + std::to_string(line_no) + ": ";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto err = parser.parse(line).get(doc);
  if (err) return Error{ErrorCode::parse, where + "not valid JSON (" + simdjson::error_message(err) + ")"};
  if (!doc.is_object()) return Error{ErrorCode::parse, where + "expected a JSON object with a \"question\""};
  actors::RunInput item;
  item.raw_json = line;
  while (!item.raw_json.empty() && (item.raw_json.back() == '\r' || item.raw_json.back() == '\n'))
    item.raw_json.pop_back();
  simdjson::dom::object obj = doc.get_object();
  simdjson::dom::element q;
  if (obj["question"].get(q) && obj["prompt"].get(q))
    return Error{ErrorCode::parse, where + "missing \"question\" (or \"prompt\")"};
  if (!q.is_string()) return Error{ErrorCode::parse, where + "\"question\" must be a string"};
  item.question = std::string(std::string_view(q.get_string()));
  simdjson::dom::element id;
  if (!obj["id"].get(id)) {
    if (!(id.is_string() || id.is_number()))
      return Error{ErrorCode::parse, where + "\"id\" must be a string or a number"};
    item.item_id = scalar_text(id);
  } else {
    item.item_id = std::to_string(line_no);
  }
  simdjson::dom::element ans;
  if (!obj["answer"].get(ans) && !ans.is_null()) {
    if (!(ans.is_string() || ans.is_number()))
      return Error{ErrorCode::parse, where + "\"answer\" must be a string or a number"};
    item.gold = scalar_text(ans);
  }
  return item;
}

Result<std::optional<actors::RunInput>> JsonlInputs::next() {
  std::string line;
  while (std::getline(in_, line)) {
    ++line_no_;
    if (blank(line)) continue;
    auto r = parse_line(line, path_, line_no_);
    if (!r.ok()) return r.error();
    return std::optional<actors::RunInput>{std::move(r.value())};
  }
  if (in_.bad()) return Error{ErrorCode::io, path_ + ": read error after line " + std::to_string(line_no_)};
  return std::optional<actors::RunInput>{};
}

int64_t count_input_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line))
    if (!blank(line)) ++n;
  return n;
}

}  // namespace troupe::workflows
