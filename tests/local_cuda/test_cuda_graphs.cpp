// Decode steps as CUDA graphs (kernels_cuda.hpp): a replayed graph must
// compute exactly what the eager launches compute, follow each step's new
// inputs (tokens, positions, context lengths), be re-captured when the
// launches change (batch size, attention key bucket), and never reorder
// recorded launches around an eager copy or a free. GPU only (skipped with
// a warning without a CUDA device); on the simulator (tests/cuda_sim) the
// graphs are captured and replayed by it.
//
// Tolerance: none. Graphs on and off run the same kernels with the same
// arguments, so logits are compared for equality.
#include <catch2/catch.hpp>

#include "engine/local/transformer.hpp"
#include "local_cuda/cuda_test_util.hpp"

#ifdef TROUPE_CUDA_SIM
#include "troupe_cuda_sim.hpp"
#endif

using namespace troupe::cuda_test;

namespace {

std::unique_ptr<Transformer> make_transformer(const ModelShape& shape, bool graphs) {
  auto k = make_cuda_kernels({.device = 0, .graphs = graphs});
  if (!k.ok()) FAIL("make_cuda_kernels: " << k.error().describe());
  auto t = Transformer::create(make_model(shape), std::shared_ptr<Kernels>(std::move(k.value())));
  if (!t.ok()) FAIL("Transformer::create: " << t.error().describe());
  return std::move(t.value());
}

CudaGraphStats stats_of(Transformer& t) {
  auto s = cuda_graph_stats(t.kernels());
  REQUIRE(s.has_value());
  return *s;
}

std::vector<int32_t> prompt_of(int n, int vocab, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (auto& t : p) t = r.below(vocab);
  return p;
}

// Greedy decoding of several sequences in one batch: each prompt is
// prefilled alone, then all decode together; sequence s stops after
// steps[s] tokens (the batch shrinks). Returns every decode step's logits
// of every sequence still running, in order.
std::vector<std::vector<float>> decode_batch(Transformer& tr, const std::vector<std::vector<int32_t>>& prompts,
                                             const std::vector<int>& steps, KvType kv) {
  const int n = static_cast<int>(prompts.size());
  ContiguousKvCache cache(tr.config(), tr.kernels(), n, tr.config().context_length, kv);
  std::vector<int32_t> next(static_cast<size_t>(n));
  std::vector<int> pos(static_cast<size_t>(n));
  for (int s = 0; s < n; ++s) {
    const BatchEntry e = cache.entry(s, prompts[s], 0);
    auto l = tr.forward({&e, 1});
    if (!l.ok()) FAIL("prefill: " << l.error().describe());
    next[s] = argmax(l->last(0));
    pos[s] = static_cast<int>(prompts[s].size());
  }
  std::vector<std::vector<float>> out;
  for (int step = 0;; ++step) {
    std::vector<int> live;
    for (int s = 0; s < n; ++s)
      if (step < steps[s]) live.push_back(s);
    if (live.empty()) break;
    std::vector<BatchEntry> b;
    for (int s : live) b.push_back(cache.entry(s, {&next[s], 1}, pos[s]));
    auto l = tr.forward(b);
    if (!l.ok()) FAIL("decode step " << step << ": " << l.error().describe());
    for (size_t i = 0; i < live.size(); ++i) {
      const int s = live[i];
      out.emplace_back(l->last(static_cast<int>(i)).begin(), l->last(static_cast<int>(i)).end());
      next[s] = argmax(l->last(static_cast<int>(i)));
      ++pos[s];
    }
  }
  return out;
}

// Decodes the same batch on a backend with graphs off and one with graphs
// on, checks the logits are equal, and returns the graph backend's counters
// (the eager one's must show no graph).
CudaGraphStats graphs_match_eager(const ModelShape& shape, const std::vector<std::vector<int32_t>>& prompts,
                                  const std::vector<int>& steps, KvType kv) {
  auto eager = make_transformer(shape, false);
  auto graphed = make_transformer(shape, true);
  const auto want = decode_batch(*eager, prompts, steps, kv);
  const auto got = decode_batch(*graphed, prompts, steps, kv);
  CHECK(got == want);
  const CudaGraphStats e = stats_of(*eager);
  CHECK(e.captured == 0);
  CHECK(e.replayed == 0);
  return stats_of(*graphed);
}

}  // namespace

TEST_CASE("cuda graphs: decode steps replay as one graph and give exactly the eager logits", "[cuda][graphs]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  for (KvType kv : {KvType::f32, KvType::f16, KvType::bf16}) {
    INFO(to_string(kv) << " KV");
    ModelShape shape;
    const int steps = 16;
    const CudaGraphStats g = graphs_match_eager(shape, {prompt_of(12, shape.vocab, 3)}, {steps}, kv);
    INFO("captured " << g.captured << ", replayed " << g.replayed << ", eager " << g.eager_steps);
    // One key for the whole run: seen once eagerly (plus a first step that
    // may grow scratch buffers), captured on the second sight, then replayed.
    CHECK(g.captured == 1);
    CHECK(g.replayed >= static_cast<uint64_t>(steps - 2));
    CHECK(g.capture_failures == 0);
  }
}

TEST_CASE("cuda graphs: batch sizes of one bucket share one graph, same logits as eager", "[cuda][graphs]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  ModelShape shape;
  REQUIRE(make_transformer(shape, true)->kernels().decode_rows(5) == 8);
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < 7; ++s) prompts.push_back(prompt_of(4 + 3 * s, shape.vocab, 20 + s));
  // 7 sequences decoding, finishing one after another down to 5: every
  // step is padded to 8 rows and makes the same launches.
  const CudaGraphStats g = graphs_match_eager(shape, prompts, {12, 12, 12, 12, 12, 8, 4}, KvType::f16);
  INFO("captured " << g.captured << ", replayed " << g.replayed << ", eager " << g.eager_steps);
  CHECK(g.captured == 1);
  CHECK(g.replayed >= 12 - 2);
}

TEST_CASE("cuda graphs: a shrinking batch gets a graph per bucket, same logits as eager", "[cuda][graphs]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  ModelShape shape;
  shape.type = TensorType::q8_0;
  const std::vector<std::vector<int32_t>> prompts = {prompt_of(9, shape.vocab, 4), prompt_of(17, shape.vocab, 5),
                                                     prompt_of(3, shape.vocab, 6)};
  // Batch of 3 (bucket 4) for 6 steps, of 2 for 6 more, then 1 alone for 6.
  const CudaGraphStats g = graphs_match_eager(shape, prompts, {18, 12, 6}, KvType::f32);
  INFO("captured " << g.captured << ", replayed " << g.replayed << ", eager " << g.eager_steps);
  CHECK(g.captured == 3);
  CHECK(g.cached == 3);
  CHECK(g.replayed >= 3 * 3);
}

TEST_CASE("cuda graphs: contexts growing past an attention key bucket re-capture and stay exact",
          "[cuda][graphs]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  ModelShape shape;
  // Positions 246.. 265: the longest context crosses 256 keys mid-run.
  const CudaGraphStats g = graphs_match_eager(shape, {prompt_of(246, shape.vocab, 8)}, {20}, KvType::f32);
  INFO("captured " << g.captured << ", replayed " << g.replayed << ", eager " << g.eager_steps);
  CHECK(g.captured == 2);
  CHECK(g.replayed >= 20 - 4);
}

TEST_CASE("cuda graphs: prefill steps are never recorded", "[cuda][graphs]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  ModelShape shape;
  auto graphed = make_transformer(shape, true);
  ContiguousKvCache cache(graphed->config(), graphed->kernels(), 1, shape.context);
  const auto prompt = prompt_of(20, shape.vocab, 9);
  for (int i = 0; i < 3; ++i) {
    const BatchEntry e = cache.entry(0, prompt, 0);
    REQUIRE(graphed->forward({&e, 1}).ok());
  }
  const CudaGraphStats g = stats_of(*graphed);
  CHECK(g.captured == 0);
  CHECK(g.replayed == 0);
  CHECK(g.eager_steps == 0);
}

TEST_CASE("cuda graphs: an eager copy or a free inside a recorded step comes after the ops before it",
          "[cuda][graphs]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_cuda_kernels({.device = 0, .graphs = true});
  REQUIRE(gpu.ok());
  Kernels& k = **gpu;
  const size_t n = 1000;
  const std::vector<float> ones(n, 1.0f), twos(n, 2.0f);
  const int32_t ids[] = {0}, positions[] = {5}, table[] = {0};
  for (int round = 0; round < 4; ++round) {  // enough rounds for a capture and replays
    INFO("round " << round);
    auto y = to_device(k, std::vector<float>(n, 0.0f));
    auto x = to_device(k, ones);
    auto tmp = to_device(k, twos);
    k.begin_step({ids, positions, {table}});  // a decode step: recorded
    k.add(y.get(), x.get(), n);               // y = 1
    k.from_host(twos.data(), x.get(), n);     // x = 2 only after the add above
    k.add(y.get(), x.get(), n);               // y = 3
    k.add(y.get(), tmp.get(), n);             // y = 5
    tmp.reset();                              // freed: the add above must have run first
    const auto got = from_device(k, y.get(), n);
    CHECK(got == std::vector<float>(n, 5.0f));
    REQUIRE(k.take_error().ok());
  }
}

#ifdef TROUPE_CUDA_SIM
TEST_CASE("cuda graphs: on the simulator a replayed decode step is one graph launch and no eager kernel",
          "[cuda][graphs]") {
  ModelShape shape;
  auto graphed = make_transformer(shape, true);
  ContiguousKvCache cache(graphed->config(), graphed->kernels(), 1, shape.context);
  const auto prompt = prompt_of(10, shape.vocab, 30);
  const BatchEntry first = cache.entry(0, prompt, 0);
  auto l = graphed->forward({&first, 1});
  REQUIRE(l.ok());
  int32_t token = argmax(l->last(0));
  int pos = static_cast<int>(prompt.size());
  troupe::cuda_sim::Counters during{};
  for (int step = 0; step < 4; ++step, ++pos) {  // eager (first sight), capture, replay, replay
    if (step == 3) troupe::cuda_sim::reset_counters();
    const BatchEntry e = cache.entry(0, {&token, 1}, pos);
    auto d = graphed->forward({&e, 1});
    REQUIRE(d.ok());
    token = argmax(d->last(0));
    if (step == 3) during = troupe::cuda_sim::counters();
  }
  CHECK(during.graph_launches == 1);
  CHECK(during.kernels_eager == 0);
  // Every layer's kernels ran from the graph: at least one per op of a layer.
  CHECK(during.kernels_in_graphs >= static_cast<uint64_t>(10 * shape.layers));
}
#endif
