// Reading JSON that comes from outside (HTTP bodies, SSE payloads) with
// simdjson's DOM API, with errors that name the offending field by its path
// ("messages[2].role: expected string"). Nothing here throws: a malformed
// document or a field of the wrong type is an Error (ErrorCode::parse).
// Values borrowed from a parse (string_views, elements) live as long as the
// parser that produced them and until its next parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "common/error.hpp"

namespace troupe::engine::json {

using Element = simdjson::dom::element;
using Object = simdjson::dom::object;
using Array = simdjson::dom::array;

// Parses `text` (copied into a padded buffer). `what` names the document in
// errors ("response body: invalid JSON: ...").
Result<Element> parse(simdjson::dom::parser& parser, std::string_view text, std::string_view what);

// The member `key` of `obj`, or nullopt when it is absent or JSON null.
std::optional<Element> field(Object obj, std::string_view key);

// Typed views of `e`; the error names `path`. Integers accept any JSON
// integer that fits int64 (and doubles with no fractional part); doubles
// accept integers.
Result<std::string_view> as_string(Element e, const std::string& path);
Result<int64_t> as_int(Element e, const std::string& path);
Result<double> as_double(Element e, const std::string& path);
Result<bool> as_bool(Element e, const std::string& path);
Result<Object> as_object(Element e, const std::string& path);
Result<Array> as_array(Element e, const std::string& path);

// "path.key" / "path[i]" (no leading dot for an empty path).
std::string join(const std::string& path, std::string_view key);
std::string join(const std::string& path, size_t index);

}  // namespace troupe::engine::json
