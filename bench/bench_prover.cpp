// The prover bridge on FOLIO validation's gold FOL (../shared/data/folio):
//   BM_ParseFolio       parse + TPTP emission of all 204 examples (no E)
//   BM_DecideFolio      every parsable example decided with E, one at a time
//                       (both calls in parallel), reporting per-example wall
//                       time: median_ms, p95_ms, max_ms, and cpu_max_ms (E's
//                       CPU time for both calls of the slowest example)
//   BM_DecideFolioJobs  the same through Prover with --jobs = cores
// Run: build/<dir>/bench/bench_prover --benchmark_counters_tabular=true
// Figures measured on the project's build machine are in docs/prover.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "prover_bridge/folio.hpp"
#include "prover_bridge/prover.hpp"
#include "prover_bridge/tptp.hpp"

using namespace troupe::prover;

namespace {

const std::vector<troupe::testing::FolioItem>& folio() {
  static const auto items = troupe::testing::load_folio();
  return items;
}

bool ready(benchmark::State& state, bool need_e) {
  if (folio().empty()) {
    state.SkipWithError("FOLIO data not found (needs ../shared/data/folio)");
    return false;
  }
  if (need_e && !check_eprover("eprover").ok()) {
    state.SkipWithError("eprover not installed (sudo apt-get install eprover)");
    return false;
  }
  return true;
}

void report(benchmark::State& state, std::vector<double> wall, std::vector<double> cpu) {
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  state.counters["examples"] = static_cast<double>(wall.size());
  state.counters["median_ms"] = wall[wall.size() / 2];
  state.counters["p95_ms"] = wall[wall.size() * 95 / 100];
  state.counters["max_ms"] = wall.back();
  state.counters["cpu_max_ms"] = cpu.back();
}

void BM_ParseFolio(benchmark::State& state) {
  if (!ready(state, false)) return;
  size_t formulas = 0;
  for (auto _ : state) {
    for (const auto& item : folio()) {
      auto t = translate(item.problem.premises, item.problem.conclusion);
      benchmark::DoNotOptimize(t);
      formulas += item.problem.premises.size() + 1;
    }
  }
  state.counters["formulas/s"] = benchmark::Counter(static_cast<double>(formulas), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseFolio)->Unit(benchmark::kMillisecond);

void BM_DecideFolio(benchmark::State& state) {
  if (!ready(state, true)) return;
  ProverOptions o;
  o.cpu_limit_s = 2;
  std::vector<double> wall, cpu;
  for (auto _ : state) {
    wall.clear();
    cpu.clear();
    for (const auto& item : folio()) {
      ProofResult r = decide(item.problem, o);
      if (r.szs[0].empty()) continue;  // did not parse
      wall.push_back(r.ms);
      cpu.push_back(r.cpu_ms);
    }
  }
  report(state, wall, cpu);
}
BENCHMARK(BM_DecideFolio)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_DecideFolioJobs(benchmark::State& state) {
  if (!ready(state, true)) return;
  ProverOptions o;
  o.cpu_limit_s = 2;
  o.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto prover = Prover::create(o);
  if (!prover.ok()) {
    state.SkipWithError(prover.error().describe().c_str());
    return;
  }
  std::vector<double> wall, cpu;
  for (auto _ : state) {
    std::mutex mu;
    std::condition_variable cv;
    size_t done = 0;
    wall.clear();
    cpu.clear();
    for (const auto& item : folio())
      (*prover)->submit(item.problem, [&](ProofResult r) {
        std::lock_guard<std::mutex> lock(mu);
        if (!r.szs[0].empty()) {
          wall.push_back(r.ms);
          cpu.push_back(r.cpu_ms);
        }
        ++done;
        cv.notify_all();
      });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == folio().size(); });
  }
  report(state, wall, cpu);
  state.counters["jobs"] = o.jobs;
}
BENCHMARK(BM_DecideFolioJobs)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
