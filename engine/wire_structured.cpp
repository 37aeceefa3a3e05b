#include "engine/wire_structured.hpp"

#include <algorithm>

#include "engine/json_grammar.hpp"

namespace troupe::engine::wire {

namespace {

constexpr size_t kMaxTools = 128;
constexpr size_t kMaxToolCalls = 128;

Error bad(const std::string& path, const std::string& what) { return Error{ErrorCode::parse, path + ": " + what}; }

Status check_name(std::string_view name, const std::string& path) {
  if (name.empty() || name.size() > 64) return bad(path, "a function name has 1 to 64 characters");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return bad(path, "a function name holds only letters, digits, '_' and '-'");
  }
  return {};
}

Result<std::string> string_field(json::Object o, std::string_view key, const std::string& path, bool required) {
  auto v = json::field(o, key);
  if (!v) {
    if (required) return bad(json::join(path, key), "missing");
    return std::string();
  }
  auto s = json::as_string(*v, json::join(path, key));
  if (!s.ok()) return s.error();
  return std::string(*s);
}

Status invalid_to_parse(const Error& e) {
  Error out = e;
  out.code = ErrorCode::parse;
  return out;
}

}  // namespace

Status read_structured_fields(json::Object obj, bool chat, GenerateRequest& r) {
  // tools
  std::vector<std::string> tool_paths;
  // On /v1/completions tools and tool_choice are no-ops (wire.cpp's
  // kParamRules has refused any other value).
  auto chat_field = [&](std::string_view key) { return chat ? json::field(obj, key) : std::nullopt; };
  if (auto v = chat_field("tools")) {
    auto arr = json::as_array(*v, "tools");
    if (!arr.ok()) return arr.error();
    if (arr->size() > kMaxTools) return bad("tools", "at most " + std::to_string(kMaxTools) + " tools");
    size_t i = 0;
    for (json::Element e : *arr) {
      std::string path = json::join("tools", i++);
      auto t = json::as_object(e, path);
      if (!t.ok()) return t.error();
      auto type = string_field(*t, "type", path, true);
      if (!type.ok()) return type.error();
      if (*type != "function") return bad(json::join(path, "type"), "only \"function\" tools are supported");
      auto f = json::field(*t, "function");
      if (!f) return bad(json::join(path, "function"), "missing");
      std::string fpath = json::join(path, "function");
      auto fo = json::as_object(*f, fpath);
      if (!fo.ok()) return fo.error();
      ToolSpec spec;
      auto name = string_field(*fo, "name", fpath, true);
      if (!name.ok()) return name.error();
      if (auto st = check_name(*name, json::join(fpath, "name")); !st.ok()) return st;
      spec.name = *name;
      auto desc = string_field(*fo, "description", fpath, false);
      if (!desc.ok()) return desc.error();
      spec.description = *desc;
      if (auto p = json::field(*fo, "parameters")) {
        if (!p->is_object()) return bad(json::join(fpath, "parameters"), "expected a JSON Schema object");
        spec.parameters = simdjson::minify(*p);
      }
      for (const auto& other : r.tools)
        if (other.name == spec.name) return bad(json::join(fpath, "name"), "two tools named '" + spec.name + "'");
      r.tools.push_back(std::move(spec));
      tool_paths.push_back(json::join(fpath, "parameters"));
    }
  }
  // tool_choice
  r.tool_choice = ToolChoice::automatic;
  if (auto v = chat_field("tool_choice")) {
    std::string_view s;
    if (v->get_string().get(s) == simdjson::SUCCESS) {
      if (s == "none") {
        r.tool_choice = ToolChoice::none;
      } else if (s == "auto") {
        r.tool_choice = ToolChoice::automatic;
      } else if (s == "required") {
        r.tool_choice = ToolChoice::required;
      } else {
        return bad("tool_choice", "expected \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}");
      }
    } else {
      auto o = json::as_object(*v, "tool_choice");
      if (!o.ok()) return o.error();
      auto type = string_field(*o, "type", "tool_choice", true);
      if (!type.ok()) return type.error();
      if (*type != "function") return bad("tool_choice.type", "expected \"function\"");
      auto f = json::field(*o, "function");
      if (!f) return bad("tool_choice.function", "missing");
      auto fo = json::as_object(*f, "tool_choice.function");
      if (!fo.ok()) return fo.error();
      auto name = string_field(*fo, "name", "tool_choice.function", true);
      if (!name.ok()) return name.error();
      r.tool_choice = ToolChoice::named;
      r.tool_choice_name = *name;
    }
    if ((r.tool_choice == ToolChoice::required || r.tool_choice == ToolChoice::named) && r.tools.empty())
      return bad("tool_choice", "a required or named tool_choice needs tools");
    if (r.tool_choice == ToolChoice::named &&
        std::none_of(r.tools.begin(), r.tools.end(), [&](const ToolSpec& t) { return t.name == r.tool_choice_name; }))
      return bad("tool_choice.function.name", "no tool named '" + r.tool_choice_name + "' in tools");
  }
  if (auto v = json::field(obj, "parallel_tool_calls")) {
    auto b = json::as_bool(*v, "parallel_tool_calls");
    if (!b.ok()) return b.error();
  }
  // The schemas that will constrain decoding must compile.
  if (r.tool_choice == ToolChoice::required || r.tool_choice == ToolChoice::named) {
    for (size_t i = 0; i < r.tools.size(); ++i) {
      if (r.tool_choice == ToolChoice::named && r.tools[i].name != r.tool_choice_name) continue;
      if (r.tools[i].parameters.empty()) continue;
      auto g = JsonGrammar::from_schema_text(r.tools[i].parameters, tool_paths[i]);
      if (!g.ok()) return invalid_to_parse(g.error());
    }
  }
  // response_format
  if (auto v = json::field(obj, "response_format")) {
    auto o = json::as_object(*v, "response_format");
    if (!o.ok()) return o.error();
    auto type = string_field(*o, "type", "response_format", true);
    if (!type.ok()) return type.error();
    if (*type == "text") {
      // the default
    } else if (*type == "json_object") {
      r.response_grammar = JsonGrammar::any_object();
    } else if (*type == "json_schema") {
      auto js = json::field(*o, "json_schema");
      if (!js) return bad("response_format.json_schema", "missing");
      auto jo = json::as_object(*js, "response_format.json_schema");
      if (!jo.ok()) return jo.error();
      auto name = string_field(*jo, "name", "response_format.json_schema", false);
      if (!name.ok()) return name.error();
      auto schema = json::field(*jo, "schema");
      if (!schema) return bad("response_format.json_schema.schema", "missing");
      auto g = JsonGrammar::from_schema(*schema, "response_format.json_schema.schema");
      if (!g.ok()) return invalid_to_parse(g.error());
      r.response_grammar = *g;
    } else {
      return bad("response_format.type", "expected \"text\", \"json_object\" or \"json_schema\", got \"" +
                                             std::string(*type).substr(0, 40) + "\"");
    }
    if (r.response_grammar && !r.tools.empty() && r.tool_choice != ToolChoice::none)
      return bad("response_format", "cannot be combined with tools unless tool_choice is \"none\"");
  }
  return {};
}

Status read_message_tool_fields(json::Object m, const std::string& path, ChatMessage& msg) {
  if (auto v = json::field(m, "tool_calls")) {
    std::string cpath = json::join(path, "tool_calls");
    auto arr = json::as_array(*v, cpath);
    if (!arr.ok()) return arr.error();
    if (arr->size() > kMaxToolCalls) return bad(cpath, "at most " + std::to_string(kMaxToolCalls) + " calls");
    size_t i = 0;
    for (json::Element e : *arr) {
      std::string p = json::join(cpath, i++);
      auto o = json::as_object(e, p);
      if (!o.ok()) return o.error();
      ToolCall call;
      auto id = string_field(*o, "id", p, false);
      if (!id.ok()) return id.error();
      call.id = *id;
      auto f = json::field(*o, "function");
      if (!f) return bad(json::join(p, "function"), "missing");
      auto fo = json::as_object(*f, json::join(p, "function"));
      if (!fo.ok()) return fo.error();
      auto name = string_field(*fo, "name", json::join(p, "function"), true);
      if (!name.ok()) return name.error();
      call.name = *name;
      // arguments: a JSON string as OpenAI sends it (an object is accepted too).
      if (auto a = json::field(*fo, "arguments")) {
        std::string_view s;
        if (a->get_string().get(s) == simdjson::SUCCESS) {
          call.arguments = s;
        } else if (a->is_object()) {
          call.arguments = simdjson::minify(*a);
        } else {
          return bad(json::join(json::join(p, "function"), "arguments"), "expected a JSON string");
        }
      }
      if (call.arguments.empty()) call.arguments = "{}";
      msg.tool_calls.push_back(std::move(call));
    }
  }
  if (auto v = json::field(m, "tool_call_id")) {
    auto s = json::as_string(*v, json::join(path, "tool_call_id"));
    if (!s.ok()) return s.error();
    msg.tool_call_id = *s;
  }
  if (auto v = json::field(m, "name")) {
    auto s = json::as_string(*v, json::join(path, "name"));
    if (!s.ok()) return s.error();
    msg.name = *s;
  }
  return {};
}

}  // namespace troupe::engine::wire
