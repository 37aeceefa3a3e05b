// Every compute backend, op by op, against the reference kernels on random
// data ("backends held to one reference"). New backends join `backends()`;
// new ops join this file.
//
// Tolerances (absolute, per output element):
// - matmul, float weights (f32/f16/bf16) or quantised weights with f32
//   activations: 1e-5 · Σ|w·x| + 1e-6 — only the summation order differs.
// - matmul, q8_0/q4_0 weights with activations quantised to q8_0: the
//   rounding bound Σ_blocks Σ|w| · amax(x in block) · (1/254 + 1/2048)
//   (half a q8 step, plus the f16 rounding of the block scale) + the above.
// - rmsnorm, rope, attention, silu_mul, softmax, add: 1e-5 relative.
// - get_rows, write_kv: exact.
// CPU backends must also give a row the same bits alone and inside a batch.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "engine/local/quant.hpp"
#include "engine/local/kernels.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::encode_rows;
using troupe::testing::Rng;
using troupe::testing::random_vec;

namespace {

struct Backend {
  std::string label;
  std::unique_ptr<Kernels> k;
  bool q8_activations;
};

std::vector<Backend> backends() {
  std::vector<Backend> out;
  out.push_back({"cpu 1 thread", make_cpu_kernels({.threads = 1}), true});
  out.push_back({"cpu 2 threads", make_cpu_kernels({.threads = 2}), true});
  out.push_back({"cpu 2 threads, plain code", make_cpu_kernels({.threads = 2, .allow_avx2 = false}), true});
  out.push_back({"cpu 2 threads, f32 activations",
                 make_cpu_kernels({.threads = 2, .quantize_activations = false}), false});
  return out;
}


TensorView make_view(const std::vector<uint8_t>& bytes, TensorType t, int64_t in, int64_t out) {
  return TensorView{"w", t, {in, out}, bytes.data()};
}

bool close(float got, float want, float tol) { return std::fabs(got - want) <= tol; }

}  // namespace

TEST_CASE("f16 and bf16 conversions round-trip and round to nearest even", "[kernels]") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    REQUIRE(f32_to_f16(f) == h);
  }
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie -> even
  CHECK(f32_to_f16(65520.0f) == 0x7c00);
  CHECK(bf16_to_f32(f32_to_bf16(3.0f)) == 3.0f);
}

TEST_CASE("matmul agrees with the reference for every weight type and backend", "[kernels]") {
  auto ref = make_reference_kernels();
  Rng rng(7);
  const TensorType types[] = {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0};
  for (TensorType type : types) {
    const bool quant = (block_size(type) > 1);
    std::vector<int64_t> ins = quant ? std::vector<int64_t>{96, 160} : std::vector<int64_t>{72, 75, 96};
    for (int64_t in : ins) {
      const int64_t out = 37;
      const std::vector<float> wf = random_vec(rng, static_cast<size_t>(in * out));
      const auto bytes = encode_rows(wf, in, type);
      const TensorView w = make_view(bytes, type, in, out);
      std::vector<float> wdeq(wf.size());
      for (int64_t r = 0; r < out; ++r)
        dequantize_row(type, bytes.data() + r * tensor_bytes(type, in), wdeq.data() + r * in, in);
      const std::vector<float> bias = random_vec(rng, static_cast<size_t>(out));
      for (int n : {1, 3, 6}) {
        const std::vector<float> x = random_vec(rng, static_cast<size_t>(n * in));
        std::vector<float> want(static_cast<size_t>(n * out));
        const bool with_bias = n == 3;
        ref->matmul(w, with_bias ? bias.data() : nullptr, x.data(), n, want.data());
        for (auto& b : backends()) {
          INFO(b.label << ", " << to_string(type) << ", in " << in << ", n " << n);
          std::vector<float> got(want.size());
          b.k->matmul(w, with_bias ? bias.data() : nullptr, x.data(), n, got.data());
          for (int i = 0; i < n; ++i) {
            for (int64_t r = 0; r < out; ++r) {
              double abs_sum = 0, qbound = 0;
              for (int64_t c = 0; c < in; ++c) abs_sum += std::fabs(wdeq[r * in + c] * x[i * in + c]);
              if (quant && b.q8_activations) {
                for (int64_t b0 = 0; b0 < in; b0 += 32) {
                  double wsum = 0, amax = 0;
                  for (int64_t c = b0; c < b0 + 32; ++c) {
                    wsum += std::fabs(wdeq[r * in + c]);
                    amax = std::max(amax, static_cast<double>(std::fabs(x[i * in + c])));
                  }
                  qbound += wsum * amax * (1.0 / 254 + 1.0 / 2048);
                }
              }
              const float tol = static_cast<float>(1e-5 * abs_sum + qbound + 1e-6);
              INFO("row " << i << ", output " << r);
              REQUIRE(close(got[i * out + r], want[i * out + r], tol));
            }
          }
          // The last row alone gives the same bits as inside the batch.
          std::vector<float> alone(static_cast<size_t>(out));
          b.k->matmul(w, with_bias ? bias.data() : nullptr, x.data() + (n - 1) * in, 1, alone.data());
          for (int64_t r = 0; r < out; ++r) REQUIRE(alone[r] == got[(n - 1) * out + r]);
        }
      }
    }
  }
}

TEST_CASE("get_rows dequantises embedding rows exactly like the reference", "[kernels]") {
  auto ref = make_reference_kernels();
  Rng rng(3);
  for (TensorType type : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0}) {
    const int64_t width = 64, rows = 10;
    const auto bytes = encode_rows(random_vec(rng, width * rows), width, type);
    const TensorView w = make_view(bytes, type, width, rows);
    const int32_t ids[] = {3, 0, 9, 3};
    std::vector<float> want(4 * width), got(4 * width);
    ref->get_rows(w, ids, 4, want.data());
    for (auto& b : backends()) {
      INFO(b.label << ", " << to_string(type));
      b.k->get_rows(w, ids, 4, got.data());
      REQUIRE(got == want);
    }
  }
}

TEST_CASE("rmsnorm, rope, silu_mul, softmax and add agree with the reference", "[kernels]") {
  auto ref = make_reference_kernels();
  Rng rng(11);
  const int n = 5, width = 96;
  const auto x = random_vec(rng, n * width, 3.0f);
  const auto weight = random_vec(rng, width);
  auto check = [](const std::vector<float>& got, const std::vector<float>& want, float rel) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("element " << i);
      REQUIRE(close(got[i], want[i], rel * std::max(1.0f, std::fabs(want[i]))));
    }
  };
  for (auto& b : backends()) {
    INFO(b.label);
    std::vector<float> want(x.size()), got(x.size());
    ref->rmsnorm(x.data(), weight.data(), n, width, 1e-5f, want.data());
    b.k->rmsnorm(x.data(), weight.data(), n, width, 1e-5f, got.data());
    check(got, want, 1e-5f);

    const int32_t pos[] = {0, 1, 17, 300, 4095};
    for (bool neox : {false, true}) {
      INFO("neox " << neox);
      want = x;
      got = x;
      ref->rope(want.data(), n, 6, 16, pos, 10000.0f, neox);
      b.k->rope(got.data(), n, 6, 16, pos, 10000.0f, neox);
      check(got, want, 1e-5f);
    }

    const auto up = random_vec(rng, x.size());
    want = x;
    got = x;
    ref->silu_mul(want.data(), up.data(), want.size());
    b.k->silu_mul(got.data(), up.data(), got.size());
    check(got, want, 1e-5f);

    want = x;
    got = x;
    ref->softmax(want.data(), n, width);
    b.k->softmax(got.data(), n, width);
    check(got, want, 1e-5f);

    want = x;
    got = x;
    ref->add(want.data(), up.data(), want.size());
    b.k->add(got.data(), up.data(), got.size());
    check(got, want, 1e-6f);
  }
}

TEST_CASE("attention over a paged KV cache agrees with the reference (GQA, several sequences)", "[kernels]") {
  auto ref = make_reference_kernels();
  Rng rng(5);
  const AttentionShape shape{4, 2, 16, 0.25f};
  const int kv_dim = 32, block = 4, n_phys = 12;
  const int64_t row_stride = 40;  // padded rows: the layout is the view's, not kv_dim
  // Two sequences in one pool, scattered blocks: seq 0 has 7 cached + 3 new
  // positions (prefill chunk), seq 1 has 13 cached + 1 new (decode).
  const std::vector<int32_t> table0 = {5, 1, 9}, table1 = {0, 11, 3, 7};
  struct S {
    const std::vector<int32_t>* table;
    int pos0, n_new;
  } seqs_in[] = {{&table0, 7, 3}, {&table1, 13, 1}};
  const int n_q = 4;
  const auto q = random_vec(rng, static_cast<size_t>(n_q * 64));
  std::vector<float> want(n_q * 64);
  std::vector<std::vector<float>> results;
  std::vector<Backend> all = backends();
  all.insert(all.begin(), Backend{"reference", make_reference_kernels(), false});
  for (auto& b : all) {
    INFO(b.label);
    const size_t pool_floats = static_cast<size_t>(n_phys) * block * row_stride;
    auto kpool = b.k->alloc(pool_floats), vpool = b.k->alloc(pool_floats);
    Rng fill(99);
    std::vector<AttentionSeq> seqs;
    int q_row = 0;
    for (const S& s : seqs_in) {
      KvLayerView view{kpool.get(), vpool.get(), block, block * row_stride, row_stride, s.table->data(),
                       static_cast<int>(s.table->size()), s.pos0 + s.n_new};
      const int n_rows = s.pos0 + s.n_new;
      const auto k = random_vec(fill, static_cast<size_t>(n_rows * kv_dim), 2.0f);
      const auto v = random_vec(fill, static_cast<size_t>(n_rows * kv_dim));
      b.k->write_kv(view, 0, s.pos0, kv_dim, k.data(), v.data());
      b.k->write_kv(view, s.pos0, s.n_new, kv_dim, k.data() + s.pos0 * kv_dim, v.data() + s.pos0 * kv_dim);
      for (int p = 0; p < n_rows; ++p)
        for (int c = 0; c < kv_dim; ++c) REQUIRE(view.k_row(p)[c] == k[p * kv_dim + c]);
      seqs.push_back({q_row, s.n_new, s.pos0, view});
      q_row += s.n_new;
    }
    std::vector<float> got(n_q * 64);
    b.k->attention(q.data(), shape, seqs, got.data());
    results.push_back(got);
  }
  for (size_t i = 1; i < results.size(); ++i) {
    INFO(all[i].label);
    for (size_t e = 0; e < results[0].size(); ++e)
      REQUIRE(close(results[i][e], results[0][e], 1e-5f * std::max(1.0f, std::fabs(results[0][e]))));
  }
}
