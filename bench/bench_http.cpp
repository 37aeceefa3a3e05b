// Requests per second of HttpBackend against an in-process OpenAIServer over
// an instant Backend: the cost of the HTTP path itself (JSON, SSE, curl,
// httplib), not of a model. Each iteration submits a batch of requests that
// are in flight together and waits for all of them.
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <memory>
#include <mutex>

#include "engine/http/http_backend.hpp"
#include "engine/serve/openai_server.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

// Answers every request at once with n short choices, streamed in two
// pieces each when on_delta is set.
class InstantBackend : public Backend {
 public:
  void submit(GenerateRequest r, GenerateCallback done) override {
    GenerateResult res;
    res.request_id = r.id;
    for (int i = 0; i < r.sampling.n; ++i) {
      Choice c;
      c.index = i;
      c.text = "The answer is 42.";
      if (r.on_delta) {
        r.on_delta(i, "The answer ");
        r.on_delta(i, "is 42.");
      }
      res.choices.push_back(std::move(c));
    }
    res.usage = {12, 0, 5};
    done(std::move(res));
  }
  void cancel(const std::string&) override {}
  BackendInfo info() const override { return {"instant", "instant", ""}; }
};

void BM_HttpBackendRoundTrip(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const bool stream = state.range(1) != 0;
  const int batch = static_cast<int>(state.range(2));

  OpenAIServer::Options so;
  so.limits.workers = 2 * batch;
  OpenAIServer server(std::make_shared<InstantBackend>(), so);
  if (!server.start().ok()) {
    state.SkipWithError("server did not start");
    return;
  }
  HttpBackend::Config cfg;
  cfg.base_url = server.base_url();
  cfg.model = "bench";
  cfg.stream = stream;
  cfg.max_in_flight = batch;
  auto created = HttpBackend::create(cfg);
  if (!created.ok()) {
    state.SkipWithError("backend not created");
    return;
  }
  auto backend = std::move(created).value();

  std::mutex mu;
  std::condition_variable cv;
  int64_t failures = 0;
  for (auto _ : state) {
    int pending = batch;
    for (int i = 0; i < batch; ++i) {
      GenerateRequest r;
      r.messages = {{"user", "What is six times seven?"}};
      r.sampling.n = n;
      r.sampling.max_tokens = 16;
      if (stream) r.on_delta = [](int, const std::string&) {};
      backend->submit(std::move(r), [&](Result<GenerateResult> res) {
        std::lock_guard<std::mutex> lock(mu);
        if (!res.ok() || static_cast<int>(res->choices.size()) != n) ++failures;
        if (--pending == 0) cv.notify_one();
      });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }
  if (failures > 0) state.SkipWithError("some requests failed");
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["choices/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch * n), benchmark::Counter::kIsRate);
}

}  // namespace

// Args: n, stream (0/1), requests in flight.
BENCHMARK(BM_HttpBackendRoundTrip)
    ->ArgNames({"n", "stream", "in_flight"})
    ->Args({1, 0, 16})
    ->Args({1, 1, 16})
    ->Args({8, 0, 16})
    ->Args({8, 1, 16})
    ->Args({1, 0, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
