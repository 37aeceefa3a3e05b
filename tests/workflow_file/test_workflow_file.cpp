// The workflow-file loader: a valid file yields every field as written; each
// kind of mistake yields one error whose message starts "FILE:LINE:COL: ".
// Fixtures: tests/fixtures/workflows/*.yaml.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "common/ids.hpp"
#include "workflows/workflow.hpp"

using namespace troupe;
using namespace troupe::workflows;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) {
  return std::string(TROUPE_SOURCE_DIR) + "/tests/fixtures/workflows/" + name;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The error message of loading fixture `name`; fails the test if it loads.
std::string load_error(const std::string& name) {
  auto wf = load_workflow(fixture(name));
  REQUIRE_FALSE(wf.ok());
  CHECK(wf.error().code == ErrorCode::parse);
  return wf.error().message;
}

// The error message of parsing `text` as "test.yaml".
std::string parse_error(const std::string& text) {
  auto wf = parse_workflow(text, "test.yaml");
  REQUIRE_FALSE(wf.ok());
  return wf.error().message;
}

const char* kScriptedHead =
    "pipeline: spoc\n"
    "backend:\n"
    "  kind: scripted\n"
    "  fixture: rules.yaml\n";

}  // namespace

TEST_CASE("a full SPOC workflow file loads with every field as written", "[workflow_file]") {
  const std::string path = fixture("spoc_full.yaml");
  auto loaded = load_workflow(path);
  REQUIRE(loaded.ok());
  const Workflow& wf = *loaded;

  CHECK(wf.file == path);
  CHECK(wf.name == "spoc-demo");
  CHECK(wf.pipeline == "spoc");
  CHECK(wf.text_hash == sha256_hex(read_text(path)));

  const BackendConfig& b = wf.backend;
  CHECK(b.kind == BackendKind::http);
  CHECK(b.url == "http://127.0.0.1:8000");
  CHECK(b.model == "my-model");
  CHECK(b.api == "completions");
  CHECK(b.api_key_env == "OPENAI_API_KEY");
  CHECK(b.stream);
  CHECK(b.timeout_s == Approx(90.5));
  CHECK(b.connect_timeout_s == Approx(5));
  CHECK(b.max_in_flight == 8);
  CHECK(b.max_retries == 2);
  CHECK(b.backoff_ms == 100);
  CHECK(b.backoff_max_ms == 4000);
  CHECK(b.unsupported == std::vector<std::string>{"n", "min_p"});
  CHECK(b.on_unsupported == "refuse");
  CHECK(fs::path(b.fixture).is_absolute());
  CHECK(fs::path(b.fixture) ==
        fs::absolute(fs::path(TROUPE_SOURCE_DIR) / "tests/fixtures/workflows/rules/spoc.yaml").lexically_normal());

  CHECK(wf.store_path == "runs/troupe.db");

  REQUIRE(wf.roles.size() == 2);
  const RoleConfig& solver = wf.roles.at("solver");
  CHECK(solver.system == "You are a careful mathematician.");
  CHECK(solver.template_text == "Solve: {question}");
  CHECK(solver.parse_retries == 2);
  CHECK(solver.sampling.temperature == Approx(0.7));
  CHECK(solver.sampling.top_p == Approx(0.95));
  CHECK(solver.sampling.top_k == 20);
  CHECK(solver.sampling.min_p == Approx(0.05));
  CHECK(solver.sampling.max_tokens == 512);
  CHECK(solver.sampling.seed == 1);
  CHECK(solver.sampling.n == 2);
  CHECK(solver.sampling.stop == std::vector<std::string>{"</solution>", "\n\nQ:"});
  CHECK(solver.sampling.logprobs == 3);

  const RoleConfig& verifier = wf.roles.at("verifier");
  CHECK(verifier.system.empty());
  CHECK(verifier.template_text ==
        "Check this solution: {attempt}\nEnd with \"Verdict: Yes\" or \"Verdict: No\".\n");
  CHECK(verifier.parse_retries == 1);  // default
  CHECK(verifier.sampling.temperature == Approx(0.0));
  CHECK_FALSE(verifier.sampling.top_p.has_value());  // unset: left to the server
  CHECK_FALSE(verifier.sampling.seed.has_value());
  CHECK(verifier.sampling.max_tokens == 256);
  CHECK(verifier.sampling.stop == std::vector<std::string>{"Verdict:"});  // a single string
  CHECK(verifier.sampling.logprobs == -1);
  CHECK(verifier.sampling.n == 1);

  REQUIRE(wf.params.size() == 2);
  CHECK(wf.params.at("max_turns").text == "4");
  CHECK(wf.params.at("max_turns").line == 39);
  CHECK(wf.params.at("max_turns").col == 14);
  CHECK(wf.params.at("mode").text == "explicit");

  CHECK(wf.budget.max_calls == 100);
  CHECK(wf.budget.max_tokens == 200000);
  CHECK(wf.budget.wall_time_s == Approx(600));
  CHECK(wf.concurrency == 6);
}

TEST_CASE("a minimal scripted workflow gets the documented defaults", "[workflow_file]") {
  auto loaded = load_workflow(fixture("scripted_minimal.yaml"));
  REQUIRE(loaded.ok());
  const Workflow& wf = *loaded;
  CHECK(wf.name == "scripted_minimal");  // the file name without extension
  CHECK(wf.backend.kind == BackendKind::scripted);
  CHECK(fs::path(wf.backend.fixture) ==
        fs::absolute(fs::path(TROUPE_SOURCE_DIR) / "tests/fixtures/fixtures/spoc_rules.yaml").lexically_normal());
  CHECK(wf.backend.api == "chat");
  CHECK(wf.backend.on_unsupported == "emulate");
  CHECK(wf.backend.timeout_s == 120);
  CHECK(wf.backend.max_in_flight == 16);
  CHECK(wf.store_path == "troupe.db");
  CHECK(wf.roles.empty());
  CHECK(wf.params.empty());
  CHECK(wf.budget.max_calls == 0);
  CHECK(wf.budget.max_tokens == 0);
  CHECK(wf.budget.wall_time_s == 0);
  CHECK(wf.concurrency == 4);
}

TEST_CASE("an absolute fixture path is kept as it is", "[workflow_file]") {
  auto wf = parse_workflow("pipeline: spoc\nbackend: {kind: scripted, fixture: /data/rules.yaml}\n", "a/b/w.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->backend.fixture == "/data/rules.yaml");
  CHECK(wf->name == "w");
}

TEST_CASE("a YAML syntax error names the file, line and column", "[workflow_file]") {
  std::string msg = load_error("bad_syntax.yaml");
  CHECK(msg.rfind(fixture("bad_syntax.yaml") + ":5:6: YAML syntax error: ", 0) == 0);
  CHECK_THAT(msg, Catch::Contains("end of sequence flow not found"));

  CHECK(parse_error("pipeline: spoc\n  backend: 1\n").rfind("test.yaml:2:10: YAML syntax error: ", 0) == 0);
}

TEST_CASE("an unknown key is an error that suggests the closest known key", "[workflow_file]") {
  CHECK(load_error("bad_unknown_key.yaml") ==
        fixture("bad_unknown_key.yaml") +
            ":6:3: unknown key 'solverr' in roles (did you mean 'solver'?); pipeline 'spoc' has roles: solver, verifier");

  CHECK(parse_error(std::string(kScriptedHead) + "concurency: 2\n") ==
        "test.yaml:5:1: unknown key 'concurency' at the top level (did you mean 'concurrency'?); allowed keys: "
        "name, pipeline, backend, store, roles, params, budget, concurrency");
  CHECK(parse_error(std::string(kScriptedHead) + "  timeout: 3\n") ==
        "test.yaml:5:3: unknown key 'timeout' in backend (did you mean 'timeout_s'?); allowed keys: kind, url, model, "
        "api, api_key_env, stream, timeout_s, connect_timeout_s, max_in_flight, max_retries, backoff_ms, "
        "backoff_max_ms, unsupported, on_unsupported, fixture, model_file, tokenizer, chat_template, threads, kv_mb, "
        "context, kv_type, device, urls, replicas, routing");
  CHECK(parse_error(std::string(kScriptedHead) + "roles:\n  solver:\n    sampling: {temprature: 1}\n") ==
        "test.yaml:7:16: unknown key 'temprature' in roles.solver.sampling (did you mean 'temperature'?); "
        "allowed keys: n, temperature, top_p, top_k, min_p, max_tokens, seed, stop, logprobs");
}

TEST_CASE("an unknown key far from every known key gets no suggestion", "[workflow_file]") {
  std::string msg = parse_error(std::string(kScriptedHead) + "store:\n  database: x.db\n");
  CHECK(msg == "test.yaml:6:3: unknown key 'database' in store; allowed keys: path");
}

TEST_CASE("a value of the wrong type names the key and what was written", "[workflow_file]") {
  CHECK(load_error("bad_type.yaml") ==
        fixture("bad_type.yaml") + ":6:14: backend.timeout_s: expected a number, got 'abc'");

  CHECK(parse_error(std::string(kScriptedHead) + "concurrency: 2.5\n") ==
        "test.yaml:5:14: concurrency: expected an integer, got '2.5'");
  CHECK(parse_error(std::string(kScriptedHead) + "  stream: maybe\n") ==
        "test.yaml:5:11: backend.stream: expected true or false, got 'maybe'");
  CHECK(parse_error(std::string(kScriptedHead) + "roles:\n  solver:\n    system: [a, b]\n") ==
        "test.yaml:7:13: roles.solver.system: expected a string, got a list");
  CHECK(parse_error(std::string(kScriptedHead) + "roles:\n  solver:\n    sampling: {stop: {a: 1}}\n") ==
        "test.yaml:7:22: roles.solver.sampling.stop: expected a string or a list of strings, got a map");
  CHECK(parse_error(std::string(kScriptedHead) + "roles:\n  solver:\n    sampling: {seed: x1}\n") ==
        "test.yaml:7:22: roles.solver.sampling.seed: expected an integer, got 'x1'");
  // A key with nothing after it: the error points at the key.
  CHECK(parse_error(std::string(kScriptedHead) + "  timeout_s:\n") ==
        "test.yaml:5:3: backend.timeout_s: expected a number, got nothing");
  CHECK(parse_error("pipeline: spoc\nbackend: scripted\n") ==
        "test.yaml:2:10: backend: expected a map, got 'scripted'");
}

TEST_CASE("a missing required field points at the enclosing map", "[workflow_file]") {
  CHECK(load_error("missing_pipeline.yaml") ==
        fixture("missing_pipeline.yaml") + ":1:1: missing required key 'pipeline' (one of: spoc, linc, leap, iad, archon, coc)");
  CHECK(load_error("missing_url.yaml") ==
        fixture("missing_url.yaml") + ":3:3: backend: missing required key 'url' (kind http needs url and model)");
  CHECK(load_error("missing_fixture.yaml") ==
        fixture("missing_fixture.yaml") +
            ":3:5: backend: missing required key 'fixture' (kind scripted needs a fixture file)");
  CHECK(parse_error("pipeline: spoc\nbackend:\n  url: http://h:1\n") ==
        "test.yaml:3:3: backend: missing required key 'model' (kind http needs url and model)");
  CHECK(parse_error("name: x\npipeline: spoc\n") ==
        "test.yaml:1:1: missing required key 'backend' (a map with at least 'kind')");
}

TEST_CASE("an unknown pipeline lists the known ones", "[workflow_file]") {
  CHECK(load_error("unknown_pipeline.yaml") ==
        fixture("unknown_pipeline.yaml") +
            ":1:11: unknown pipeline 'spocc' (did you mean 'spoc'?); known pipelines: spoc, linc, leap, iad, archon, coc");
}

TEST_CASE("a role the pipeline does not have is an error", "[workflow_file]") {
  CHECK(load_error("unknown_role.yaml") ==
        fixture("unknown_role.yaml") + ":8:3: unknown key 'critic' in roles; pipeline 'spoc' has roles: solver, verifier");
}

TEST_CASE("a param the pipeline does not have is an error", "[workflow_file]") {
  CHECK(load_error("unknown_param.yaml") ==
        fixture("unknown_param.yaml") +
            ":7:3: unknown key 'max_turn' in params (did you mean 'max_turns'?); pipeline 'spoc' has params: "
            "max_turns, mode, feedback_template");
}

TEST_CASE("pipeline params are checked against the pipeline's table", "[workflow_file]") {
  CHECK(parse_error(std::string(kScriptedHead) + "params: {max_turns: 0}\n") ==
        "test.yaml:5:21: params.max_turns: must be at least 1, got 0");
  CHECK(parse_error(std::string(kScriptedHead) + "params: {max_turns: many}\n") ==
        "test.yaml:5:21: params.max_turns: expected an integer, got 'many'");
  CHECK(parse_error(std::string(kScriptedHead) + "params: {mode: explicitt}\n") ==
        "test.yaml:5:16: params.mode: expected one of explicit, single_pass, got 'explicitt' (did you mean "
        "'explicit'?)");
  auto wf = parse_workflow(std::string(kScriptedHead) + "params: {mode: single_pass}\n", "test.yaml");
  REQUIRE(wf.ok());
  CHECK(param_string(*wf, "mode", "explicit") == "single_pass");
}

TEST_CASE("an out-of-range value names the key, the range and the value", "[workflow_file]") {
  CHECK(load_error("out_of_range.yaml") ==
        fixture("out_of_range.yaml") + ":9:14: roles.verifier.sampling.top_p: must be in (0, 1], got 1.5");

  struct Case {
    std::string yaml;  // appended after the scripted head (line 5 on)
    std::string expected;
  };
  const std::string sampling = "roles:\n  solver:\n    sampling:\n      ";  // value lines start at line 8
  const Case cases[] = {
      {sampling + "n: 0\n", "test.yaml:8:10: roles.solver.sampling.n: must be at least 1, got 0"},
      {sampling + "temperature: -0.1\n", "test.yaml:8:20: roles.solver.sampling.temperature: must not be negative, got -0.1"},
      {sampling + "top_p: 0\n", "test.yaml:8:14: roles.solver.sampling.top_p: must be in (0, 1], got 0"},
      {sampling + "max_tokens: 0\n", "test.yaml:8:19: roles.solver.sampling.max_tokens: must be at least 1, got 0"},
      {sampling + "logprobs: -2\n", "test.yaml:8:17: roles.solver.sampling.logprobs: must be at least -1, got -2"},
      {sampling + "top_k: -1\n", "test.yaml:8:14: roles.solver.sampling.top_k: must not be negative, got -1"},
      {sampling + "min_p: 2\n", "test.yaml:8:14: roles.solver.sampling.min_p: must be in [0, 1], got 2"},
      {"roles:\n  solver:\n    parse_retries: -1\n",
       "test.yaml:7:20: roles.solver.parse_retries: must not be negative, got -1"},
      {"concurrency: 0\n", "test.yaml:5:14: concurrency: must be at least 1, got 0"},
      {"budget:\n  max_calls: -1\n", "test.yaml:6:14: budget.max_calls: must not be negative, got -1"},
      {"budget:\n  max_tokens: -5\n", "test.yaml:6:15: budget.max_tokens: must not be negative, got -5"},
      {"budget:\n  wall_time_s: -0.5\n", "test.yaml:6:16: budget.wall_time_s: must not be negative, got -0.5"},
      {"  max_in_flight: 0\n", "test.yaml:5:18: backend.max_in_flight: must be at least 1, got 0"},
      {"  max_retries: -1\n", "test.yaml:5:16: backend.max_retries: must not be negative, got -1"},
      {"  timeout_s: 0\n", "test.yaml:5:14: backend.timeout_s: must be greater than 0, got 0"},
      {"  backoff_ms: 500\n  backoff_max_ms: 100\n",
       "test.yaml:6:19: backend.backoff_max_ms: must be at least backoff_ms (500), got 100"},
      {"  max_in_flight: 99999999999\n", "test.yaml:5:18: backend.max_in_flight: 99999999999 is out of range"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    CHECK(parse_error(std::string(kScriptedHead) + c.yaml) == c.expected);
  }
}

TEST_CASE("a value outside an enumeration lists the accepted values", "[workflow_file]") {
  CHECK(load_error("bad_enum.yaml") ==
        fixture("bad_enum.yaml") + ":3:9: backend.kind: expected one of http, scripted, local, got 'grpc'");
  CHECK(parse_error(std::string(kScriptedHead) + "  api: chatt\n") ==
        "test.yaml:5:8: backend.api: expected one of chat, completions, got 'chatt' (did you mean 'chat'?)");
  CHECK(parse_error(std::string(kScriptedHead) + "  on_unsupported: ignore\n") ==
        "test.yaml:5:19: backend.on_unsupported: expected one of emulate, refuse, got 'ignore'");
  CHECK(parse_error(std::string(kScriptedHead) + "  unsupported: [n, topk]\n") ==
        "test.yaml:5:20: backend.unsupported: unknown parameter 'topk' (did you mean 'top_k'?); known: n, "
        "temperature, top_p, top_k, min_p, seed, stop, max_tokens, logprobs, continue_final_message");
}

TEST_CASE("a url must start with http:// or https://", "[workflow_file]") {
  CHECK(load_error("bad_url.yaml") ==
        fixture("bad_url.yaml") +
            ":4:8: backend.url: expected a URL starting with http:// or https://, got 'localhost:8000'");
  CHECK(parse_error("pipeline: spoc\nbackend: {url: 'ftp://h', model: m}\n") ==
        "test.yaml:2:16: backend.url: expected a URL starting with http:// or https://, got 'ftp://h'");
  CHECK(parse_workflow("pipeline: spoc\nbackend: {url: 'https://api.example.com/v1', model: m}\n", "t.yaml").ok());
}

TEST_CASE("an empty file or a top level that is not a map is an error", "[workflow_file]") {
  CHECK(load_error("empty.yaml") ==
        fixture("empty.yaml") + ":1:1: the workflow file is empty; expected a map with at least 'pipeline' and 'backend'");
  CHECK(parse_error("# only a comment\n") ==
        "test.yaml:1:1: the workflow file is empty; expected a map with at least 'pipeline' and 'backend'");
  CHECK(load_error("not_a_map.yaml") ==
        fixture("not_a_map.yaml") +
            ":2:1: expected a map at the top level (keys: name, pipeline, backend, store, roles, params, budget, "
            "concurrency), got a list");
  CHECK(parse_error("just text\n") ==
        "test.yaml:1:1: expected a map at the top level (keys: name, pipeline, backend, store, roles, params, "
        "budget, concurrency), got 'just text'");
  CHECK(parse_error(std::string(kScriptedHead) + "---\npipeline: spoc\n") ==
        "test.yaml:6:1: expected one YAML document, found 2");
}

TEST_CASE("a duplicate key is an error at its second occurrence", "[workflow_file]") {
  CHECK(load_error("duplicate_key.yaml") ==
        fixture("duplicate_key.yaml") + ":6:1: duplicate key 'concurrency' at the top level");
}

TEST_CASE("a missing workflow file is an error naming the path", "[workflow_file]") {
  const std::string path = fixture("does_not_exist.yaml");
  auto wf = load_workflow(path);
  REQUIRE_FALSE(wf.ok());
  CHECK(wf.error().code == ErrorCode::not_found);
  CHECK_THAT(wf.error().message, Catch::Contains(path));

  auto dir = load_workflow(fixture(""));
  REQUIRE_FALSE(dir.ok());
  CHECK(dir.error().code == ErrorCode::io);
}

TEST_CASE("pipeline_schemas lists every pipeline with its roles and params", "[workflow_file]") {
  const auto& schemas = pipeline_schemas();
  REQUIRE(schemas.size() == 6);
  std::vector<std::string> names;
  for (const auto& s : schemas) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"spoc", "linc", "leap", "iad", "archon", "coc"});
  CHECK(schemas[0].name == "spoc");
  CHECK(schemas[0].roles == std::vector<std::string>{"solver", "verifier"});
  CHECK(schemas[0].params == std::vector<std::string>{"max_turns", "mode", "feedback_template"});
  CHECK(schemas[1].name == "linc");
  CHECK(schemas[1].roles == std::vector<std::string>{"translator", "prover"});
  CHECK(schemas[1].params ==
        std::vector<std::string>{"samples", "prover", "cpu_limit_s", "prover_timeout_s", "prover_jobs"});
}

TEST_CASE("typed param access returns the value, the fallback, or an error at the value", "[workflow_file]") {
  Workflow wf;
  wf.file = "w.yaml";
  wf.params["turns"] = ParamValue{"7", 3, 14};
  wf.params["ratio"] = ParamValue{"0.25", 4, 10};
  wf.params["flag"] = ParamValue{"true", 5, 9};
  wf.params["word"] = ParamValue{"abc", 6, 9};

  CHECK(param_int(wf, "turns", 1).value() == 7);
  CHECK(param_int(wf, "absent", 11).value() == 11);
  CHECK(param_double(wf, "ratio", 1).value() == Approx(0.25));
  CHECK(param_double(wf, "turns", 1).value() == Approx(7));
  CHECK(param_double(wf, "absent", 1.5).value() == Approx(1.5));
  CHECK(param_bool(wf, "flag", false).value());
  CHECK_FALSE(param_bool(wf, "absent", false).value());
  CHECK(param_string(wf, "word", "x") == "abc");
  CHECK(param_string(wf, "absent", "x") == "x");

  auto bad_int = param_int(wf, "ratio", 1);
  REQUIRE_FALSE(bad_int.ok());
  CHECK(bad_int.error().message == "w.yaml:4:10: params.ratio: expected an integer, got '0.25'");
  auto bad_double = param_double(wf, "word", 1);
  REQUIRE_FALSE(bad_double.ok());
  CHECK(bad_double.error().message == "w.yaml:6:9: params.word: expected a number, got 'abc'");
  auto bad_bool = param_bool(wf, "word", false);
  REQUIRE_FALSE(bad_bool.ok());
  CHECK(bad_bool.error().message == "w.yaml:6:9: params.word: expected true or false, got 'abc'");
}

TEST_CASE("params loaded from a file keep their position for later errors", "[workflow_file]") {
  auto wf = load_workflow(fixture("spoc_full.yaml"));
  REQUIRE(wf.ok());
  CHECK(param_int(*wf, "max_turns", 1).value() == 4);
  auto as_bool = param_bool(*wf, "max_turns", false);
  REQUIRE_FALSE(as_bool.ok());
  CHECK(as_bool.error().message ==
        fixture("spoc_full.yaml") + ":39:14: params.max_turns: expected true or false, got '4'");
}

TEST_CASE("the loader never throws and every error has a position, whatever the bytes", "[workflow_file][fuzz]") {
  const std::string text = read_text(fixture("spoc_full.yaml"));
  REQUIRE_FALSE(text.empty());
  auto check = [](const std::string& t) {
    Result<Workflow> wf = Error();
    REQUIRE_NOTHROW(wf = parse_workflow(t, "f.yaml"));
    if (!wf.ok()) {
      INFO(t);
      CHECK(wf.error().message.rfind("f.yaml:", 0) == 0);
    }
  };
  // Every prefix (truncated files).
  for (size_t n = 0; n <= text.size(); n += 3) check(text.substr(0, n));
  // Random byte edits, with a fixed seed.
  std::mt19937 rng(12345);
  const std::string alphabet = ":-[]{}#&*!|>'\"% \n\tab1.,?";
  for (int i = 0; i < 400; ++i) {
    std::string t = text;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) t[rng() % t.size()] = alphabet[rng() % alphabet.size()];
    check(t);
  }
}

TEST_CASE("a local backend needs model_file, its paths are relative to the workflow file", "[workflow_file]") {
  CHECK(parse_error("pipeline: spoc\nbackend:\n  kind: local\n") ==
        "test.yaml:3:3: backend: missing required key 'model_file' (kind local needs a .gguf or llama2.c model file)");
  auto wf = parse_workflow("pipeline: spoc\nbackend:\n  kind: local\n  model_file: models/m.gguf\n"
                           "  tokenizer: tok.bin\n  chat_template: chatml\n  threads: 2\n  kv_mb: 32\n",
                           "/srv/flows/test.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->backend.model_file == "/srv/flows/models/m.gguf");
  CHECK(wf->backend.tokenizer == "/srv/flows/tok.bin");
  CHECK(wf->backend.chat_template == "chatml");
  CHECK(wf->backend.threads == 2);
  CHECK(wf->backend.kv_mb == 32);
  CHECK(wf->backend.kv_type == "f32");
  auto half = parse_workflow("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n  kv_type: f16\n",
                             "/srv/flows/test.yaml");
  REQUIRE(half.ok());
  CHECK(half->backend.kv_type == "f16");
  auto bf16 = parse_workflow("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n  kv_type: bf16\n",
                             "/srv/flows/test.yaml");
  REQUIRE(bf16.ok());
  CHECK(bf16->backend.kv_type == "bf16");
  // The value is checked by engine::local::parse_kv_type: the error is at
  // the value, names it and lists the choices.
  const std::string bad = parse_error("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n  kv_type: q8\n");
  CHECK_THAT(bad, Catch::Contains(":5:") && Catch::Contains("backend.kv_type") && Catch::Contains("'q8'") &&
                      Catch::Contains("expected f32, f16 or bf16"));
  CHECK_THAT(parse_error("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n  kv_type: BF16\n"),
             Catch::Contains("'BF16'"));
  CHECK(parse_error("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n  chat_template: vicuna\n")
            .find("expected one of chatml, llama3, llama2") != std::string::npos);
}

TEST_CASE("a local backend's device is cpu, cuda or cuda:N, other names and other kinds are refused", "[workflow_file]") {
  const std::string head = "pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n";
  auto wf = parse_workflow(head, "/srv/flows/test.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->backend.device == "cpu");
  auto gpu = parse_workflow(head + "  device: cuda:1\n", "/srv/flows/test.yaml");
  REQUIRE(gpu.ok());
  CHECK(gpu->backend.device == "cuda:1");
  CHECK(parse_error(head + "  device: gpu\n") ==
        "test.yaml:5:11: backend.device: device 'gpu': expected cpu, cuda or cuda:N (N a GPU index, e.g. cuda:0)");
  CHECK(parse_error(std::string(kScriptedHead) + "  device: cuda\n") ==
        "test.yaml:5:3: backend.device: only kind local computes on a device");
}

TEST_CASE("a local backend's context overrides the model's context length, bad values are named", "[workflow_file]") {
  const std::string head = "pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n";
  auto wf = parse_workflow(head + "  context: 128\n", "/srv/flows/test.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->backend.context_length == 128);
  auto plain = parse_workflow(head, "/srv/flows/test.yaml");
  REQUIRE(plain.ok());
  CHECK(plain->backend.context_length == 0);  // the model file's own
  CHECK(parse_error(head + "  context: 0\n") == "test.yaml:5:12: backend.context: must be at least 1, got 0");
  CHECK(parse_error(head + "  context: -5\n") == "test.yaml:5:12: backend.context: must be at least 1, got -5");
  CHECK(parse_error(head + "  context: 1.5\n") == "test.yaml:5:12: backend.context: expected an integer, got '1.5'");
  CHECK(parse_error(head + "  context: lots\n") == "test.yaml:5:12: backend.context: expected an integer, got 'lots'");
  CHECK(parse_error(head + "  context: 2000000000\n") ==
        "test.yaml:5:12: backend.context: must be at most 1073741824, got 2000000000");
}
