// The troupe command line, run as a separate process: exit codes, error
// messages, and the end-to-end SPOC run over HTTP into RocksDB and out as
// TRL datasets.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <fstream>
#include <set>
#include <sstream>

#include "cli_harness.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "engine/local/device.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/local/model_random.hpp"
#include "engine/serve/openai_server.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using troupe::testing::read_file;
using troupe::testing::run_troupe;
using troupe::testing::shell_quote;
using troupe::testing::TempDir;
using troupe::testing::write_file;

namespace {

const std::string kSource = TROUPE_SOURCE_DIR;

// The example SPOC workflow, pointed at `url`.
std::string example_workflow(const std::string& url) {
  std::string text = read_file(kSource + "/examples/spoc.yaml");
  auto pos = text.find("http://127.0.0.1:8765");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, std::string("http://127.0.0.1:8765").size(), url);
  return text;
}

// A real HTTP server speaking vLLM's shapes, answering from the example's script.
struct ScriptedServer {
  std::unique_ptr<engine::OpenAIServer> server;
  std::shared_ptr<engine::ScriptedBackend> backend;
  ScriptedServer() {
    auto fx = engine::ScriptedBackend::load_fixture(kSource + "/examples/fixtures/spoc-arithmetic.yaml");
    REQUIRE(fx.ok());
    backend = std::make_shared<engine::ScriptedBackend>(std::move(fx.value()), "scripted");
    engine::OpenAIServer::Options o;
    o.model = "scripted";
    server = std::make_unique<engine::OpenAIServer>(backend, o);
    REQUIRE(server->start().ok());
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

std::set<std::string> keys_of(simdjson::dom::object o) {
  std::set<std::string> keys;
  for (auto field : o) keys.insert(std::string(field.key));
  return keys;
}

// Checks a TRL message list: each element has exactly role and content.
void check_messages(simdjson::dom::array msgs, const std::set<std::string>& roles) {
  REQUIRE(msgs.size() > 0);
  for (simdjson::dom::element m : msgs) {
    simdjson::dom::object o = m.get_object();
    CHECK(keys_of(o) == std::set<std::string>{"role", "content"});
    CHECK(roles.count(std::string(std::string_view(o["role"].get_string()))) == 1);
  }
}

std::unique_ptr<memory::Store> open_store(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(path, o);
  REQUIRE(s.ok());
  return std::move(s.value());
}

}  // namespace

TEST_CASE("help exits 0, usage errors exit 2", "[cli]") {
  CHECK(run_troupe("--help").exit_code == 0);
  for (const char* cmd : {"run", "export", "runs", "show", "doctor", "serve"}) {
    auto r = run_troupe(std::string(cmd) + " --help");
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("Usage") != std::string::npos);
  }
  CHECK(run_troupe("").exit_code == 2);
  CHECK(run_troupe("frobnicate").exit_code == 2);
  CHECK(run_troupe("run").exit_code == 2);                      // missing workflow
  CHECK(run_troupe("export --format sft --bogus").exit_code == 2);
  TempDir dir;
  auto r = run_troupe("export --format yaml --db " + shell_quote(dir.file("db")));
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("yaml") != std::string::npos);
}

TEST_CASE("troupe run: SPOC over HTTP records every message in order, and export yields TRL rows", "[cli][e2e]") {
  ScriptedServer srv;
  TempDir dir;
  write_file(dir.file("spoc.yaml"), example_workflow(srv.server->base_url()));
  std::string db = dir.file("troupe.db");
  auto r = run_troupe("run " + shell_quote(dir.file("spoc.yaml")) + " --input " +
                      shell_quote(kSource + "/examples/data/arithmetic.jsonl") + " --output " +
                      shell_quote(dir.file("results.jsonl")) + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("3/4 (75.0%)") != std::string::npos);  // summary table: accuracy
  CHECK(srv.backend->calls() == 13);

  auto results = lines_of(read_file(dir.file("results.jsonl")));
  REQUIRE(results.size() == 4);

  {
    auto store = open_store(db);
    size_t runs = 0;
    REQUIRE((store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
               ++runs;
               CHECK(run.status == memory::RunStatus::succeeded);
               CHECK(run.workflow == "spoc-arithmetic");
               auto steps = store->read_steps(run.id);
               REQUIRE(steps.ok());
               REQUIRE(steps->size() % 2 == 0);
               for (size_t i = 0; i < steps->size(); ++i) {
                 const auto& s = (*steps)[i];
                 CHECK(s.seq == i);
                 CHECK(s.role == (i % 2 == 0 ? "solver" : "verifier"));
                 if (i == 0) CHECK(s.parents.empty());
                 else CHECK(s.parents == std::vector<uint64_t>{i - 1});
                 if (i % 2 == 1) CHECK(s.verdict.has_value());
                 CHECK(s.prompt_tokens > 0);
                 CHECK(s.backend == "http:scripted");
               }
               CHECK(steps->back().verdict == std::optional<bool>(true));
               return true;
             })).ok());
    CHECK(runs == 4);
  }

  simdjson::dom::parser parser;
  auto dpo = run_troupe("export --db " + shell_quote(db) + " --format dpo --out " + shell_quote(dir.file("dpo.jsonl")));
  REQUIRE(dpo.exit_code == 0);
  auto dpo_lines = lines_of(read_file(dir.file("dpo.jsonl")));
  REQUIRE(dpo_lines.size() == 2);  // add-1 and sub-1: corrected after a "No"
  for (const auto& line : dpo_lines) {
    simdjson::dom::object row = parser.parse(line).get_object();
    CHECK(keys_of(row) == std::set<std::string>{"prompt", "chosen", "rejected"});
    check_messages(row["prompt"].get_array(), {"system", "user", "assistant"});
    simdjson::dom::array chosen = row["chosen"].get_array();
    simdjson::dom::array rejected = row["rejected"].get_array();
    REQUIRE(chosen.size() == 1);
    REQUIRE(rejected.size() == 1);
    check_messages(chosen, {"assistant"});
    check_messages(rejected, {"assistant"});
    CHECK(std::string_view(chosen.at(0)["content"].get_string()) != std::string_view(rejected.at(0)["content"].get_string()));
  }

  auto sft = run_troupe("export --db " + shell_quote(db) + " --format sft --out " + shell_quote(dir.file("sft.jsonl")));
  REQUIRE(sft.exit_code == 0);
  auto sft_lines = lines_of(read_file(dir.file("sft.jsonl")));
  REQUIRE(sft_lines.size() > 0);
  for (const auto& line : sft_lines) {
    simdjson::dom::object row = parser.parse(line).get_object();
    CHECK(keys_of(row) == std::set<std::string>{"messages"});
    simdjson::dom::array msgs = row["messages"].get_array();
    check_messages(msgs, {"system", "user", "assistant"});
    CHECK(std::string_view(msgs.at(msgs.size() - 1)["role"].get_string()) == "assistant");
  }

  auto kto = run_troupe("export --db " + shell_quote(db) + " --format kto");
  REQUIRE(kto.exit_code == 0);
  auto kto_lines = lines_of(kto.output);
  size_t labelled = 0;
  for (const auto& line : kto_lines) {
    if (line.rfind("troupe:", 0) == 0) continue;  // the stderr summary line
    simdjson::dom::object row = parser.parse(line).get_object();
    CHECK(keys_of(row) == std::set<std::string>{"prompt", "completion", "label"});
    ++labelled;
  }
  CHECK(labelled == 12);  // 12 steps (13 calls: one verification was re-asked), all labelled: gold is known

  auto lf = run_troupe("export --db " + shell_quote(db) + " --format llamafactory-dpo --out " + shell_quote(dir.file("lf")));
  REQUIRE(lf.exit_code == 0);
  CHECK(read_file(dir.file("lf/dataset_info.json")).find("\"formatting\":\"sharegpt\"") != std::string::npos);
}

TEST_CASE("bad workflow files exit 1 with file:line:col", "[cli][errors]") {
  TempDir dir;
  write_file(dir.file("broken.yaml"), "pipeline: spoc\nbackend: [unclosed\n");
  auto r = run_troupe("run " + shell_quote(dir.file("broken.yaml")) + " --question hi --db " + shell_quote(dir.file("db")));
  CHECK(r.exit_code == 1);
  CHECK(r.output.find(dir.file("broken.yaml") + ":") != std::string::npos);

  write_file(dir.file("unknown.yaml"), "pipeline: quantum\nbackend: {kind: http, url: http://127.0.0.1:1, model: m}\n");
  r = run_troupe("run " + shell_quote(dir.file("unknown.yaml")) + " --question hi");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("unknown.yaml:1:11") != std::string::npos);
  CHECK(r.output.find("quantum") != std::string::npos);

  write_file(dir.file("nourl.yaml"), "pipeline: spoc\nbackend:\n  kind: http\n  model: m\n");
  r = run_troupe("run " + shell_quote(dir.file("nourl.yaml")) + " --question hi");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("nourl.yaml:3:3") != std::string::npos);
  CHECK(r.output.find("url") != std::string::npos);

  r = run_troupe("run " + shell_quote(dir.file("missing.yaml")) + " --question hi");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("missing.yaml") != std::string::npos);
}

TEST_CASE("an unreachable server fails the runs with the request named, the store keeps them", "[cli][errors]") {
  TempDir dir;
  // Port 1 on loopback: nothing listens there; connection refused at once.
  std::string wf = example_workflow("http://127.0.0.1:1");
  wf.replace(wf.find("max_retries: 3"), 14, "max_retries: 1");
  write_file(dir.file("wf.yaml"), wf);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " +
                      shell_quote(kSource + "/examples/data/arithmetic.jsonl") + " --db " + shell_quote(db));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("127.0.0.1:1") != std::string::npos);
  auto store = open_store(db);
  size_t failed = 0;
  REQUIRE(store->for_each_run(memory::RunStatus::failed, [&](const memory::RunRecord& run) {
    ++failed;
    CHECK(!run.error.empty());
    return true;
  }).ok());
  CHECK(failed == 4);
}

TEST_CASE("an invalid input line exits 1 naming file and line, earlier items stay recorded", "[cli][errors]") {
  ScriptedServer srv;
  TempDir dir;
  std::string wf = example_workflow(srv.server->base_url());
  wf.replace(wf.find("concurrency: 4"), 14, "concurrency: 1");
  write_file(dir.file("wf.yaml"), wf);
  write_file(dir.file("in.jsonl"),
             "{\"id\":\"a\",\"question\":\"What is 6 * 7?\",\"answer\":\"42\"}\n"
             "{\"id\":\"b\",\"question\":\"What is 17 + 25?\",\"answer\":\"42\"}\n"
             "{\"id\":\"c\",\"question\": What is 9 * 8?}\n");
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " + shell_quote(dir.file("in.jsonl")) +
                      " --db " + shell_quote(db));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("in.jsonl:3:") != std::string::npos);
  auto store = open_store(db);
  size_t steps = 0, runs = 0;
  REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
    ++runs;
    CHECK(run.status == memory::RunStatus::succeeded);
    steps += store->read_steps(run.id)->size();
    return true;
  }).ok());
  CHECK(runs == 2);
  CHECK(steps == 2 + 4);
}

TEST_CASE("runs and show read a store, show names an unknown run", "[cli]") {
  ScriptedServer srv;
  TempDir dir;
  write_file(dir.file("wf.yaml"), example_workflow(srv.server->base_url()));
  std::string db = dir.file("db");
  REQUIRE(run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --question 'What is 17 + 25?' --db " + shell_quote(db)).exit_code == 0);
  auto runs = run_troupe("runs --db " + shell_quote(db));
  CHECK(runs.exit_code == 0);
  auto pos = runs.output.find("run-");
  REQUIRE(pos != std::string::npos);
  std::string run_id = runs.output.substr(pos, runs.output.find(' ', pos) - pos);
  auto show = run_troupe("show " + run_id + " --db " + shell_quote(db));
  CHECK(show.exit_code == 0);
  CHECK(show.output.find("solver/solution") != std::string::npos);
  CHECK(show.output.find("verdict no") != std::string::npos);
  CHECK(show.output.find("verdict yes") != std::string::npos);
  auto missing = run_troupe("show run-nope --db " + shell_quote(db));
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("run-nope") != std::string::npos);
  auto nodb = run_troupe("runs --db " + shell_quote(dir.file("nothing-here")));
  CHECK(nodb.exit_code == 1);
}

TEST_CASE("show --open prints the run's page in the daemon's viewer", "[cli][viewer]") {
  auto r = run_troupe("show run-123-abc --open --url http://127.0.0.1:9999/");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "http://127.0.0.1:9999/#/runs/run-123-abc\n");
  // The default address, and a run id that needs escaping in a URL.
  auto d = run_troupe("show 'a b/c' --open");
  CHECK(d.exit_code == 0);
  CHECK(d.output == "http://127.0.0.1:8080/#/runs/a%20b%2Fc\n");
  auto bad = run_troupe("show run-1 --open --url 127.0.0.1:8080");
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("--url") != std::string::npos);
}

TEST_CASE("doctor reports a reachable and an unreachable backend", "[cli][doctor]") {
  ScriptedServer srv;
  TempDir dir;
  write_file(dir.file("up.yaml"), example_workflow(srv.server->base_url()));
  write_file(dir.file("down.yaml"), example_workflow("http://127.0.0.1:1"));
  auto up = run_troupe("doctor --db " + shell_quote(dir.file("db")) + " -w " + shell_quote(dir.file("up.yaml")));
  INFO(up.output);
  CHECK(up.exit_code == 0);
  CHECK(up.output.find("answers") != std::string::npos);
  auto down = run_troupe("doctor --db " + shell_quote(dir.file("db")) + " -w " + shell_quote(dir.file("down.yaml")));
  CHECK(down.exit_code == 1);
  CHECK(down.output.find("fix:") != std::string::npos);
}

TEST_CASE("doctor reports the local engine's devices, --device names what it refuses", "[cli][doctor][device]") {
  TempDir dir;
  auto r = run_troupe("doctor --db " + shell_quote(dir.file("db")));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("cpu ") && Catch::Contains("kernels"));
  if (engine::local::cuda_compiled())
    CHECK_THAT(r.output, Catch::Contains("cuda       compiled in"));
  else
    CHECK_THAT(r.output, Catch::Contains("cuda       not compiled in") && Catch::Contains("fix: rebuild"));
  engine::local::RandomModelOptions m;
  REQUIRE(engine::local::write_random_model(m, dir.file("m.gguf")).ok());
  auto bad = run_troupe("generate " + shell_quote(dir.file("m.gguf")) + " --device gpu -p hi");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("--device: device 'gpu': expected cpu, cuda or cuda:N"));
  auto gpu = run_troupe("generate " + shell_quote(dir.file("m.gguf")) + " --device cuda:0 -n 2 -p hi");
  if (engine::local::make_kernels(engine::local::Device{engine::local::Device::Kind::cuda, 0}, 1).ok()) {
    CHECK(gpu.exit_code == 0);
  } else {
    CHECK(gpu.exit_code != 0);
    CHECK_THAT(gpu.output, Catch::Contains("device cuda:0") || Catch::Contains("CUDA"));
  }
}

TEST_CASE("troupe run: SPOC through the HTTP backend against troupe serve on the local engine", "[cli][e2e][local]") {
  TempDir dir;
  engine::local::RandomModelOptions m;
  m.arch = engine::local::Arch::qwen2;
  m.seed = 2;
  REQUIRE(engine::local::write_random_model(m, dir.file("m.gguf")).ok());
  engine::local::LocalEngineOptions lo;
  lo.model_path = dir.file("m.gguf");
  lo.threads = 1;
  auto local = engine::local::make_local_backend(lo);
  REQUIRE(local.ok());
  std::shared_ptr<engine::Backend> backend(std::move(local.value()));
  engine::OpenAIServer::Options so;
  so.model = "scripted";  // the name examples/spoc.yaml asks for
  engine::OpenAIServer server(backend, so);
  REQUIRE(server.start().ok());
  std::string wf = example_workflow(server.base_url());
  // Short generations keep the test fast; the random model rarely says "Yes".
  wf.replace(wf.find("max_tokens: 512"), 15, "max_tokens: 24");
  wf.replace(wf.find("max_tokens: 256"), 15, "max_tokens: 16");
  write_file(dir.file("wf.yaml"), wf);
  std::string db = dir.file("db");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " +
                      shell_quote(kSource + "/examples/data/arithmetic.jsonl") + " --db " + shell_quote(db));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto store = open_store(db);
  size_t runs = 0;
  REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
    ++runs;
    CHECK(run.status == memory::RunStatus::succeeded);
    auto steps = store->read_steps(run.id);
    REQUIRE(steps.ok());
    CHECK(steps->size() >= 2);
    CHECK(steps->front().prompt_tokens > 0);
    return true;
  }).ok());
  CHECK(runs == 4);
}
