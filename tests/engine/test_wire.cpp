// The OpenAI/vLLM wire shapes: request bodies, replies, streams, errors.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include "engine/sse.hpp"
#include "engine/wire.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

GenerateRequest chat_request() {
  GenerateRequest r;
  r.id = "req-1";
  r.kind = PromptKind::chat;
  r.messages = {{"system", "You are a verifier."}, {"user", "Check: 2+2=4"}};
  r.sampling.max_tokens = 64;
  return r;
}

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& s) {
  simdjson::dom::element e;
  REQUIRE(p.parse(s).get(e) == simdjson::SUCCESS);
  return e;
}

bool has(simdjson::dom::element e, const char* key) {
  simdjson::dom::element v;
  return e[key].get(v) == simdjson::SUCCESS;
}

// All SSE events of `bytes` fed in the given pieces, through an accumulator.
struct StreamOutcome {
  GenerateResult result;
  std::vector<std::pair<int, std::string>> deltas;
  bool done = false;
  Status status;
};

StreamOutcome run_stream(const std::vector<std::string_view>& pieces, int n) {
  StreamOutcome out;
  SseParser parser;
  StreamAccumulator acc(n);
  std::vector<SseEvent> events;
  for (auto piece : pieces) {
    events.clear();
    parser.feed(piece, events);
    for (const auto& ev : events) {
      auto st = acc.add(ev.data, [&](int i, const std::string& t) { out.deltas.emplace_back(i, t); });
      if (!st.ok()) {
        out.status = st;
        return out;
      }
    }
  }
  out.done = acc.saw_done() && acc.all_finished();
  out.result = acc.result(FinishReason::error, "unfinished");
  return out;
}

const std::string kChatStream =
    "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"{\\\"ok\"},\"logprobs\":null,\"finish_reason\":null}]}\r\n\r\n"
    ": keep-alive comment\n\n"
    "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\":true} \xc3\xa9\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":\"</answer>\"}]}\n\n"
    "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":5,\"total_tokens\":36}}\n\n"
    "data: [DONE]\n\n";

}  // namespace

TEST_CASE("chat request body carries messages and max_tokens and leaves unset optionals out", "[wire]") {
  std::string body = wire::build_request_body(chat_request(), wire::Api::chat, "m", false);
  simdjson::dom::parser p;
  auto e = parse(p, body);
  CHECK(std::string_view(e["model"].get_string().value()) == "m");
  CHECK(e["messages"].get_array().size() == 2);
  CHECK(std::string_view(e["messages"].at(1)["content"].get_string().value()) == "Check: 2+2=4");
  CHECK(e["max_tokens"].get_int64().value() == 64);
  for (const char* key : {"n", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "logprobs", "top_logprobs",
                          "stream", "stream_options", "continue_final_message", "add_generation_prompt"}) {
    INFO(key);
    CHECK_FALSE(has(e, key));
  }
}

TEST_CASE("chat request body with every parameter set", "[wire]") {
  auto r = chat_request();
  r.messages.push_back({"assistant", "The answer is"});
  r.continue_final_message = true;
  r.sampling.n = 4;
  r.sampling.temperature = 0.7;
  r.sampling.top_p = 0.95;
  r.sampling.top_k = 20;
  r.sampling.min_p = 0.05;
  r.sampling.seed = 1234;
  r.sampling.stop = {"</answer>", "\n\n"};
  r.sampling.logprobs = 5;
  std::string body = wire::build_request_body(r, wire::Api::chat, "ignored", true);
  simdjson::dom::parser p;
  auto e = parse(p, body);
  CHECK(std::string_view(e["model"].get_string().value()) == "ignored");
  CHECK(e["continue_final_message"].get_bool().value());
  CHECK_FALSE(e["add_generation_prompt"].get_bool().value());
  CHECK(e["n"].get_int64().value() == 4);
  CHECK(e["temperature"].get_double().value() == Approx(0.7));
  CHECK(e["top_p"].get_double().value() == Approx(0.95));
  CHECK(e["top_k"].get_int64().value() == 20);
  CHECK(e["min_p"].get_double().value() == Approx(0.05));
  CHECK(e["seed"].get_int64().value() == 1234);
  CHECK(e["stop"].get_array().size() == 2);
  CHECK(e["logprobs"].get_bool().value());
  CHECK(e["top_logprobs"].get_int64().value() == 5);
  CHECK(e["stream"].get_bool().value());
  CHECK(e["stream_options"]["include_usage"].get_bool().value());

  r.model = "explicit";
  auto e2 = parse(p, wire::build_request_body(r, wire::Api::chat, "cfg", false));
  CHECK(std::string_view(e2["model"].get_string().value()) == "explicit");
}

TEST_CASE("completions request body sends the prompt and logprobs as an integer", "[wire]") {
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = "Q: 2+2?\nA:";
  r.sampling.logprobs = 1;
  simdjson::dom::parser p;
  auto e = parse(p, wire::build_request_body(r, wire::Api::completions, "m", false));
  CHECK(std::string_view(e["prompt"].get_string().value()) == "Q: 2+2?\nA:");
  CHECK(e["logprobs"].get_int64().value() == 1);
  CHECK_FALSE(has(e, "messages"));
  r.sampling.logprobs = -1;  // the chosen token only
  auto e2 = parse(p, wire::build_request_body(r, wire::Api::completions, "m", false));
  CHECK(e2["logprobs"].get_int64().value() == 0);
}

TEST_CASE("chat reply parses text, logprobs, stop_reason and cached tokens", "[wire]") {
  std::string body = R"({"id":"chatcmpl-abc","object":"chat.completion","created":1733000000,"model":"m",
 "choices":[{"index":1,"message":{"role":"assistant","content":"second"},"logprobs":null,"finish_reason":"length"},
  {"index":0,"message":{"role":"assistant","content":"{\"ok\":true}","tool_calls":[]},
   "logprobs":{"content":[{"token":"{\"","logprob":-0.02,"bytes":[123,34],
     "top_logprobs":[{"token":"{\"","logprob":-0.02,"bytes":[123,34]},{"token":"x","logprob":-4.5}]}]},
   "finish_reason":"stop","stop_reason":"</answer>"}],
 "usage":{"prompt_tokens":31,"completion_tokens":5,"total_tokens":36,"prompt_tokens_details":{"cached_tokens":16}}})";
  auto r = wire::parse_response_body(body);
  REQUIRE(r.ok());
  REQUIRE(r->choices.size() == 2);
  CHECK(r->model == "m");
  CHECK(r->choices[0].index == 0);
  CHECK(r->choices[0].text == "{\"ok\":true}");
  CHECK(r->choices[0].finish == FinishReason::stop);
  CHECK(r->choices[0].stop_string == "</answer>");
  REQUIRE(r->choices[0].logprobs.size() == 1);
  CHECK(r->choices[0].logprobs[0].token == "{\"");
  CHECK(r->choices[0].logprobs[0].logprob == Approx(-0.02));
  REQUIRE(r->choices[0].logprobs[0].top.size() == 2);
  CHECK(r->choices[0].logprobs[0].top[1].token == "x");
  CHECK(r->choices[1].text == "second");
  CHECK(r->choices[1].finish == FinishReason::length);
  CHECK(r->usage.prompt_tokens == 31);
  CHECK(r->usage.completion_tokens == 5);
  CHECK(r->usage.cached_prompt_tokens == 16);
}

TEST_CASE("completion reply parses legacy logprobs", "[wire]") {
  std::string body = R"({"id":"cmpl-abc","object":"text_completion","created":1733000000,"model":"m",
 "choices":[{"index":0,"text":" 4","logprobs":{"tokens":[" 4","\n"],"token_logprobs":[-0.01,-1.5],
   "top_logprobs":[{" 4":-0.01},{"\n":-1.5," ":-2.0}],"text_offset":[0,2]},"finish_reason":"stop","stop_reason":null}],
 "usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}})";
  auto r = wire::parse_response_body(body);
  REQUIRE(r.ok());
  REQUIRE(r->choices.size() == 1);
  CHECK(r->choices[0].text == " 4");
  CHECK(r->choices[0].stop_string.empty());
  REQUIRE(r->choices[0].logprobs.size() == 2);
  CHECK(r->choices[0].logprobs[1].token == "\n");
  CHECK(r->choices[0].logprobs[1].logprob == Approx(-1.5));
  CHECK(r->choices[0].logprobs[1].top.size() == 2);
  CHECK(r->usage.cached_prompt_tokens == 0);
}

TEST_CASE("unknown finish reasons read as stop with a note", "[wire]") {
  auto r = wire::parse_response_body(
      R"({"choices":[{"index":0,"message":{"content":"x"},"finish_reason":"tool_calls"}]})");
  REQUIRE(r.ok());
  CHECK(r->choices[0].finish == FinishReason::stop);
  CHECK(r->choices[0].error.find("tool_calls") != std::string::npos);
}

TEST_CASE("SSE stream split at every byte boundary gives the same result", "[wire][sse]") {
  auto whole = run_stream({kChatStream}, 1);
  REQUIRE(whole.status.ok());
  REQUIRE(whole.done);
  CHECK(whole.result.choices[0].text == "{\"ok\":true} \xc3\xa9");
  CHECK(whole.result.choices[0].stop_string == "</answer>");
  CHECK(whole.result.usage.prompt_tokens == 31);
  CHECK(whole.result.model == "m");
  for (size_t cut = 1; cut < kChatStream.size(); ++cut) {
    std::string_view s(kChatStream);
    auto split = run_stream({s.substr(0, cut), s.substr(cut)}, 1);
    INFO("cut at " << cut);
    REQUIRE(split.status.ok());
    REQUIRE(split.done);
    REQUIRE(split.result.choices[0].text == whole.result.choices[0].text);
    REQUIRE(split.deltas == whole.deltas);
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < kChatStream.size(); ++i) bytes.push_back(std::string_view(kChatStream).substr(i, 1));
  auto one_by_one = run_stream(bytes, 1);
  CHECK(one_by_one.done);
  CHECK(one_by_one.deltas == whole.deltas);
}

TEST_CASE("SSE parser joins multi-line data, ignores comments and handles bare CR", "[wire][sse]") {
  SseParser p;
  std::vector<SseEvent> ev;
  p.feed(":comment\rdata: a\rdata:b\r\revent: error\ndata: x\n\nid: 3\n\n", ev);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].data == "a\nb");
  CHECK(ev[1].event == "error");
  CHECK(ev[1].data == "x");
  CHECK_FALSE(p.has_partial());
  p.feed("data: half", ev);
  CHECK(p.has_partial());
}

TEST_CASE("n=3 interleaved completion stream is demultiplexed by index", "[wire][sse]") {
  auto c = [](int i, const std::string& text, const char* finish) {
    return "data: {\"object\":\"text_completion\",\"choices\":[{\"index\":" + std::to_string(i) + ",\"text\":\"" +
           text + "\",\"logprobs\":null,\"finish_reason\":" + finish + "}]}\n\n";
  };
  std::string s = c(2, "c1", "null") + c(0, "a1", "null") + c(1, "b1", "null") + c(0, "a2", "\"length\"") +
                  c(2, "c2", "null") + c(1, "b2", "\"stop\"") + c(2, "", "\"stop\"") + "data: [DONE]\n\n";
  auto out = run_stream({s}, 3);
  REQUIRE(out.status.ok());
  REQUIRE(out.done);
  REQUIRE(out.result.choices.size() == 3);
  CHECK(out.result.choices[0].text == "a1a2");
  CHECK(out.result.choices[0].finish == FinishReason::length);
  CHECK(out.result.choices[1].text == "b1b2");
  CHECK(out.result.choices[2].text == "c1c2");
  CHECK(out.result.choices[2].finish == FinishReason::stop);
  CHECK(out.deltas.front() == std::make_pair(2, std::string("c1")));
}

TEST_CASE("a stream without finish for some index reports it unfinished", "[wire][sse]") {
  std::string s = "data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":\"stop\"}]}\n\n"
                  "data: {\"choices\":[{\"index\":1,\"text\":\"b\",\"finish_reason\":null}]}\n\n";
  SseParser p;
  StreamAccumulator acc(2);
  std::vector<SseEvent> ev;
  p.feed(s, ev);
  for (auto& e : ev) REQUIRE(acc.add(e.data, nullptr).ok());
  CHECK_FALSE(acc.all_finished());
  CHECK(acc.unfinished() == std::vector<int>{1});
  auto r = acc.result(FinishReason::error, "cut");
  CHECK(r.choices[0].finish == FinishReason::stop);
  CHECK(r.choices[1].finish == FinishReason::error);
  CHECK(r.choices[1].text == "b");
}

TEST_CASE("an error payload mid-stream becomes an Error", "[wire][sse]") {
  StreamAccumulator acc(1);
  REQUIRE(acc.add(R"({"choices":[{"index":0,"delta":{"content":"x"}}]})", nullptr).ok());
  auto st = acc.add(R"({"error":{"message":"engine died","type":"server_error","code":500}})", nullptr);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::http);
  CHECK(st.error().message.find("engine died") != std::string::npos);
  CHECK(st.error().http_status == 500);
}

TEST_CASE("stream chunks with bad JSON or an index out of range are errors", "[wire][sse]") {
  StreamAccumulator acc(2);
  CHECK(acc.add("{not json", nullptr).error().code == ErrorCode::parse);
  StreamAccumulator acc2(2);
  auto st = acc2.add(R"({"choices":[{"index":5,"text":"x"}]})", nullptr);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("index") != std::string::npos);
}

TEST_CASE("all three error shapes give the server's message and the status", "[wire][errors]") {
  struct Case {
    int status;
    const char* body;
    const char* message;
  };
  const Case cases[] = {
      {400, R"({"error":{"message":"messages is required","type":"invalid_request_error","param":"messages","code":null}})",
       "messages is required"},
      {400, R"({"object":"error","message":"max_tokens too large","type":"BadRequestError","param":null,"code":400})",
       "max_tokens too large"},
      {500, R"({"error":{"code":500,"message":"Only one completion choice is allowed","type":"server_error"}})",
       "Only one completion choice is allowed"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    Error e = wire::parse_error_body(c.status, c.body);
    CHECK(e.code == ErrorCode::http);
    CHECK(e.http_status == c.status);
    CHECK(e.message == c.message);
    CHECK(e.retryable == (c.status >= 500));
  }
  CHECK(wire::parse_error_body(429, R"({"error":{"message":"slow"}})").retryable);
}

TEST_CASE("a non-JSON error body keeps the status and a bounded excerpt", "[wire][errors]") {
  std::string html = "<html><body>502 Bad Gateway</body></html>" + std::string(5000, 'x');
  Error e = wire::parse_error_body(502, html);
  CHECK(e.code == ErrorCode::http);
  CHECK(e.http_status == 502);
  CHECK(e.message.find("502 Bad Gateway") != std::string::npos);
  CHECK(e.message.size() < 500);
  CHECK(wire::parse_error_body(503, "").message == "empty body");
}

TEST_CASE("garbage reply bodies are parse errors, never crashes", "[wire][errors]") {
  const std::string garbage[] = {"", "null", "[]", "{", "{\"choices\":3}", "{\"choices\":[{\"index\":\"x\"}]}",
                                 "{\"choices\":[{\"index\":0}]}", "{\"choices\":[{\"message\":{\"content\":5}}]}",
                                 std::string("\xff\xfe\x00garbage", 10), "{\"choices\":[],\"usage\":{\"prompt_tokens\":\"x\"}}",
                                 "{\"choices\":[{\"index\":3,\"text\":\"\"}]}"};
  for (const auto& g : garbage) {
    INFO(g);
    auto r = wire::parse_response_body(g);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::parse);
  }
  // A 200 body holding an error payload is that error.
  auto r = wire::parse_response_body(R"({"object":"error","message":"boom","code":500})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::http);
}

TEST_CASE("server parses an incoming chat request", "[wire][server]") {
  auto in = wire::parse_request_body(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]},
          {"role":"assistant","content":"Hel"}],"continue_final_message":true,"add_generation_prompt":false,
          "max_completion_tokens":32,"n":2,"temperature":0.5,"top_k":-1,"seed":9,"stop":"</a>",
          "logprobs":true,"top_logprobs":3,"stream":true,"stream_options":{"include_usage":true}})",
      wire::Api::chat);
  REQUIRE(in.ok());
  const auto& r = in->request;
  CHECK(r.model == "m");
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].content == "hi there");
  CHECK(r.continue_final_message);
  CHECK(r.sampling.max_tokens == 32);
  CHECK(r.sampling.n == 2);
  CHECK(*r.sampling.temperature == 0.5);
  CHECK(r.sampling.top_k == 0);
  CHECK(*r.sampling.seed == 9);
  CHECK(r.sampling.stop == std::vector<std::string>{"</a>"});
  CHECK(r.sampling.logprobs == 3);
  CHECK(in->stream);
  CHECK(in->include_usage);
}

TEST_CASE("server request errors name the field", "[wire][server]") {
  struct Case {
    const char* body;
    const char* starts;
  };
  const Case cases[] = {
      {R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":3,"content":"c"}]})",
       "messages[2].role: expected string"},
      {R"({"messages":[]})", "messages: must not be empty"},
      {R"({"model":"m"})", "messages: missing"},
      {R"({"messages":[{"role":"user","content":"a"}],"n":0})", "n: must be between"},
      {R"({"messages":[{"role":"user","content":"a"}],"temperature":"hot"})", "temperature: expected number"},
      {R"({"messages":[{"role":"user","content":"a"}],"stop":[1]})", "stop[0]: expected string"},
      {"{oops", "request body: invalid JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    auto r = wire::parse_request_body(c.body, wire::Api::chat);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.rfind(c.starts, 0) == 0);
  }
  auto r = wire::parse_request_body(R"({"messages":[{"role":7}]})", wire::Api::chat);
  CHECK(wire::error_param(r.error()) == "messages[0].role");
  auto c = wire::parse_request_body(R"({"prompt":42})", wire::Api::completions);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.rfind("prompt: expected string", 0) == 0);
}

TEST_CASE("server replies round-trip through the client parsers", "[wire][server]") {
  GenerateResult res;
  Choice a;
  a.index = 0;
  a.text = "forty-two";
  a.finish = FinishReason::length;
  a.logprobs = {{"forty", -0.5, {{"forty", -0.5}, {"four", -1.0}}}};
  Choice b;
  b.index = 1;
  b.text = "42";
  b.stop_string = "\n";
  res.choices = {a, b};
  res.usage = {10, 4, 7};
  for (auto api : {wire::Api::chat, wire::Api::completions}) {
    INFO(wire::to_string(api));
    auto back = wire::parse_response_body(wire::write_response_body(res, api, {"id-1", "m", 1}));
    REQUIRE(back.ok());
    REQUIRE(back->choices.size() == 2);
    CHECK(back->choices[0].text == "forty-two");
    CHECK(back->choices[0].finish == FinishReason::length);
    REQUIRE(back->choices[0].logprobs.size() == 1);
    CHECK(back->choices[0].logprobs[0].top.size() == 2);
    CHECK(back->choices[1].stop_string == "\n");
    CHECK(back->usage.cached_prompt_tokens == 4);
    CHECK(back->model == "m");

    StreamAccumulator acc(2);
    wire::ReplyMeta meta{"id-1", "m", 1};
    std::string role = wire::write_stream_chunk(api, meta, {1, "4", true, std::nullopt, "", nullptr});
    std::string piece = wire::write_stream_chunk(api, meta, {1, "2", false, FinishReason::stop, "\n", nullptr});
    std::string fin = wire::write_stream_chunk(api, meta, {0, "x", false, FinishReason::length, "", nullptr});
    for (const auto& s : {role, piece, fin, wire::write_usage_chunk(api, meta, res.usage)}) {
      REQUIRE(acc.add(s, nullptr).ok());
    }
    REQUIRE(acc.all_finished());
    auto r = acc.result(FinishReason::error, "");
    CHECK(r.choices[1].text == "42");
    CHECK(r.choices[1].stop_string == "\n");
    CHECK(r.usage.prompt_tokens == 10);
  }
  Error e = wire::parse_error_body(400, wire::write_error_body("bad n", "invalid_request_error", "n", "invalid_request"));
  CHECK(e.message == "bad n");
}

TEST_CASE("server ignores unknown keys and no-op values, refuses values it cannot honour, naming them",
          "[wire][server]") {
  // Unknown keys (a typo included) and keys that change nothing are ignored.
  auto in = wire::parse_request_body(
      R"({"messages":[{"role":"user","content":"hi"}],"temprature":0.5,"user":"u","metadata":{"a":"b"},"store":true,
          "parallel_tool_calls":true,"tools":null,"tool_choice":"none","response_format":{"type":"text"},
          "stream_options":null,"max_tokens":null,"temperature":null,"seed":null,"stop":null,"logprobs":null,
          "functions":[],"logit_bias":{}})",
      wire::Api::chat);
  REQUIRE(in.ok());
  CHECK_FALSE(in->request.sampling.temperature.has_value());
  CHECK_FALSE(in->request.sampling.seed.has_value());
  CHECK_FALSE(in->max_tokens_set);
  CHECK(in->request.sampling.logprobs == 0);
  CHECK(wire::parse_request_body(R"({"messages":[{"role":"user","content":"x"}],"tools":[],"tool_choice":"auto"})",
                                 wire::Api::chat)
            .ok());
  // tools and response_format are honoured on chat (engine/wire_structured.hpp).
  auto structured = wire::parse_request_body(
      R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],
          "response_format":{"type":"json_object"},"tool_choice":"none"})",
      wire::Api::chat);
  REQUIRE(structured.ok());
  CHECK(structured->request.tools.size() == 1);
  CHECK(structured->request.response_grammar);
  // A value that asks for something troupe cannot do is a 400 naming it.
  struct Case {
    const char* extra;
    const char* param;
    wire::Api api;
  };
  const Case cases[] = {
      {R"("tool_choice":"required")", "tool_choice", wire::Api::chat},  // with no tools
      {R"("logit_bias":{"50256":-100})", "logit_bias", wire::Api::chat},
      {R"("functions":[{"name":"f"}])", "functions", wire::Api::chat},
      {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools", wire::Api::completions},
      {R"("tool_choice":"required")", "tool_choice", wire::Api::completions},
  };
  for (const auto& c : cases) {
    std::string body = std::string(c.api == wire::Api::chat ? R"({"messages":[{"role":"user","content":"x"}],)"
                                                             : R"({"prompt":"x",)") +
                       c.extra + "}";
    INFO(body);
    auto r = wire::parse_request_body(body, c.api);
    REQUIRE_FALSE(r.ok());
    CHECK(wire::error_param(r.error()) == c.param);
  }
  CHECK(wire::parse_request_body(R"({"prompt":"x","tools":[],"tool_choice":"auto"})", wire::Api::completions).ok());
  auto echo = wire::parse_request_body(R"({"prompt":"x","echo":true})", wire::Api::completions);
  REQUIRE_FALSE(echo.ok());
  CHECK(wire::error_param(echo.error()) == "echo");
  CHECK(wire::parse_request_body(R"({"prompt":"x","echo":false,"best_of":1,"suffix":null})", wire::Api::completions)
            .ok());
}

TEST_CASE("server reads max_tokens or max_completion_tokens and says whether either was given", "[wire][server]") {
  auto none = wire::parse_request_body(R"({"prompt":"x"})", wire::Api::completions);
  REQUIRE(none.ok());
  CHECK_FALSE(none->max_tokens_set);
  auto mct = wire::parse_request_body(R"({"messages":[{"role":"user","content":"x"}],"max_completion_tokens":7})",
                                      wire::Api::chat);
  REQUIRE(mct.ok());
  CHECK(mct->max_tokens_set);
  CHECK(mct->request.sampling.max_tokens == 7);
}

TEST_CASE("server reads a completions prompt list, bounded, text only", "[wire][server]") {
  auto in = wire::parse_request_body(R"({"prompt":["a","b","c"],"n":2})", wire::Api::completions);
  REQUIRE(in.ok());
  CHECK(in->prompts == std::vector<std::string>{"a", "b", "c"});
  CHECK(in->request.prompt == "a");
  auto one = wire::parse_request_body(R"({"prompt":"solo"})", wire::Api::completions);
  REQUIRE(one.ok());
  CHECK(one->prompts == std::vector<std::string>{"solo"});
  auto ids = wire::parse_request_body(R"({"prompt":[1,2,3]})", wire::Api::completions);
  REQUIRE_FALSE(ids.ok());
  CHECK(ids.error().message.rfind("prompt[0]: token-id prompts are not supported", 0) == 0);
  CHECK_FALSE(wire::parse_request_body(R"({"prompt":[]})", wire::Api::completions).ok());
  std::string many = R"({"prompt":[)";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + "\"p\"";
  many += "]}";
  auto too_many = wire::parse_request_body(many, wire::Api::completions);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error().message.rfind("prompt: at most 64 prompts", 0) == 0);
  auto product = wire::parse_request_body(R"({"prompt":["a","b"],"n":600})", wire::Api::completions);
  REQUIRE_FALSE(product.ok());
  CHECK(wire::error_param(product.error()) == "n");
}

TEST_CASE("server replies carry system_fingerprint, error bodies a string code, chunk logprobs their offsets",
          "[wire][server]") {
  GenerateResult res;
  Choice a;
  a.text = "ab";
  res.choices = {a};
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(wire::write_response_body(res, wire::Api::chat, {"id", "m", 1})).get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["system_fingerprint"].get_string().value()).rfind("troupe-", 0) == 0);
  REQUIRE(p.parse(wire::write_error_body("no", "invalid_request_error", "n", wire::error_code_for_status(400)))
              .get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["error"]["code"].get_string().value()) == "invalid_request");
  // troupe's client reads the status back from troupe's string code.
  auto back = wire::error_in_payload(wire::write_error_body("gone", "invalid_request_error", "", "not_found"), 500);
  REQUIRE(back);
  CHECK(back->http_status == 404);
  REQUIRE(p.parse(wire::write_error_body("boom", "server_error", "", "")).get(doc) == simdjson::SUCCESS);
  CHECK(doc["error"]["code"].is_null());
  std::vector<TokenLogprob> lps = {{"c", -0.1, {}}, {"de", -0.2, {}}};
  wire::StreamPiece piece;
  piece.text = "cde";
  piece.logprobs = &lps;
  piece.text_offset = 5;
  REQUIRE(p.parse(wire::write_stream_chunk(wire::Api::completions, {"id", "m", 1}, piece)).get(doc) ==
          simdjson::SUCCESS);
  auto offsets = doc["choices"].at(0)["logprobs"]["text_offset"].get_array().value();
  REQUIRE(offsets.size() == 2);
  CHECK(offsets.at(0).get_int64().value() == 5);
  CHECK(offsets.at(1).get_int64().value() == 6);
  CHECK(doc["system_fingerprint"].is_string());
}

TEST_CASE("server refuses the other endpoint's prompt field and reads the penalties", "[wire][server]") {
  auto wrong_api = wire::parse_request_body(R"({"prompt":"x","messages":[]})", wire::Api::completions);
  REQUIRE_FALSE(wrong_api.ok());
  CHECK(wrong_api.error().message.find("messages") != std::string::npos);
  auto penalties = wire::parse_request_body(
      R"({"prompt":"x","repetition_penalty":1.2,"frequency_penalty":0.5,"presence_penalty":-0.5})", wire::Api::completions);
  REQUIRE(penalties.ok());
  CHECK(penalties->request.sampling.repetition_penalty == 1.2);
  CHECK(penalties->request.sampling.frequency_penalty == 0.5);
  CHECK(penalties->request.sampling.presence_penalty == -0.5);
}
