// Constrained decoding and tool calls on the local engine: the token mask
// against a real tokenizer, and a random-weight model that must still only
// ever write documents matching the schema, and well-formed forced calls.
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>

#include <simdjson.h>

#include "engine/json_grammar.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/local/model_random.hpp"
#include "engine/local/token_constraint.hpp"
#include "engine/local/tokenizer.hpp"
#include "engine/local/tool_calls.hpp"
#include "support/temp_dir.hpp"
#include "support/backend_call.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;

namespace {

std::shared_ptr<const JsonGrammar> grammar(const std::string& text) {
  auto g = JsonGrammar::from_schema_text(text, "schema");
  INFO((g.ok() ? "" : g.error().message));
  REQUIRE(g.ok());
  return *g;
}

Result<GenerateResult> run(Backend& b, GenerateRequest r) { return testing::generate_now(b, std::move(r)); }

struct TinyModel {
  testing::TempDir dir;
  std::unique_ptr<Scheduler> backend;
  explicit TinyModel(float stddev = 0.3f) {
    RandomModelOptions m;
    m.arch = Arch::qwen2;
    m.dim = 32;
    m.n_layers = 1;
    m.n_heads = 2;
    m.n_kv_heads = 1;
    m.ffn_dim = 64;
    m.vocab_size = 300;
    m.seed = 5;
    m.stddev = stddev;  // peaked logits: the model has strong, wrong opinions
    REQUIRE(write_random_model(m, dir.file("m.gguf")).ok());
    LocalEngineOptions o;
    o.model_path = dir.file("m.gguf");
    o.threads = 1;
    auto b = make_local_backend(o);
    REQUIRE(b.ok());
    backend = std::move(b.value());
  }
};

GenerateRequest chat(const std::string& user, int max_tokens, int64_t seed) {
  GenerateRequest r;
  r.kind = PromptKind::chat;
  r.messages.push_back({"user", user});
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = 1.0;
  r.sampling.seed = seed;
  return r;
}

const char* kBoundedSchema = R"({"type":"object","properties":{
    "name":{"type":"string","maxLength":4},
    "age":{"type":"integer"},
    "pet":{"enum":["cat","dog",null]},
    "ok":{"type":"boolean"}},
  "required":["name","age","pet","ok"],"additionalProperties":false})";

void check_bounded_document(const std::string& text) {
  INFO(text);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(text).get(doc) == simdjson::SUCCESS);
  simdjson::dom::object o;
  REQUIRE(doc.get_object().get(o) == simdjson::SUCCESS);
  std::string_view name;
  REQUIRE(o["name"].get_string().get(name) == simdjson::SUCCESS);
  int64_t age;
  REQUIRE(o["age"].get_int64().get(age) == simdjson::SUCCESS);
  bool ok;
  REQUIRE(o["ok"].get_bool().get(ok) == simdjson::SUCCESS);
  simdjson::dom::element pet;
  REQUIRE(o["pet"].get(pet) == simdjson::SUCCESS);
  std::string_view ps;
  CHECK((pet.is_null() || (pet.get_string().get(ps) == simdjson::SUCCESS && (ps == "cat" || ps == "dog"))));
  CHECK(o.size() == 4);
}

}  // namespace

TEST_CASE("the token mask allows exactly the tokens whose bytes continue the document, on a real tokenizer",
          "[structured]") {
  const std::string tok_path = std::string(TROUPE_SHARED_DIR) + "/models/stories260K/tok512.bin";
  if (!std::filesystem::exists(tok_path)) {
    WARN("skipped: " << tok_path << " is absent (the shared models folder)");
    return;
  }
  auto tok = Tokenizer::from_llama2c(tok_path, 512);
  REQUIRE(tok.ok());
  std::vector<std::string> pieces;
  std::vector<int32_t> eos;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    if (tok->is_end_of_generation(id)) eos.push_back(id);
    pieces.push_back(tok->is_end_of_generation(id) ? std::string() : tok->token_to_piece(id));
  }
  VocabTrie trie(pieces, eos);
  auto g = grammar(kBoundedSchema);
  for (std::string prefix : {"", "{", "{\"", "{\"na", "{\"name\":\"ab", "{\"name\":\"abcd", "{\"name\":\"a\",\"age\":1",
                             "{\"name\":\"a\",\"age\":1,\"pet\":\"c", "{\"name\":\"\",\"age\":0,\"pet\":null,\"ok\":true"}) {
    JsonMatcher m(g);
    REQUIRE(m.feed(prefix));
    std::vector<uint8_t> allowed;
    trie.allowed(m, allowed);
    int n_allowed = 0;
    for (int32_t id = 0; id < tok->vocab_size(); ++id) {
      JsonMatcher probe = m;
      bool expect = !pieces[static_cast<size_t>(id)].empty() && probe.feed(pieces[static_cast<size_t>(id)]);
      if (std::find(eos.begin(), eos.end(), id) != eos.end()) expect = m.can_end();
      INFO("prefix " << prefix << " token " << id << " '" << pieces[static_cast<size_t>(id)] << "'");
      CHECK(static_cast<bool>(allowed[static_cast<size_t>(id)]) == expect);
      n_allowed += allowed[static_cast<size_t>(id)];
    }
    CHECK(n_allowed > 0);
  }
}

TEST_CASE("a random-weight model under a schema writes only matching documents, for many seeds", "[structured][property]") {
  TinyModel tiny;
  auto g = grammar(kBoundedSchema);
  int stopped = 0;
  for (int64_t seed = 1; seed <= 40; ++seed) {
    auto r = chat("describe someone", 400, seed);
    r.response_grammar = g;
    auto res = run(*tiny.backend, r);
    REQUIRE(res.ok());
    const auto& c = res->choices[0];
    INFO("seed " << seed << ": " << c.text);
    // Every value is bounded (and whitespace runs too), so 400 tokens always suffice: no "length".
    REQUIRE(c.finish == FinishReason::stop);
    check_bounded_document(c.text);
    ++stopped;
  }
  CHECK(stopped == 40);
}

TEST_CASE("json_object on a random model: complete documents parse, a short budget ends with length and a valid prefix",
          "[structured][property]") {
  TinyModel tiny;
  simdjson::dom::parser p;
  int complete = 0, cut = 0;
  for (int64_t seed = 1; seed <= 30; ++seed) {
    for (int max_tokens : {6, 120}) {
      auto r = chat("json please", max_tokens, seed);
      r.response_grammar = JsonGrammar::any_object();
      auto res = run(*tiny.backend, r);
      REQUIRE(res.ok());
      const auto& c = res->choices[0];
      INFO("seed " << seed << " max_tokens " << max_tokens << ": " << c.text);
      JsonMatcher m(JsonGrammar::any_object());
      REQUIRE(m.feed(c.text));  // always a live prefix
      if (c.finish == FinishReason::stop) {
        simdjson::dom::element e;
        REQUIRE(p.parse(c.text).get(e) == simdjson::SUCCESS);
        CHECK(e.is_object());
        ++complete;
      } else {
        CHECK(c.finish == FinishReason::length);
        CHECK(static_cast<int>(c.token_ids.size()) == max_tokens);
        ++cut;
      }
    }
  }
  CHECK(cut > 0);
  CHECK(complete > 0);
}

TEST_CASE("tool_choice required makes a random model call a listed tool with arguments matching its schema",
          "[structured][tools]") {
  TinyModel tiny;
  for (int64_t seed = 1; seed <= 20; ++seed) {
    auto r = chat("what is the weather in Paris?", 400, seed);
    r.tools.push_back({"get_weather", "Weather now",
                       R"({"type":"object","properties":{"city":{"type":"string","maxLength":8},)"
                       R"("unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false})"});
    r.tools.push_back({"get_time", "", R"({"type":"object","properties":{"tz":{"type":"integer"}},"required":["tz"]})"});
    r.tool_choice = seed % 2 ? ToolChoice::required : ToolChoice::named;
    r.tool_choice_name = "get_time";
    auto res = run(*tiny.backend, r);
    REQUIRE(res.ok());
    const auto& c = res->choices[0];
    INFO("seed " << seed << ": text '" << c.text << "'");
    REQUIRE(c.finish == FinishReason::stop);
    REQUIRE(c.tool_calls.size() == 1);
    CHECK(c.text.empty());
    const ToolCall& call = c.tool_calls[0];
    CHECK(call.id.rfind("call_", 0) == 0);
    simdjson::dom::parser p;
    simdjson::dom::element args;
    REQUIRE(p.parse(call.arguments).get(args) == simdjson::SUCCESS);
    if (r.tool_choice == ToolChoice::named) CHECK(call.name == "get_time");
    if (call.name == "get_weather") {
      std::string_view unit;
      REQUIRE(args["unit"].get_string().get(unit) == simdjson::SUCCESS);
      CHECK((unit == "c" || unit == "f"));
      CHECK(args["city"].is_string());
    } else {
      REQUIRE(call.name == "get_time");
      CHECK(args["tz"].is_int64());
    }
  }
}

TEST_CASE("tool calls are parsed out of model text per chat format", "[structured][tools]") {
  std::vector<ToolCall> calls;
  std::string text = "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>\n"
                     "<tool_call>\n{\"name\": \"g\", \"arguments\": \"{\\\"b\\\":[true]}\"}\n</tool_call>";
  parse_tool_calls(ChatStyle::chatml, text, calls);
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].name == "f");
  CHECK(calls[0].arguments == "{\"a\":1}");
  CHECK(calls[1].name == "g");
  CHECK(calls[1].arguments == "{\"b\":[true]}");
  CHECK(calls[0].id != calls[1].id);
  CHECK(text == "Let me check.");

  // Not a call: the text stays content.
  calls.clear();
  std::string broken = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }\n</tool_call>";
  std::string keep = broken;
  parse_tool_calls(ChatStyle::chatml, broken, calls);
  CHECK(calls.empty());
  CHECK(broken == keep);

  // An unclosed block at the end (EOS before </tool_call>) still counts.
  std::string open = "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}";
  parse_tool_calls(ChatStyle::chatml, open, calls);
  REQUIRE(calls.size() == 1);
  CHECK(open.empty());

  calls.clear();
  std::string l3 = "<|python_tag|>{\"name\": \"lookup\", \"parameters\": {\"q\": \"x\"}}";
  parse_tool_calls(ChatStyle::llama3, l3, calls);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].name == "lookup");
  CHECK(calls[0].arguments == "{\"q\":\"x\"}");
  std::string prose = "The answer is {not json}";
  calls.clear();
  parse_tool_calls(ChatStyle::llama3, prose, calls);
  CHECK(calls.empty());
  CHECK(prose == "The answer is {not json}");
}

TEST_CASE("tools, assistant tool calls and tool results are rendered into the prompt per format", "[structured][tools]") {
  GenerateRequest r;
  r.kind = PromptKind::chat;
  r.messages.push_back({"system", "Be brief."});
  r.messages.push_back({"user", "Weather in Paris?"});
  engine::ChatMessage call{"assistant", ""};
  call.tool_calls.push_back({"call_1", "get_weather", "{\"city\":\"Paris\"}"});
  r.messages.push_back(call);
  engine::ChatMessage result{"tool", "{\"temp\":21}"};
  result.tool_call_id = "call_1";
  r.messages.push_back(result);
  r.tools.push_back({"get_weather", "Weather now", R"({"type":"object","properties":{"city":{"type":"string"}}})"});

  auto chatml = ChatTemplate::named("chatml");
  REQUIRE(chatml.ok());
  auto msgs = messages_with_tools(ChatStyle::chatml, r);
  REQUIRE(msgs.ok());
  auto text = chatml->render(*msgs);
  REQUIRE(text.ok());
  CHECK(text->rfind("<|im_start|>system\nBe brief.\n\n# Tools\n", 0) == 0);
  CHECK(text->find("<tools>\n{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather "
                   "now\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}\n</tools>") !=
        std::string::npos);
  CHECK(text->find("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n"
                   "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\":21}\n</tool_response><|im_end|>\n"
                   "<|im_start|>assistant\n") != std::string::npos);

  auto llama3 = ChatTemplate::named("llama3");
  REQUIRE(llama3.ok());
  auto m3 = messages_with_tools(ChatStyle::llama3, r);
  REQUIRE(m3.ok());
  auto t3 = llama3->render(*m3);
  REQUIRE(t3.ok());
  CHECK(t3->find("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>") != std::string::npos);
  CHECK(t3->find("\"name\":\"get_weather\"") != std::string::npos);
  CHECK(t3->find("Weather in Paris?<|eot_id|>") != std::string::npos);
  CHECK(t3->find("<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": "
                 "{\"city\":\"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n{\"temp\":21}<|eot_id|>") !=
        std::string::npos);
}

TEST_CASE("the forced-call grammar follows each format and the named tool's schema", "[structured][tools]") {
  GenerateRequest r;
  r.tools.push_back({"f", "", R"({"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]})"});
  r.tools.push_back({"g", "", ""});
  r.tool_choice = ToolChoice::required;
  auto tagged = forced_call_grammar(ChatStyle::chatml, r);
  REQUIRE(tagged.ok());
  JsonMatcher m(*tagged);
  CHECK((m.feed("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}\n</tool_call>") && m.finished()));
  CHECK_FALSE(JsonMatcher(*tagged).feed("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": \"3\""));
  JsonMatcher g(*tagged);
  CHECK((g.feed("<tool_call>\n{\"arguments\":{},\"name\":\"g\"}\n</tool_call>") && g.finished()));
  CHECK_FALSE(JsonMatcher(*tagged).feed("<tool_call>\n{\"name\": \"h\""));
  auto l3 = forced_call_grammar(ChatStyle::llama3, r);
  REQUIRE(l3.ok());
  JsonMatcher m3(*l3);
  CHECK((m3.feed("{\"name\": \"f\", \"parameters\": {\"x\": -1}}") && m3.finished()));
  CHECK_FALSE(JsonMatcher(*l3).feed("{\"name\": \"f\", \"arguments\""));
  r.tool_choice = ToolChoice::named;
  r.tool_choice_name = "g";
  auto named = forced_call_grammar(ChatStyle::chatml, r);
  REQUIRE(named.ok());
  CHECK_FALSE(JsonMatcher(*named).feed("<tool_call>\n{\"name\": \"f\""));
}

TEST_CASE("n choices under one schema each get their own constraint", "[structured]") {
  TinyModel tiny;
  auto r = chat("three people", 400, 77);
  r.sampling.n = 3;
  r.response_grammar = grammar(kBoundedSchema);
  auto res = run(*tiny.backend, r);
  REQUIRE(res.ok());
  REQUIRE(res->choices.size() == 3);
  for (const auto& c : res->choices) {
    CHECK(c.finish == FinishReason::stop);
    check_bounded_document(c.text);
  }
  CHECK((res->choices[0].text != res->choices[1].text || res->choices[1].text != res->choices[2].text));
}
