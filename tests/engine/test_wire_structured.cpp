// tools, tool_choice and response_format on the wire (engine/wire_structured.hpp)
// and tool calls in replies and stream chunks.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include "engine/json_grammar.hpp"
#include "engine/wire.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

const char* kTools = R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",
  "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}},
  {"type":"function","function":{"name":"noop"}}])";

std::string body(const std::string& extra) {
  return R"({"model":"m","messages":[{"role":"user","content":"hi"}],)" + extra + "}";
}

std::string error_of(const std::string& b) {
  auto r = wire::parse_request_body(b, wire::Api::chat);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  return r.error().message;
}

}  // namespace

TEST_CASE("tools and tool_choice are read with their schemas", "[wire][tools]") {
  auto r = wire::parse_request_body(body(std::string(kTools) + R"(,"tool_choice":"required","parallel_tool_calls":false)"),
                                    wire::Api::chat);
  REQUIRE(r.ok());
  const GenerateRequest& g = r->request;
  REQUIRE(g.tools.size() == 2);
  CHECK(g.tools[0].name == "get_weather");
  CHECK(g.tools[0].description == "Weather now");
  CHECK(g.tools[0].parameters == R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
  CHECK(g.tools[1].parameters.empty());
  CHECK(g.tool_choice == ToolChoice::required);

  auto named = wire::parse_request_body(
      body(std::string(kTools) + R"(,"tool_choice":{"type":"function","function":{"name":"noop"}})"), wire::Api::chat);
  REQUIRE(named.ok());
  CHECK(named->request.tool_choice == ToolChoice::named);
  CHECK(named->request.tool_choice_name == "noop");

  // null means "not given"; "none" and "auto" without tools are no-ops.
  for (std::string extra : {R"("tools":null,"tool_choice":null,"response_format":null)", R"("tool_choice":"none")",
                            R"("tool_choice":"auto")", R"("response_format":{"type":"text"})"}) {
    auto ok = wire::parse_request_body(body(extra), wire::Api::chat);
    INFO(extra);
    REQUIRE(ok.ok());
    CHECK(ok->request.tools.empty());
    CHECK_FALSE(ok->request.response_grammar);
  }
}

TEST_CASE("bad tools and tool choices are 400s naming the field", "[wire][tools]") {
  CHECK(error_of(body(R"("tool_choice":"required")")) == "tool_choice: a required or named tool_choice needs tools");
  CHECK(error_of(body(std::string(kTools) + R"(,"tool_choice":{"type":"function","function":{"name":"nope"}})")) ==
        "tool_choice.function.name: no tool named 'nope' in tools");
  CHECK(error_of(body(std::string(kTools) + R"(,"tool_choice":"sometimes")")).rfind("tool_choice: expected", 0) == 0);
  CHECK(error_of(body(R"("tools":[{"type":"retrieval"}])")) == "tools[0].type: only \"function\" tools are supported");
  CHECK(error_of(body(R"("tools":[{"type":"function","function":{"name":"a b"}}])"))
            .rfind("tools[0].function.name: ", 0) == 0);
  CHECK(error_of(body(R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":)"
                      R"({"x":{"type":"string","format":"email"}}}}}],"tool_choice":"required")"))
            .rfind("tools[0].function.parameters.properties.x.format: ", 0) == 0);
  // Under "auto" a schema outside the subset is fine: nothing is constrained.
  CHECK(wire::parse_request_body(body(R"("tools":[{"type":"function","function":{"name":"f","parameters":)"
                                      R"({"type":"object","properties":{"x":{"type":"string","format":"email"}}}}}])"),
                                 wire::Api::chat)
            .ok());
  auto e = wire::parse_request_body(
      body(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a"}}})"),
      wire::Api::chat);
  REQUIRE_FALSE(e.ok());
  CHECK(wire::error_param(e.error()) == "response_format.json_schema.schema.pattern");
  CHECK(error_of(body(R"("response_format":{"type":"yaml"})")).rfind("response_format.type: ", 0) == 0);
  CHECK(error_of(body(std::string(kTools) + R"(,"response_format":{"type":"json_object"})")).rfind("response_format: ", 0) == 0);
}

TEST_CASE("response_format compiles a grammar, on chat and completions", "[wire][structured]") {
  auto obj = wire::parse_request_body(body(R"("response_format":{"type":"json_object"})"), wire::Api::chat);
  REQUIRE(obj.ok());
  REQUIRE(obj->request.response_grammar);
  JsonMatcher m(obj->request.response_grammar);
  CHECK((m.feed(R"({"a":1})") && m.finished()));
  auto schema = wire::parse_request_body(
      R"({"prompt":"x","response_format":{"type":"json_schema","json_schema":{"name":"n","strict":true,)"
      R"("schema":{"type":"object","properties":{"b":{"type":"boolean"}},"required":["b"]}}}})",
      wire::Api::completions);
  REQUIRE(schema.ok());
  JsonMatcher s(schema->request.response_grammar);
  CHECK_FALSE(JsonMatcher(schema->request.response_grammar).feed(R"({"a")"));
  CHECK((s.feed(R"({"b":false})") && s.finished()));
}

TEST_CASE("assistant tool calls and tool results in the input are read", "[wire][tools]") {
  auto r = wire::parse_request_body(
      R"({"messages":[{"role":"user","content":"w?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1",)"
      R"("type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"21C"}]})",
      wire::Api::chat);
  REQUIRE(r.ok());
  const auto& m = r->request.messages;
  REQUIRE(m.size() == 3);
  REQUIRE(m[1].tool_calls.size() == 1);
  CHECK(m[1].content.empty());
  CHECK(m[1].tool_calls[0].id == "call_1");
  CHECK(m[1].tool_calls[0].name == "get_weather");
  CHECK(m[1].tool_calls[0].arguments == R"({"city":"Paris"})");
  CHECK(m[2].role == "tool");
  CHECK(m[2].tool_call_id == "call_1");
  CHECK(m[2].content == "21C");
  CHECK(error_of(R"({"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}]})") ==
        "messages[0].tool_calls[0].function.name: missing");
}

TEST_CASE("replies and stream chunks carry tool calls with finish_reason tool_calls", "[wire][tools]") {
  GenerateResult res;
  engine::Choice c;
  c.tool_calls.push_back({"call_abc", "get_weather", R"({"city":"Paris"})"});
  res.choices.push_back(c);
  wire::ReplyMeta meta{"chatcmpl-1", "m", 1};
  const std::string out = wire::write_response_body(res, wire::Api::chat, meta);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(out).get(doc) == simdjson::SUCCESS);
  auto choice = doc["choices"].at(0);
  CHECK(std::string_view(choice["finish_reason"]) == "tool_calls");
  CHECK(choice["message"]["content"].is_null());
  auto call = choice["message"]["tool_calls"].at(0);
  CHECK(std::string_view(call["id"]) == "call_abc");
  CHECK(std::string_view(call["type"]) == "function");
  CHECK(std::string_view(call["function"]["name"]) == "get_weather");
  CHECK(std::string_view(call["function"]["arguments"]) == R"({"city":"Paris"})");

  wire::StreamPiece piece;
  piece.tool_calls = &res.choices[0].tool_calls;
  const std::string chunk = wire::write_stream_chunk(wire::Api::chat, meta, piece);
  REQUIRE(p.parse(chunk).get(doc) == simdjson::SUCCESS);
  auto delta_call = doc["choices"].at(0)["delta"]["tool_calls"].at(0);
  CHECK(int64_t(delta_call["index"]) == 0);
  CHECK(std::string_view(delta_call["function"]["arguments"]) == R"({"city":"Paris"})");
  CHECK(doc["choices"].at(0)["finish_reason"].is_null());
  wire::StreamPiece fin;
  fin.finish = FinishReason::stop;
  fin.finish_tool_calls = true;
  REQUIRE(p.parse(wire::write_stream_chunk(wire::Api::chat, meta, fin)).get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["choices"].at(0)["finish_reason"]) == "tool_calls");
}
