#include "engine/local/tool_calls.hpp"

#include <random>

#include <simdjson.h>

#include "common/json_writer.hpp"

namespace troupe::engine::local {

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool tools_active(const GenerateRequest& r) { return !r.tools.empty() && r.tool_choice != ToolChoice::none; }

// {"type":"function","function":{"name":...,"description":...,"parameters":...}}
std::string tool_json(const ToolSpec& t) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("type", "function").key("function").begin_object().field("name", t.name);
  if (!t.description.empty()) w.field("description", t.description);
  w.key("parameters");
  if (t.parameters.empty()) {
    w.raw(R"({"type":"object","properties":{}})");
  } else {
    w.raw(t.parameters);
  }
  w.end_object().end_object();
  return out;
}

std::string call_text(ChatStyle style, const ToolCall& c) {
  std::string name;
  JsonWriter(name).value(c.name);
  const std::string args = c.arguments.empty() ? "{}" : c.arguments;
  if (style == ChatStyle::llama3) return "{\"name\": " + name + ", \"parameters\": " + args + "}";
  return std::string(kOpen) + "\n{\"name\": " + name + ", \"arguments\": " + args + "}\n" + std::string(kClose);
}

std::string tagged_tools_section(const GenerateRequest& r) {
  std::string s =
      "# Tools\n\nYou can call functions to help answer the user. Their signatures are listed between <tools> and "
      "</tools>, one JSON object a line:\n<tools>\n";
  for (const auto& t : r.tools) s += tool_json(t) + "\n";
  s += "</tools>\n\nTo call a function, reply with a JSON object holding its name and arguments between "
       "<tool_call> and </tool_call> tags, one call per block:\n<tool_call>\n{\"name\": <function-name>, "
       "\"arguments\": <args-json-object>}\n</tool_call>";
  return s;
}

std::string llama3_tools_preamble(const GenerateRequest& r) {
  std::string s =
      "Answer the prompt below with a call to one of these functions, written as JSON in the form "
      "{\"name\": function name, \"parameters\": an object of argument names and values}. Use no variables.\n\n";
  for (const auto& t : r.tools) s += tool_json(t) + "\n\n";
  return s;
}

std::string call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
  return id;
}

// A call object {"name": ..., "arguments"|"parameters": {...}}, or nullopt.
std::optional<ToolCall> read_call(std::string_view json_text, const GenerateRequest* r = nullptr) {
  (void)r;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(std::string(json_text)).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::object o;
  if (doc.get_object().get(o) != simdjson::SUCCESS) return std::nullopt;
  std::string_view name;
  if (o["name"].get_string().get(name) != simdjson::SUCCESS || name.empty()) return std::nullopt;
  simdjson::dom::element args;
  if (o["arguments"].get(args) != simdjson::SUCCESS && o["parameters"].get(args) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  ToolCall c;
  c.id = call_id();
  c.name = name;
  std::string_view s;
  if (args.get_string().get(s) == simdjson::SUCCESS) {
    // Some models write the arguments as a JSON string.
    simdjson::dom::parser inner;
    simdjson::dom::element e;
    if (inner.parse(std::string(s)).get(e) != simdjson::SUCCESS || !e.is_object()) return std::nullopt;
    c.arguments = simdjson::minify(e);
  } else if (args.is_object()) {
    c.arguments = simdjson::minify(args);
  } else {
    return std::nullopt;
  }
  return c;
}

}  // namespace

bool uses_tools(const GenerateRequest& r) {
  if (tools_active(r)) return true;
  for (const auto& m : r.messages)
    if (!m.tool_calls.empty() || m.role == "tool") return true;
  return false;
}

Result<std::vector<ChatMessage>> messages_with_tools(ChatStyle style, const GenerateRequest& r) {
  std::vector<ChatMessage> out;
  const bool listed = tools_active(r);
  const bool tagged = style != ChatStyle::llama3;
  if (listed && tagged) {
    if (!r.messages.empty() && r.messages.front().role == "system") {
      out.push_back({"system", r.messages.front().content + "\n\n" + tagged_tools_section(r)});
    } else {
      out.push_back({"system", tagged_tools_section(r)});
    }
  }
  bool preamble_done = !listed || tagged;
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const engine::ChatMessage& m = r.messages[i];
    if (i == 0 && listed && tagged && m.role == "system") continue;  // merged above
    if (m.role == "assistant" && !m.tool_calls.empty()) {
      std::string content = tagged ? trimmed(m.content) : std::string();
      for (const auto& c : m.tool_calls) {
        if (!content.empty()) content += "\n";
        content += call_text(style, c);
      }
      out.push_back({"assistant", content});
      continue;
    }
    if (m.role == "tool") {
      if (!tagged) {
        out.push_back({"ipython", m.content});
        continue;
      }
      std::string block = "<tool_response>\n" + m.content + "\n</tool_response>";
      // Consecutive tool results share one user turn.
      if (i > 0 && r.messages[i - 1].role == "tool" && !out.empty() && out.back().role == "user") {
        out.back().content += "\n" + block;
      } else {
        out.push_back({"user", block});
      }
      continue;
    }
    if (!preamble_done && m.role == "user") {
      out.push_back({"user", llama3_tools_preamble(r) + m.content});
      preamble_done = true;
      continue;
    }
    out.push_back({m.role, m.content});
  }
  if (!preamble_done) {
    return Error{ErrorCode::invalid_argument, "llama3 chat with tools: there is no user message to list the tools in"};
  }
  return out;
}

Result<std::shared_ptr<const JsonGrammar>> forced_call_grammar(ChatStyle style, const GenerateRequest& r) {
  const bool tagged = style != ChatStyle::llama3;
  std::string schema = "{\"anyOf\":[";
  bool first = true;
  for (const auto& t : r.tools) {
    if (r.tool_choice == ToolChoice::named && t.name != r.tool_choice_name) continue;
    std::string name;
    JsonWriter(name).value(t.name);
    const std::string params =
        t.parameters.empty() ? std::string(R"({"type":"object","additionalProperties":false})") : t.parameters;
    const char* key = tagged ? "arguments" : "parameters";
    if (!first) schema += ",";
    first = false;
    schema += "{\"type\":\"object\",\"properties\":{\"name\":{\"const\":" + name + "},\"" + key + "\":" + params +
              "},\"required\":[\"name\",\"" + key + "\"],\"additionalProperties\":false}";
  }
  schema += "]}";
  if (first) return Error{ErrorCode::invalid_argument, "tool_choice: no tool to call"};
  if (tagged) return JsonGrammar::from_schema_text(schema, "tools", std::string(kOpen) + "\n", "\n" + std::string(kClose));
  return JsonGrammar::from_schema_text(schema, "tools");
}

void parse_tool_calls(ChatStyle style, std::string& text, std::vector<ToolCall>& calls) {
  if (style == ChatStyle::llama3) {
    std::string body = trimmed(text);
    constexpr std::string_view tag = "<|python_tag|>";
    if (body.rfind(tag, 0) == 0) body = trimmed(std::string_view(body).substr(tag.size()));
    if (body.empty() || body.front() != '{') return;
    if (auto c = read_call(body)) {
      calls.push_back(std::move(*c));
      text.clear();
    }
    return;
  }
  std::string rest;
  size_t at = 0;
  while (at < text.size()) {
    size_t open = text.find(kOpen, at);
    if (open == std::string::npos) break;
    size_t body = open + kOpen.size();
    size_t close = text.find(kClose, body);
    size_t end = close == std::string::npos ? text.size() : close;
    auto c = read_call(trimmed(std::string_view(text).substr(body, end - body)));
    if (!c) break;  // not a call: the rest stays content
    rest += text.substr(at, open - at);
    calls.push_back(std::move(*c));
    at = close == std::string::npos ? text.size() : close + kClose.size();
  }
  if (calls.empty()) return;
  rest += text.substr(at);
  text = trimmed(rest);
}

}  // namespace troupe::engine::local
