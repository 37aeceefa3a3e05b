// Properties of the forward pass on random-weight models (llama and qwen2
// shapes, GQA, biases, tied and untied outputs):
// - batch invariance: a sequence's logits are bit-identical alone and inside
//   a batch of other sequences, and across thread counts;
// - prefill of N tokens at once equals N single-token steps;
// - a paged KV layout (small scattered blocks in a shared pool, a prefix
//   block shared by two sequences) equals the contiguous one;
// - the optimised path agrees with the reference kernels for every weight type;
// - bad inputs are errors naming the problem, never crashes.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/local/kernels.hpp"
#include "engine/local/transformer.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::make_random_model;
using troupe::testing::RandomModelSpec;

namespace {

std::unique_ptr<Transformer> make(const RandomModelSpec& spec, std::shared_ptr<Kernels> k) {
  auto t = Transformer::create(make_random_model(spec), std::move(k));
  REQUIRE(t.ok());
  return std::move(t.value());
}

std::vector<int32_t> tokens(int n, int vocab, int seed) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + seed * 11 + 5) % vocab);
  return t;
}

std::vector<float> as_vec(std::span<const float> s) { return {s.begin(), s.end()}; }

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

const RandomModelSpec kLlama{};  // dim 64, 2 layers, 4 heads / 2 kv heads, untied
RandomModelSpec qwen_spec() {
  RandomModelSpec s;
  s.arch = Arch::qwen2;
  s.tied = true;
  s.heads = 4;
  s.kv_heads = 1;
  s.seed = 2;
  return s;
}

}  // namespace

TEST_CASE("a sequence's logits are identical alone and inside a batch, at any thread count", "[forward]") {
  for (const RandomModelSpec& spec : {kLlama, qwen_spec()}) {
    INFO(to_string(spec.arch));
    std::vector<std::vector<float>> per_threads;
    for (int threads : {1, 2}) {
      auto tr = make(spec, make_cpu_kernels({.threads = threads}));
      const auto a = tokens(9, spec.vocab, 1), b = tokens(4, spec.vocab, 2), c = tokens(13, spec.vocab, 3);
      // Alone: prefill a.
      ContiguousKvCache alone(tr->config(), tr->kernels(), 1, 64);
      const BatchEntry ea = alone.entry(0, a, 0);
      auto l_alone = tr->forward({&ea, 1});
      REQUIRE(l_alone.ok());
      // In a batch: b and c first prefilled, then a in the middle of a batch
      // where b decodes one token and c prefills more.
      ContiguousKvCache shared(tr->config(), tr->kernels(), 3, 64);
      BatchEntry first[] = {shared.entry(1, b, 0), shared.entry(2, std::span(c).first(8), 0)};
      first[1].want_logits = false;  // a prefill chunk mid-prompt
      auto l_first = tr->forward(first);
      REQUIRE(l_first.ok());
      CHECK(l_first->n_rows[1] == 0);
      CHECK(l_first->values.size() == static_cast<size_t>(spec.vocab));
      const int32_t b_next[] = {7};
      const BatchEntry mixed[] = {shared.entry(1, b_next, 4), shared.entry(0, a, 0),
                                  shared.entry(2, std::span(c).subspan(8), 8, true)};
      auto l_batch = tr->forward(mixed);
      REQUIRE(l_batch.ok());
      CHECK(as_vec(l_alone->last(0)) == as_vec(l_batch->last(1)));
      per_threads.push_back(as_vec(l_alone->last(0)));
    }
    CHECK(per_threads[0] == per_threads[1]);
  }
}

TEST_CASE("prefill of N tokens at once equals N single-token decode steps", "[forward]") {
  for (const RandomModelSpec& spec : {kLlama, qwen_spec()}) {
    INFO(to_string(spec.arch));
    auto tr = make(spec, make_cpu_kernels({.threads = 2}));
    const auto prompt = tokens(12, spec.vocab, 4);
    ContiguousKvCache c1(tr->config(), tr->kernels(), 1, 32), c2(tr->config(), tr->kernels(), 1, 32);
    const BatchEntry all = c1.entry(0, prompt, 0, /*all_logits=*/true);
    auto prefill = tr->forward({&all, 1});
    REQUIRE(prefill.ok());
    REQUIRE(prefill->n_rows[0] == 12);
    for (int pos = 0; pos < 12; ++pos) {
      const BatchEntry one = c2.entry(0, std::span(prompt).subspan(pos, 1), pos);
      auto step = tr->forward({&one, 1});
      REQUIRE(step.ok());
      INFO("position " << pos);
      CHECK(max_diff(as_vec(step->last(0)), as_vec(prefill->row(pos))) <= 1e-5f);
    }
  }
}

TEST_CASE("a paged KV layout with scattered blocks gives the same logits as a contiguous cache", "[forward]") {
  auto tr = make(qwen_spec(), make_cpu_kernels({.threads = 2}));
  const ModelConfig& c = tr->config();
  const int kvd = tr->kv_dim(), block = 4, n_phys = 16;
  // One pool for two sequences; blocks interleaved and out of order.
  std::vector<std::shared_ptr<float[]>> bufs;
  KvPool pool;
  pool.block_size = block;
  pool.row_stride = kvd;
  pool.block_stride = static_cast<int64_t>(block) * kvd;
  for (int l = 0; l < c.n_layers; ++l) {
    bufs.push_back(tr->kernels().alloc(static_cast<size_t>(n_phys) * block * kvd));
    pool.k.push_back(bufs.back().get());
    bufs.push_back(tr->kernels().alloc(static_cast<size_t>(n_phys) * block * kvd));
    pool.v.push_back(bufs.back().get());
  }
  const std::vector<int32_t> t0 = {9, 2, 14, 5}, t1 = {0, 11, 7, 3};
  const auto a = tokens(10, c.vocab_size, 5), b = tokens(13, c.vocab_size, 6);
  const BatchEntry paged1[] = {{std::span(a).first(6), 0, &pool, t0, false}, {std::span(b).first(9), 0, &pool, t1, false}};
  REQUIRE(tr->forward(paged1).ok());
  const BatchEntry paged2[] = {{std::span(a).subspan(6), 6, &pool, t0, false}, {std::span(b).subspan(9), 9, &pool, t1, false}};
  auto lp = tr->forward(paged2);
  REQUIRE(lp.ok());
  // A third sequence shares a's first block (same 4 tokens: prefix sharing)
  // and computes only from position 4 on.
  std::vector<int32_t> d(a.begin(), a.begin() + 4);
  for (int32_t t : tokens(7, c.vocab_size, 7)) d.push_back(t);
  const std::vector<int32_t> t2 = {9, 6, 13};
  const BatchEntry shared_prefix = {std::span(d).subspan(4), 4, &pool, t2, false};
  auto ls = tr->forward({&shared_prefix, 1});
  REQUIRE(ls.ok());
  for (int s = 0; s < 3; ++s) {
    const auto& toks = s == 0 ? a : s == 1 ? b : d;
    ContiguousKvCache cc(c, tr->kernels(), 1, 16);
    const BatchEntry e = cc.entry(0, toks, 0);
    auto lc = tr->forward({&e, 1});
    REQUIRE(lc.ok());
    CHECK(as_vec(lc->last(0)) == as_vec(s < 2 ? lp->last(s) : ls->last(0)));
  }
}

TEST_CASE("the optimised forward pass agrees with the reference kernels for every weight type", "[forward]") {
  // Tolerances, relative to the largest |logit| (~35 here): 1e-6 for float
  // weights and for quantised weights with f32 activations (summation order
  // only); 1e-2 for quantised weights with activations rounded to q8_0
  // (measured: ~0.4%, half a q8 step per element through 2 layers).
  const TensorType types[] = {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0};
  for (const TensorType type : types) {
    for (const bool q8_activations : {true, false}) {
      if (!q8_activations && block_size(type) == 1) continue;
      RandomModelSpec spec = qwen_spec();
      spec.type = type;
      spec.ffn = 96;
      auto ref = make(spec, make_reference_kernels());
      auto cpu = make(spec, make_cpu_kernels({.threads = 2, .quantize_activations = q8_activations}));
      const auto prompt = tokens(7, spec.vocab, 8);
      ContiguousKvCache c1(ref->config(), ref->kernels(), 1, 16), c2(cpu->config(), cpu->kernels(), 1, 16);
      const BatchEntry e1 = c1.entry(0, prompt, 0, true), e2 = c2.entry(0, prompt, 0, true);
      auto a = ref->forward({&e1, 1});
      auto b = cpu->forward({&e2, 1});
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      const float d = max_diff(a->values, b->values);
      float scale = 0;
      for (float v : a->values) scale = std::max(scale, std::fabs(v));
      INFO(to_string(type) << (q8_activations ? ", q8_0 activations" : "") << ": max |cpu - reference| = " << d
                           << ", max |logit| " << scale);
      CHECK(d <= (block_size(type) > 1 && q8_activations ? 1e-2f : 1e-6f) * scale);
    }
  }
}

TEST_CASE("bad batches and bad weights are errors that name the problem", "[forward]") {
  auto tr = make(kLlama, make_cpu_kernels());
  ContiguousKvCache cache(tr->config(), tr->kernels(), 1, 8);
  const int32_t bad_token[] = {1, 100000};
  BatchEntry e = cache.entry(0, bad_token, 0);
  auto r = tr->forward({&e, 1});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("token 100000"));

  const int32_t ok_tokens[] = {1, 2, 3};
  e = cache.entry(0, ok_tokens, 6);  // positions 6..8 in a block of 8
  r = tr->forward({&e, 1});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("block table"));

  e = cache.entry(0, ok_tokens, kLlama.context - 1);
  r = tr->forward({&e, 1});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("context"));

  ModelWeights w = make_random_model(kLlama);
  w.layers[1].wk.shape = {64, 64};
  auto t = Transformer::create(w, make_cpu_kernels());
  REQUIRE_FALSE(t.ok());
  CHECK_THAT(t.error().message, Catch::Contains("blk.1.attn_k.weight"));
  w = make_random_model(kLlama);
  w.layers[0].w_up = TensorView{};
  t = Transformer::create(w, make_cpu_kernels());
  REQUIRE_FALSE(t.ok());
  CHECK_THAT(t.error().message, Catch::Contains("blk.0.ffn_up.weight is missing"));
}
