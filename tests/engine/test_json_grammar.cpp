// The JSON grammar behind constrained decoding (engine/json_grammar.hpp):
// which texts the matcher accepts, which schemas compile, and random walks
// that may only ever produce documents matching the schema.
#include <catch2/catch.hpp>

#include <random>

#include <simdjson.h>

#include "engine/json_grammar.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

std::shared_ptr<const JsonGrammar> schema(const std::string& text) {
  auto g = JsonGrammar::from_schema_text(text, "schema");
  INFO(text);
  INFO((g.ok() ? "" : g.error().message));
  REQUIRE(g.ok());
  return *g;
}

// Whole documents: fed entirely and complete.
bool accepts(const std::shared_ptr<const JsonGrammar>& g, std::string_view text) {
  JsonMatcher m(g);
  return m.feed(text) && m.can_end();
}

// A valid prefix (the matcher still alive).
bool prefix_ok(const std::shared_ptr<const JsonGrammar>& g, std::string_view text) {
  JsonMatcher m(g);
  return m.feed(text);
}

std::string schema_error(const std::string& text) {
  auto g = JsonGrammar::from_schema_text(text, "schema");
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().code == ErrorCode::invalid_argument);
  return g.error().message;
}

// A random document of `g`: random bytes among those the matcher takes,
// ending when it is complete (with some chance once it may end).
std::string random_walk(const std::shared_ptr<const JsonGrammar>& g, std::mt19937& rng, size_t max_bytes,
                        bool& complete) {
  JsonMatcher m(g);
  std::string out;
  // Bytes worth trying: printable ASCII, whitespace and a few UTF-8 bytes.
  std::vector<uint8_t> alphabet;
  for (int c = 0x20; c < 0x7F; ++c) alphabet.push_back(static_cast<uint8_t>(c));
  for (int c : {10, 9, 0xC3, 0xA9, 0xE2, 0x82, 0xAC}) alphabet.push_back(static_cast<uint8_t>(c));  // \n \t é €
  while (out.size() < max_bytes) {
    if (m.finished() || (m.can_end() && rng() % 4 == 0)) {
      complete = true;
      return out;
    }
    std::vector<uint8_t> ok;
    for (uint8_t c : alphabet) {
      JsonMatcher probe = m;
      if (probe.feed_byte(c)) ok.push_back(c);
    }
    REQUIRE_FALSE(ok.empty());  // never a dead end
    // Prefer structure over long strings so walks finish.
    uint8_t pick = ok[rng() % ok.size()];
    for (uint8_t c : ok)
      if ((c == '"' || c == '}' || c == ']' || c == ',') && rng() % 3 == 0) pick = c;
    REQUIRE(m.feed_byte(pick));
    out += static_cast<char>(pick);
  }
  complete = m.can_end();
  return out;
}

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& text) {
  simdjson::dom::element e;
  INFO(text);
  REQUIRE(p.parse(text).get(e) == simdjson::SUCCESS);
  return e;
}

}  // namespace

TEST_CASE("json_object accepts any JSON object and no other text", "[json_grammar]") {
  auto g = JsonGrammar::any_object();
  for (std::string ok : {R"({})", R"({"a":1})", R"({ "a" : [1, 2.5e-3, -0, true, false, null, "x\"\u00e9"] })",
                         R"({"nested":{"deep":{"k":[{}]}},"s":"caf\u00e9 €"})", "{\n  \"a\": 1\n}"}) {
    INFO(ok);
    CHECK(accepts(g, ok));
  }
  for (std::string bad : {R"([])", R"("s")", R"(1)", R"({"a"})", R"({"a":})", R"({"a":1,})", R"({'a':1})",
                          R"({"a":01})", R"({"a":1.})", R"({"a":tru})", R"({"a":"\x"})", R"({"a":"\ud800"})",
                          "{\"a\":\"line\nbreak\"}", R"({} )", R"({}{})"}) {
    INFO(bad);
    CHECK_FALSE(accepts(g, bad));
  }
  // Incomplete documents are live prefixes, not documents.
  CHECK(prefix_ok(g, R"({"a":[1,{"b":)"));
  CHECK_FALSE(accepts(g, R"({"a":[1,{"b":)"));
  // Invalid UTF-8 inside strings is refused byte by byte.
  CHECK_FALSE(prefix_ok(g, "{\"a\":\"\xC3("));
  CHECK_FALSE(prefix_ok(g, "{\"a\":\"\xFF"));
  CHECK_FALSE(prefix_ok(g, "{\"a\":\"\xE0\x80"));      // overlong
  CHECK_FALSE(prefix_ok(g, "{\"a\":\"\xED\xA0"));      // surrogate
  CHECK_FALSE(prefix_ok(g, "{\"a\":\"\xF4\x90"));      // past U+10FFFF
  CHECK(accepts(g, "{\"a\":\"\xE0\xA0\x80\xED\x9F\xBF\xF4\x8F\xBF\xBF\"}"));
  // Whitespace runs are bounded.
  CHECK(prefix_ok(g, "{" + std::string(8, ' ')));
  CHECK_FALSE(prefix_ok(g, "{" + std::string(9, ' ')));
}

TEST_CASE("a schema's properties, required, types and enums are enforced", "[json_grammar]") {
  auto g = schema(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":5},
      "age":{"type":"integer"},
      "tags":{"type":"array","items":{"enum":["a","b"]},"minItems":1,"maxItems":2},
      "kind":{"const":"person"},
      "score":{"type":["number","null"]},
      "ok":{"type":"boolean"}},
    "required":["name","age"],"additionalProperties":false})");
  CHECK(accepts(g, R"({"name":"Ann","age":3})"));
  CHECK(accepts(g, R"({"age":-12,"name":"","tags":["a","b"],"kind":"person","score":null,"ok":true})"));
  CHECK(accepts(g, R"({"name":"Bo","age":0,"score":1.5e2})"));
  CHECK_FALSE(accepts(g, R"({"name":"Ann"})"));                       // age required
  CHECK_FALSE(accepts(g, R"({"name":"Ann","age":3.5})"));             // integer
  CHECK_FALSE(accepts(g, R"({"name":"Annabel","age":3})"));           // maxLength
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"name":"B"})"));      // duplicate key
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"extra":1})"));       // undeclared
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"tags":[]})"));       // minItems
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"tags":["a","a","b"]})"));  // maxItems
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"tags":["c"]})"));    // enum
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"kind":"robot"})"));  // const
  CHECK_FALSE(accepts(g, R"({"name":"A","age":3,"ok":"yes"})"));      // boolean
  CHECK_FALSE(prefix_ok(g, R"({"nam")" "x"));                          // no such key prefix
}

TEST_CASE("anyOf, nested objects, numeric enums and local refs compile and match", "[json_grammar]") {
  auto g = schema(R"({"$defs":{"pt":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},
                        "required":["x","y"],"additionalProperties":false}},
      "type":"object","properties":{
        "shape":{"anyOf":[{"$ref":"#/$defs/pt"},
                          {"type":"object","properties":{"r":{"enum":[1,12,3.5]}},"required":["r"]}]},
        "list":{"type":"array","items":{"$ref":"#/$defs/pt"}}},
      "required":["shape"]})");
  CHECK(accepts(g, R"({"shape":{"x":1,"y":2}})"));
  CHECK(accepts(g, R"({"shape":{"r":12},"list":[{"y":0,"x":-1}]})"));
  CHECK(accepts(g, R"({"shape":{"r":1}})"));
  CHECK(accepts(g, R"({"shape":{"r":3.5}})"));
  CHECK_FALSE(accepts(g, R"({"shape":{"r":2}})"));
  CHECK_FALSE(accepts(g, R"({"shape":{"x":1}})"));
  CHECK_FALSE(accepts(g, R"({"shape":{"x":1,"r":1}})"));
  // A recursive schema compiles (the reference is resolved once).
  auto tree = schema(R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
      "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}},
      "$ref":"#/$defs/node"})");
  CHECK(accepts(tree, R"({"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4}]})"));
  CHECK_FALSE(accepts(tree, R"({"v":1,"kids":[{"kids":[]}]})"));
}

TEST_CASE("unsupported schema keywords are refused naming their path", "[json_grammar]") {
  CHECK(schema_error(R"({"type":"object","properties":{"s":{"type":"string","pattern":"^a"}}})") ==
        std::string("schema.properties.s.pattern: the JSON Schema keyword 'pattern' is not supported by "
                    "constrained decoding (supported: type, properties, required, additionalProperties, items, "
                    "enum, const, anyOf, minItems, maxItems, minLength, maxLength, local $ref)"));
  CHECK(schema_error(R"({"type":"object","properties":{"age":{"type":"integer","minimum":0}}})")
            .rfind("schema.properties.age.minimum: numeric bounds are not enforced", 0) == 0);
  CHECK(schema_error(R"({"type":"number","maximum":1e300})").rfind("schema.maximum: ", 0) == 0);
  // zod's z.number().int() bounds exclude nothing the grammar writes.
  CHECK(JsonGrammar::from_schema_text(
            R"({"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991})", "schema").ok());
  CHECK(schema_error(R"({"type":"string","pattern":"^a"})").rfind("schema.pattern: ", 0) == 0);
  CHECK(schema_error(R"({"oneOf":[{"type":"string"}]})").rfind("schema.oneOf: ", 0) == 0);
  CHECK(schema_error(R"({"type":"array","items":[{"type":"string"}]})").rfind("schema.items: ", 0) == 0);
  CHECK(schema_error(R"({"$ref":"http://example.com/s.json"})").rfind("schema.$ref: ", 0) == 0);
  CHECK(schema_error(R"({"$ref":"#/$defs/missing"})").rfind("schema.$ref: unresolved", 0) == 0);
  CHECK(schema_error(R"({"type":"object","properties":{"a":{}},"required":["b"]})").rfind("schema.required[0]: ", 0) == 0);
  CHECK(schema_error(R"({"type":"strnig"})").rfind("schema.type: unknown type", 0) == 0);
  CHECK(schema_error(R"({"enum":[]})").rfind("schema.enum: ", 0) == 0);
  CHECK(schema_error(R"({"enum":[{"a":1}]})").rfind("schema.enum[0]: ", 0) == 0);
  CHECK(schema_error(R"({"type":"string","minLength":3,"maxLength":2})").rfind("schema.minLength: ", 0) == 0);
  std::string deep = "{\"type\":\"string\"}";
  for (int i = 0; i < 40; ++i) deep = "{\"type\":\"array\",\"items\":" + deep + "}";
  CHECK(schema_error(deep).find("deeper than 32 levels") != std::string::npos);
  // Annotations are accepted.
  schema(R"({"$schema":"http://json-schema.org/draft-07/schema#","title":"T","description":"d",
            "type":"object","properties":{"a":{"type":"string","description":"x","default":"y"}}})");
}

TEST_CASE("random walks through a grammar only ever produce documents of the schema", "[json_grammar][property]") {
  auto g = schema(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":6},
      "n":{"type":"integer"},
      "color":{"enum":["red","green"]},
      "xs":{"type":"array","items":{"type":"number"},"maxItems":3},
      "sub":{"type":"object","properties":{"flag":{"type":"boolean"}},"required":["flag"],"additionalProperties":false}},
    "required":["name","n","sub"],"additionalProperties":false})");
  simdjson::dom::parser parser;
  int complete_count = 0;
  for (unsigned seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    bool complete = false;
    std::string text = random_walk(g, rng, 400, complete);
    if (!complete) continue;
    ++complete_count;
    auto doc = parse(parser, text);
    INFO(text);
    simdjson::dom::object o;
    REQUIRE(doc.get_object().get(o) == simdjson::SUCCESS);
    std::string_view name;
    REQUIRE(o["name"].get_string().get(name) == simdjson::SUCCESS);
    int64_t n;
    REQUIRE(o["n"].get_int64().get(n) == simdjson::SUCCESS);
    bool flag;
    REQUIRE(o["sub"]["flag"].get_bool().get(flag) == simdjson::SUCCESS);
    std::string_view color;
    if (o["color"].get_string().get(color) == simdjson::SUCCESS) CHECK((color == "red" || color == "green"));
    simdjson::dom::array xs;
    if (o["xs"].get_array().get(xs) == simdjson::SUCCESS) {
      CHECK(xs.size() <= 3);
      for (auto x : xs) CHECK(x.is_number());
    }
    for (auto f : o)
      CHECK((f.key == "name" || f.key == "n" || f.key == "color" || f.key == "xs" || f.key == "sub"));
  }
  CHECK(complete_count > 200);
  // Any-object walks are valid JSON objects.
  for (unsigned seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    bool complete = false;
    std::string text = random_walk(JsonGrammar::any_object(), rng, 300, complete);
    if (!complete) continue;
    CHECK(parse(parser, text).is_object());
  }
}

TEST_CASE("a grammar's prefix and suffix frame the document, and finished() ends it", "[json_grammar]") {
  auto g = JsonGrammar::from_schema_text(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})",
                                         "tools", "<tool_call>\n", "\n</tool_call>");
  REQUIRE(g.ok());
  JsonMatcher m(*g);
  CHECK_FALSE(JsonMatcher(*g).feed("{"));
  REQUIRE(m.feed("<tool_call>\n{\"a\":42}"));
  CHECK_FALSE(m.can_end());
  REQUIRE(m.feed("\n</tool_call>"));
  CHECK(m.finished());
  CHECK_FALSE(m.feed(" "));
  // A root number may end at any digit but is never finished by itself.
  JsonMatcher num(schema(R"({"type":"integer"})"));
  REQUIRE(num.feed("12"));
  CHECK(num.can_end());
  CHECK_FALSE(num.finished());
  CHECK_FALSE(num.feed(std::string(14, '9')));  // 16 digits
}
