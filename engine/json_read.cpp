#include "engine/json_read.hpp"

#include <cmath>

namespace troupe::engine::json {
namespace {

const char* type_name(simdjson::dom::element_type t) {
  using T = simdjson::dom::element_type;
  switch (t) {
    case T::ARRAY: return "array";
    case T::OBJECT: return "object";
    case T::INT64:
    case T::UINT64: return "integer";
    case T::DOUBLE: return "number";
    case T::STRING: return "string";
    case T::BOOL: return "boolean";
    case T::NULL_VALUE: return "null";
  }
  return "value";
}

Error type_error(Element e, const std::string& path, const char* expected) {
  return Error{ErrorCode::parse,
               (path.empty() ? std::string("document") : path) + ": expected " + expected + ", got " +
                   type_name(e.type())};
}

}  // namespace

Result<Element> parse(simdjson::dom::parser& parser, std::string_view text, std::string_view what) {
  Element doc;
  auto err = parser.parse(text.data(), text.size(), true).get(doc);
  if (err) {
    return Error{ErrorCode::parse,
                 std::string(what) + ": invalid JSON (" + simdjson::error_message(err) + ")"};
  }
  return doc;
}

std::optional<Element> field(Object obj, std::string_view key) {
  Element e;
  if (obj.at_key(key).get(e) != simdjson::SUCCESS) return std::nullopt;
  if (e.is_null()) return std::nullopt;
  return e;
}

Result<std::string_view> as_string(Element e, const std::string& path) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return type_error(e, path, "string");
  return s;
}

Result<int64_t> as_int(Element e, const std::string& path) {
  int64_t i;
  if (e.get_int64().get(i) == simdjson::SUCCESS) return i;
  double d;
  if (e.is_double() && e.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) &&
      d == std::floor(d) && std::fabs(d) < 9.0e18) {
    return static_cast<int64_t>(d);
  }
  return type_error(e, path, "integer");
}

Result<double> as_double(Element e, const std::string& path) {
  double d;
  if (e.get_double().get(d) != simdjson::SUCCESS) return type_error(e, path, "number");
  return d;
}

Result<bool> as_bool(Element e, const std::string& path) {
  bool b;
  if (e.get_bool().get(b) != simdjson::SUCCESS) return type_error(e, path, "boolean");
  return b;
}

Result<Object> as_object(Element e, const std::string& path) {
  Object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return type_error(e, path, "object");
  return o;
}

Result<Array> as_array(Element e, const std::string& path) {
  Array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return type_error(e, path, "array");
  return a;
}

std::string join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string join(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

}  // namespace troupe::engine::json
