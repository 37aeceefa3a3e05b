// Orchestration cost of the actor runtime, as ratios within one run:
//  1. The latency of one actor request/response hop: a driver actor asks a
//     role-shaped actor (RoleTask -> RoleOutput, the runtime's real message
//     types) and waits for the answer, sequentially; baseline: the same
//     round trip between two plain threads through a mutex and condition
//     variable (what a hand-written worker queue costs).
//  2. Per pipeline, on the local engine: wall time of `troupe run` (the
//     Runner, store writes included) minus the time the engine had at least
//     one request in flight, as a fraction of wall time. Items run one at a
//     time so every gap between engine requests is the runtime's.
//   build/release/bench/bench_orchestration [--hops 20000] [--items 4]
//       [--model stories260K.bin --tokenizer tok512.bin] [--only NAME]
// Without --model, a random-weight llama (dim 256, 4 layers, 4096-token
// context) is written to a temporary folder: its text is meaningless, but
// every call generates its full max_tokens, so the work per run is fixed.
// --model stories260K.bin --tokenizer tok512.bin uses the real 260K model
// (512-token context: some cases then overflow and are reported as failed).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/messages.hpp"
#include "actors/roles.hpp"
#include "common/clock.hpp"
#include "engine/local/model_random.hpp"
#include "workflows/inputs.hpp"
#include "workflows/runner.hpp"
#include "workflows/workflow.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Percentiles {
  double median = 0, p99 = 0;
};

Percentiles percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

// ---- 1. actor hop ---------------------------------------------------------

using echo_actor = actors::role_actor;

echo_actor::behavior_type echo_role() {
  return {[](actors::RoleTask& task) -> actors::RoleOutput {
    actors::RoleOutput out;
    out.role = "echo";
    actors::Candidate c;
    c.text = task.vars["question"];
    out.candidates.push_back(std::move(c));
    return out;
  }};
}

struct DriverState {
  std::vector<double>* us = nullptr;
  int left = 0;
  Clock::time_point sent;
  static inline const char* name = "hop_driver";
};

using driver_actor = caf::typed_actor<caf::reacts_to<actors::start_atom>>;

void ask_next(driver_actor::stateful_pointer<DriverState> self, echo_actor echo, std::shared_ptr<std::promise<void>> done) {
  if (self->state.left-- == 0) {
    done->set_value();  // the results are in *us; the waiting thread reads them now
    self->quit();
    return;
  }
  actors::RoleTask t;
  t.run_id = "run";
  t.request_id = "req";
  t.vars["question"] = "What is 2 + 2? Reason step by step.";
  self->state.sent = Clock::now();
  self->request(echo, caf::infinite, std::move(t)).then([self, echo, done](actors::RoleOutput&) {
    self->state.us->push_back(std::chrono::duration<double, std::micro>(Clock::now() - self->state.sent).count());
    ask_next(self, echo, done);
  });
}

driver_actor::behavior_type driver(driver_actor::stateful_pointer<DriverState> self, echo_actor echo, int hops,
                                   std::shared_ptr<std::promise<void>> done, std::vector<double>* out) {
  self->state.left = hops;
  self->state.us = out;
  out->reserve(hops);
  return {[self, echo, done](actors::start_atom) { ask_next(self, echo, done); }};
}

std::vector<double> actor_hops(int hops) {
  caf::actor_system_config cfg;
  actors::add_message_types(cfg);
  std::vector<double> us;
  {
    caf::actor_system sys{cfg};
    auto echo = sys.spawn(echo_role);
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    auto d = sys.spawn(driver, echo, hops, done, &us);
    caf::anon_send(d, actors::start_atom_v);
    fut.wait();
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }
  return us;
}

std::vector<double> thread_hops(int hops) {
  std::mutex m;
  std::condition_variable cv;
  int turn = 0;  // 0: driver may send, 1: worker has a request, 2: reply ready
  std::string payload;
  std::vector<double> us;
  us.reserve(hops);
  std::thread worker([&] {
    for (int i = 0; i < hops; ++i) {
      std::unique_lock<std::mutex> lk(m);
      cv.wait(lk, [&] { return turn == 1; });
      payload += "!";
      turn = 2;
      cv.notify_all();
    }
  });
  for (int i = 0; i < hops; ++i) {
    auto t0 = Clock::now();
    std::unique_lock<std::mutex> lk(m);
    payload = "What is 2 + 2? Reason step by step.";
    turn = 1;
    cv.notify_all();
    cv.wait(lk, [&] { return turn == 2; });
    turn = 0;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  worker.join();
  return us;
}

// ---- 2. pipelines on the local engine ---------------------------------------

// Wraps a backend and measures the time during which at least one request
// was in flight.
class BusyTimer : public engine::Backend {
 public:
  explicit BusyTimer(std::shared_ptr<engine::Backend> inner) : inner_(std::move(inner)) {}
  void submit(engine::GenerateRequest r, engine::GenerateCallback done) override {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (in_flight_++ == 0) since_ = Clock::now();
      ++requests_;
    }
    inner_->submit(std::move(r), [this, done = std::move(done)](Result<engine::GenerateResult> res) {
      {
        std::lock_guard<std::mutex> lk(m_);
        if (--in_flight_ == 0) busy_ += Clock::now() - since_;
      }
      done(std::move(res));
    });
  }
  void cancel(const std::string& id) override { inner_->cancel(id); }
  engine::BackendInfo info() const override { return inner_->info(); }
  double busy_s() {
    std::lock_guard<std::mutex> lk(m_);
    return std::chrono::duration<double>(busy_).count();
  }
  int64_t requests() {
    std::lock_guard<std::mutex> lk(m_);
    return requests_;
  }

 private:
  std::shared_ptr<engine::Backend> inner_;
  std::mutex m_;
  int in_flight_ = 0;
  int64_t requests_ = 0;
  Clock::time_point since_;
  Clock::duration busy_{};
};

struct PipelineCase {
  std::string name;
  std::string chat_template;
  std::string body;  // workflow YAML after the backend and store sections
};

// Small but real settings: a few hundred to a few thousand generated tokens
// per run, inside stories260K's 512-token context.
std::vector<PipelineCase> cases() {
  return {
      {"spoc", "chatml",
       "pipeline: spoc\n"
       "roles:\n  solver: {sampling: {temperature: 0.7, max_tokens: 96, seed: 1}}\n"
       "  verifier: {sampling: {temperature: 0.0, max_tokens: 48}, parse_retries: 0}\n"
       "params: {max_turns: 3}\n"},
      {"leap", "chatml",
       "pipeline: leap\n"
       "roles:\n  solver: {sampling: {temperature: 0.6, top_p: 0.95, min_p: 0.05, top_k: 40, max_tokens: 128, seed: 1}}\n"
       "params: {paths: 4, segment_tokens: 48, max_turns: 3, summary_tokens: 16, answer_tokens: 8, top_k: 2,\n"
       "  instruction: \" Summarize in <summarize> </summarize>.\", prefill: \"I will summarize when asked.\\n\\n\",\n"
       "  answer_prefix: \"\\n\\nAnswer: \\\\boxed{\"}\n"},
      {"iad", "chatml",
       "pipeline: iad\n"
       "roles:\n  solver: {sampling: {temperature: 0.8, max_tokens: 64}}\n"
       "  verifier: {sampling: {temperature: 0.0, max_tokens: 16}, parse_retries: 0}\n"
       "params: {candidates: 4, rounds: 2, verifier: judge, early_stop: false}\n"},
      {"archon", "chatml",
       "pipeline: archon\n"
       "roles:\n  generator: {sampling: {temperature: 0.7, max_tokens: 24, seed: 1}}\n"
       "  critic: {sampling: {temperature: 0.7, max_tokens: 32, seed: 1}}\n"
       "  ranker: {sampling: {temperature: 0.7, max_tokens: 16, seed: 1}}\n"
       "  fuser: {sampling: {temperature: 0.7, max_tokens: 32, seed: 1}}\n"
       "params:\n  parse_retries: 1\n  layers:\n    - [{type: generator, samples: 3}]\n"
       "    - [{type: critic}]\n    - [{type: ranker, top_k: 2}]\n    - [{type: fuser}]\n"},
      {"coc", "llama2",
       "pipeline: coc\n"
       "roles:\n  clarifier: {template: \"Ask about: {question}\", sampling: {temperature: 1.0, top_p: 0.95, max_tokens: 12, seed: 1}}\n"
       "  grounder: {template: \"Q: {question} C: {chunk} yes or no?\", sampling: {temperature: 0.2, max_tokens: 8, seed: 1}}\n"
       "  solver: {template: \"Now answer: {question}\", sampling: {temperature: 0.2, max_tokens: 12, seed: 1}}\n"
       "  verifier: {template: \"Right? JSON.\", sampling: {temperature: 0.2, max_tokens: 8, seed: 1}, parse_retries: 0}\n"
       "params: {questions: 2, max_rounds: 2, chunk_tokens: 8, system_prompt: \"Be brief.\"}\n"},
  };
}

struct Row {
  std::string name;
  int64_t runs = 0, failed = 0, calls = 0, requests = 0, tokens = 0;
  double wall_s = 0, busy_s = 0;
  std::string first_error;
};

Result<Row> run_case(const PipelineCase& c, const std::string& model, const std::string& tokenizer, int items,
                     const fs::path& dir) {
  // A llama2.c checkpoint brings its tokenizer and needs the case's chat
  // template (stories260K's 512-token context); the random GGUF has ChatML.
  std::string backend_yaml = "backend:\n  kind: local\n  model_file: " + model + "\n  threads: 1\n  kv_mb: 128\n";
  if (!tokenizer.empty()) backend_yaml += "  tokenizer: " + tokenizer + "\n  chat_template: " + c.chat_template + "\n";
  std::string yaml = "name: bench-" + c.name + "\n" + c.body + backend_yaml +
                     "store:\n  path: " + (dir / (c.name + ".db")).string() + "\nconcurrency: 1\n";
  auto wf = workflows::parse_workflow(yaml, (dir / (c.name + ".yaml")).string());
  if (!wf.ok()) return wf.error();
  auto backend = workflows::make_backend(wf->backend);
  if (!backend.ok()) return backend.error();
  auto timer = std::make_shared<BusyTimer>(*backend);
  workflows::RunnerOptions opt;
  opt.backend = timer;
  auto runner = workflows::Runner::create(*wf, opt);
  if (!runner.ok()) return runner.error();
  std::vector<actors::RunInput> inputs;
  for (int i = 0; i < items; ++i) {
    actors::RunInput in;
    in.item_id = "item-" + std::to_string(i);
    in.question = "Once upon a time there was a little girl named Lily. What did she find? " + std::to_string(i);
    in.raw_json = "{\"question\":\"What did Lily find?\",\"context\":\"Lily went to the park. She found a red ball. "
                  "Tom was sad because he lost his ball. Lily gave the ball to Tom.\"}";
    inputs.push_back(in);
  }
  workflows::VectorInputs src(inputs);
  Stopwatch sw;
  std::string first_error;
  auto sum = (*runner)->run(src, [&](const actors::RunOutcome& o, const workflows::RunSummary&) {
    if (first_error.empty() && !o.error.empty()) first_error = o.error;
  });
  double wall = sw.elapsed_ms() / 1000.0;
  if (!sum.ok()) return sum.error();
  Row r;
  r.name = c.name;
  r.runs = sum->items;
  r.failed = sum->failed + sum->cancelled;
  r.calls = sum->calls;
  r.requests = timer->requests();
  r.tokens = sum->prompt_tokens + sum->completion_tokens;
  r.wall_s = wall;
  r.busy_s = timer->busy_s();
  r.first_error = first_error;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int hops = 20000, items = 4;
  std::string model, tokenizer, only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--hops") hops = std::stoi(next());
    else if (a == "--items") items = std::stoi(next());
    else if (a == "--model") model = next();
    else if (a == "--tokenizer") tokenizer = next();
    else if (a == "--only") only = next();
    else {
      std::fprintf(stderr, "usage: bench_orchestration [--hops N] [--items N] [--model M --tokenizer T] [--only NAME]\n");
      return 2;
    }
  }

  auto actor = percentiles(actor_hops(hops));
  auto thread = percentiles(thread_hops(hops));
  std::printf("request/response hop (%d sequential round trips)\n", hops);
  std::printf("| path | median us | p99 us |\n|---|---|---|\n");
  std::printf("| CAF actor -> role actor -> reply (RoleTask/RoleOutput) | %.2f | %.2f |\n", actor.median, actor.p99);
  std::printf("| thread -> thread (mutex + condition variable), baseline | %.2f | %.2f |\n", thread.median, thread.p99);
  std::printf("actor/baseline median ratio: %.2f\n\n", thread.median > 0 ? actor.median / thread.median : 0.0);

  testing::TempDir dir;
  std::string model_desc;
  if (model.empty()) {
    engine::local::RandomModelOptions m;
    m.dim = 256;
    m.n_layers = 4;
    m.n_heads = 8;
    m.n_kv_heads = 8;
    m.ffn_dim = 768;
    m.vocab_size = 2048;
    m.context_length = 4096;
    model = dir.file("random.gguf");
    if (Status s = engine::local::write_random_model(m, model); !s.ok()) {
      std::fprintf(stderr, "writing the random model: %s\n", s.error().describe().c_str());
      return 1;
    }
    model_desc = "random llama, dim 256, 4 layers, vocab 2048, f32";
  } else {
    model_desc = fs::path(model).filename().string();
  }
  std::printf("orchestration overhead on the local engine (%s, 1 thread, %d items one at a time)\n",
              model_desc.c_str(), items);
  std::printf("| pipeline | runs | failed | role calls | engine requests | tokens | wall s | engine busy s | overhead |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  int rc = 0;
  std::string errors;
  for (const auto& c : cases()) {
    if (!only.empty() && c.name != only) continue;
    auto r = run_case(c, model, tokenizer, items, dir.path());
    if (!r.ok()) {
      std::printf("| %s | error: %s |\n", c.name.c_str(), r.error().describe().c_str());
      rc = 1;
      continue;
    }
    std::printf("| %s | %lld | %lld | %lld | %lld | %lld | %.3f | %.3f | %.2f%% |\n", r->name.c_str(),
                static_cast<long long>(r->runs), static_cast<long long>(r->failed), static_cast<long long>(r->calls),
                static_cast<long long>(r->requests), static_cast<long long>(r->tokens), r->wall_s, r->busy_s,
                100.0 * (r->wall_s - r->busy_s) / r->wall_s);
    if (!r->first_error.empty()) errors += c.name + ": " + r->first_error + "\n";
  }
  if (!errors.empty()) std::printf("\nfailed runs (first error per pipeline):\n%s", errors.c_str());
  return rc;
}
