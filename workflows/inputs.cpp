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

Result<std::optional<std::string>> LineReader::next() {
  std::streambuf* buf = in_.rdbuf();
  if (!buf) return std::optional<std::string>{};
  using traits = std::char_traits<char>;
  if (skip_rest_) {
    skip_rest_ = false;
    for (int c = buf->sbumpc(); c != traits::eof() && c != '\n'; c = buf->sbumpc()) {
    }
  }
  std::string line;
  bool any = false;
  for (int c = buf->sbumpc(); c != traits::eof(); c = buf->sbumpc()) {
    any = true;
    if (c == '\n') break;
    if (line.size() == max_bytes_) {
      ++line_no_;
      skip_rest_ = true;
      return Error{ErrorCode::parse, name_ + ":" + std::to_string(line_no_) + ": line longer than the limit of " +
                                         std::to_string(max_bytes_) + " bytes (one JSON object per line; " +
                                         "split the item or shorten it)"};
    }
    line.push_back(static_cast<char>(c));
  }
  if (!any) return std::optional<std::string>{};
  ++line_no_;
  // A UTF-8 byte-order mark (as some editors write) is not part of the data.
  if (line_no_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
  return std::optional<std::string>{std::move(line)};
}

Result<std::unique_ptr<JsonlInputs>> JsonlInputs::open(const std::string& path, size_t max_line_bytes) {
  auto in = std::make_unique<JsonlInputs>();
  in->path_ = path;
  in->in_.open(path, std::ios::binary);
  if (!in->in_) return Error{ErrorCode::io, path + ": cannot open input file"};
  in->lines_ = std::make_unique<LineReader>(in->in_, path, max_line_bytes);
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
  for (;;) {
    auto line = lines_->next();
    if (!line.ok()) return line.error();
    if (!*line) break;
    if (blank(**line)) continue;
    auto r = parse_line(**line, path_, lines_->line_no());
    if (!r.ok()) return r.error();
    return std::optional<actors::RunInput>{std::move(r.value())};
  }
  if (in_.bad()) return Error{ErrorCode::io, path_ + ": read error after line " + std::to_string(lines_->line_no())};
  return std::optional<actors::RunInput>{};
}

int64_t count_input_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::streambuf* buf = in ? in.rdbuf() : nullptr;
  if (!buf) return 0;
  int64_t n = 0;
  bool content = false;  // the current line has a non-blank byte
  for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
    if (c == '\n') {
      if (content) ++n;
      content = false;
    } else if (c != ' ' && c != '\t' && c != '\r') {
      content = true;
    }
  }
  return content ? n + 1 : n;
}

}  // namespace troupe::workflows
