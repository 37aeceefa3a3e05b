// Trajectory store throughput: steps written per second with one WriteBatch
// per step vs one per 8 or 64 steps, and steps read back per second.
// Realistic sizes: a ~4 KB prompt shared by every step (stored once as a
// blob), a ~2 KB completion per step. WAL on, sync off and on, on a temp folder.
#include <benchmark/benchmark.h>

#include <random>

#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe::memory;

namespace {

std::string text_of_size(size_t n, uint32_t seed) {
  static const char* words[] = {"the ", "answer ", "is ", "therefore ", "because ", "we ", "compute ", "x = ",
                                "42", ", ", "and ", "check ", "step ", "\n"};
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < n) out += words[rng() % (sizeof words / sizeof *words)];
  out.resize(n);
  return out;
}

std::vector<Message> shared_prompt() {
  return {{"system", text_of_size(1024, 1)}, {"user", text_of_size(3072, 2)}};
}

StepRecord make_step(const std::vector<Message>& prompt, uint32_t seed) {
  StepRecord s;
  s.role = "solver";
  s.kind = "generate";
  s.prompt = prompt;
  s.completion = text_of_size(2048, seed);
  s.answer = "42";
  s.prompt_tokens = 1000;
  s.completion_tokens = 500;
  s.finish_reason = "stop";
  s.latency_ms = 850.0;
  s.backend = "http:qwen2.5-7b";
  s.sampling_json = R"({"temperature":0.7,"top_p":0.95,"max_tokens":1024})";
  s.created_ms = 1700000000000;
  return s;
}

std::unique_ptr<Store> open_store(const troupe::testing::TempDir& dir, bool sync = false) {
  auto store = Store::open(dir.file("db"), {.sync = sync});
  if (!store) throw std::runtime_error(store.error().describe());
  return std::move(store.value());
}

// Writes steps in batches of state.range(0); a run holds 64 steps.
// state.range(1) = 1: fsync every batch (StoreOptions.sync), as a store
// that must not lose an acknowledged step across a power cut would.
void BM_AppendSteps(benchmark::State& state) {
  const size_t batch_size = static_cast<size_t>(state.range(0));
  troupe::testing::TempDir dir;
  auto store = open_store(dir, state.range(1) != 0);
  const auto prompt = shared_prompt();
  std::vector<StepRecord> batch;
  for (size_t i = 0; i < batch_size; ++i) batch.push_back(make_step(prompt, static_cast<uint32_t>(100 + i)));
  uint64_t next = 0;
  for (auto _ : state) {
    for (auto& s : batch) {
      s.run_id = "run-" + std::to_string(next / 64);
      s.seq = next % 64;
      ++next;
    }
    auto st = store->append_steps(batch);
    if (!st) state.SkipWithError(st.error().describe().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(next));
  state.SetBytesProcessed(static_cast<int64_t>(next * 2048));
}
BENCHMARK(BM_AppendSteps)
    ->ArgsProduct({{1, 8, 64}, {0, 1}})
    ->ArgNames({"steps_per_batch", "sync"})
    ->UseRealTime();

// Reads whole runs of 64 steps (prompt blob resolved once per run).
void BM_ReadSteps(benchmark::State& state) {
  troupe::testing::TempDir dir;
  auto store = open_store(dir);
  const auto prompt = shared_prompt();
  constexpr int kRuns = 200;
  constexpr int kSteps = 64;
  for (int r = 0; r < kRuns; ++r) {
    std::vector<StepRecord> steps;
    for (int i = 0; i < kSteps; ++i) {
      steps.push_back(make_step(prompt, static_cast<uint32_t>(r * kSteps + i)));
      steps.back().run_id = "run-" + std::to_string(r);
      steps.back().seq = static_cast<uint64_t>(i);
    }
    if (!store->append_steps(steps)) throw std::runtime_error("setup write failed");
  }
  int64_t items = 0;
  int r = 0;
  for (auto _ : state) {
    auto steps = store->read_steps("run-" + std::to_string(r++ % kRuns));
    if (!steps || steps->size() != kSteps) state.SkipWithError("read_steps failed");
    items += kSteps;
    benchmark::DoNotOptimize(steps);
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_ReadSteps)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
