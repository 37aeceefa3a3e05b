// The speed paths of the CPU kernels keep results where they were:
// - matmuls() (q/k/v and gate/up in one parallel op) writes exactly what
//   separate matmul() calls write;
// - a one-row matmul equals that row of a batch (prefill tiles), and the AVX-512 kernels (VNNI dot products, four weight rows per
//   tile) equal the AVX2 ones, bit for bit;
// - attention (four keys per dot call, value rows summed in registers)
//   equals the per-key dot and axpy loop bit for bit, for f32, f16 and
//   bf16 caches;
// - the spin-then-park thread pool runs every index exactly once, whether
//   its workers are spinning or parked;
// - write_kv stores exactly the reference kernels' bits in an f16 or bf16
//   cache (nearest, ties to even; NaN stays NaN), on every CPU path;
// - an f16 or bf16 KV cache halves KV bytes per token and stays close to f32;
// - SpeedBench (troupe bench) measures each test and refuses impossible ones.
#include <catch2/catch.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/local/cpu_dot.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/kv_cache.hpp"
#include "engine/local/quant.hpp"
#include "engine/local/speed_bench.hpp"
#include "engine/local/thread_pool.hpp"
#include "engine/local/transformer.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::encode_rows;
using troupe::testing::make_random_model;
using troupe::testing::RandomModelSpec;
using troupe::testing::Rng;
using troupe::testing::value_rows;
using troupe::testing::ValueRows;
using troupe::testing::random_vec;

namespace {

std::vector<int32_t> tokens(int n, int vocab, int seed) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + seed * 11 + 5) % vocab);
  return t;
}

const KvType kKvTypes[] = {KvType::f32, KvType::f16, KvType::bf16};

// The per-key oracle's pieces for a cached row of any KV type: the
// single-key dot of query row qh with key row t, and y += a * value row t
// (offset `off` elements into the row, `n` elements), from table dt.
float key_dot(const cpu::DotTable& dt, const KvLayerView& view, int t, int64_t off, const void* qh, int64_t n) {
  float d = 0;
  switch (view.type) {
    case KvType::f16: dt.f16(view.k_row_16(t) + off, &qh, 1, n, &d); break;
    case KvType::bf16: dt.bf16(view.k_row_16(t) + off, &qh, 1, n, &d); break;
    case KvType::f32: dt.f32(view.k_row(t) + off, &qh, 1, n, &d); break;
  }
  return d;
}

void value_axpy(const cpu::DotTable& dt, const KvLayerView& view, int t, int64_t off, float a, float* y, int64_t n) {
  switch (view.type) {
    case KvType::f16: dt.axpy_f16(a, view.v_row_16(t) + off, y, n); break;
    case KvType::bf16: dt.axpy_bf16(a, view.v_row_16(t) + off, y, n); break;
    case KvType::f32: dt.axpy(a, view.v_row(t) + off, y, n); break;
  }
}

const TensorType kTypes[] = {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0};

}  // namespace

TEST_CASE("matmuls of several weights write exactly what separate matmuls write", "[kernels][speed]") {
  Rng rng(11);
  const int64_t in = 96;
  const int64_t outs[] = {37, 12, 12};
  for (TensorType type : kTypes) {
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<TensorView> views;
    for (int64_t out : outs) {
      bytes.push_back(encode_rows(random_vec(rng, static_cast<size_t>(in * out)), in, type));
    }
    for (size_t i = 0; i < bytes.size(); ++i) views.push_back(TensorView{"w", type, {in, outs[i]}, bytes[i].data()});
    const auto bias = random_vec(rng, 37);
    for (int threads : {1, 2, 3}) {
      auto k = make_cpu_kernels({.threads = threads});
      for (int n : {1, 2, 5, 9}) {
        INFO(to_string(type) << ", " << threads << " threads, " << n << " rows");
        const auto x = random_vec(rng, static_cast<size_t>(n * in));
        std::vector<std::vector<float>> alone, fused;
        for (size_t i = 0; i < views.size(); ++i) {
          alone.emplace_back(static_cast<size_t>(n * outs[i]));
          fused.emplace_back(static_cast<size_t>(n * outs[i]), -1.0f);
          k->matmul(views[i], i == 0 ? bias.data() : nullptr, x.data(), n, alone.back().data());
        }
        const Kernels::MatmulOut mo[] = {{&views[0], bias.data(), fused[0].data()},
                                         {&views[1], nullptr, fused[1].data()},
                                         {&views[2], nullptr, fused[2].data()}};
        k->matmuls(mo, x.data(), n);
        for (size_t i = 0; i < views.size(); ++i) REQUIRE(fused[i] == alone[i]);
      }
    }
  }
}

TEST_CASE("a one-row matmul equals that row inside a batch of tiles, bit for bit",
          "[kernels][speed]") {
  Rng rng(17);
  const int64_t in = 136, out = 23;  // 23 rows: groups of four and a remainder; 136 = 8 * 17: an 8-wide tail
  for (TensorType type : kTypes) {
    const int64_t width = block_size(type) > 1 ? 160 : in;
    const auto w = encode_rows(random_vec(rng, static_cast<size_t>(width * out)), width, type);
    const TensorView view{"w", type, {width, out}, w.data()};
    for (bool avx2 : {true, false}) {
      for (bool q8x : {true, false}) {
        auto k = make_cpu_kernels({.threads = 2, .allow_avx2 = avx2, .quantize_activations = q8x});
        const int n = 19;  // >= 16 rows: the prefill tiles (four weight rows by up to four x rows)
        const auto x = random_vec(rng, static_cast<size_t>(n * width));
        std::vector<float> batch(static_cast<size_t>(n * out));
        k->matmul(view, nullptr, x.data(), n, batch.data());
        for (int i = 0; i < n; ++i) {
          std::vector<float> one(static_cast<size_t>(out));
          k->matmul(view, nullptr, x.data() + i * width, 1, one.data());
          INFO(to_string(type) << (avx2 ? "" : ", plain") << (q8x ? "" : ", f32 activations") << ", row " << i);
          REQUIRE(one == std::vector<float>(batch.begin() + i * out, batch.begin() + (i + 1) * out));
        }
      }
    }
  }
}

TEST_CASE("the AVX-512 kernels (VNNI dot products, four weight rows per tile) equal the AVX2 ones bit for bit",
          "[kernels][speed]") {
  if (!cpu::cpu_supports_avx512_vnni()) {
    WARN("skipped: this CPU has no AVX-512 VNNI");
    return;
  }
  Rng rng(13);
  const int64_t out = 29;
  for (TensorType type : kTypes) {
    const int64_t in = block_size(type) > 1 ? 160 : 171;  // 171: a 16-wide body, an 8-wide tail, 3 scalars
    const auto w = encode_rows(random_vec(rng, static_cast<size_t>(in * out), 3.0f), in, type);
    const TensorView view{"w", type, {in, out}, w.data()};
    auto vnni = make_cpu_kernels({.threads = 1});
    auto avx2 = make_cpu_kernels({.threads = 1, .allow_avx512 = false});
    CHECK(std::string(vnni->name()).find("avx512vnni") != std::string::npos);
    for (int n : {1, 3, 4, 7, 16, 18, 21}) {  // from 16 rows on: the tiles, with 2- and 1-row remainders
      const auto x = random_vec(rng, static_cast<size_t>(n * in), 2.0f);
      std::vector<float> a(static_cast<size_t>(n * out)), b(a.size());
      vnni->matmul(view, nullptr, x.data(), n, a.data());
      avx2->matmul(view, nullptr, x.data(), n, b.data());
      INFO(to_string(type) << ", " << n << " rows");
      REQUIRE(a == b);
    }
  }
}

TEST_CASE("attention (four keys per dot call, value rows summed in registers) equals per-key dot and axpy",
          "[kernels][speed]") {
  // The oracle is the per-key loop the CPU kernels ran before: one dot per
  // key, softmax, one axpy per value row, all from the same dot table.
  Rng rng(23);
  const AttentionShape shape{4, 2, 24, 0.2f};  // head_dim 24: a 16-wide body and an 8-wide tail
  const int kv_dim = 48, block = 4, n_phys = 8, row_stride = 52;
  const std::vector<int32_t> table = {6, 2, 7, 0, 5};  // 19 positions over scattered blocks of 4
  const int pos0 = 16, n_new = 3, n_rows = pos0 + n_new;
  const auto q = random_vec(rng, static_cast<size_t>(n_new * 4 * 24));
  const auto k = random_vec(rng, static_cast<size_t>(n_rows * kv_dim), 2.0f);
  const auto v = random_vec(rng, static_cast<size_t>(n_rows * kv_dim));
  for (KvType type : kKvTypes) {
    for (bool avx2 : {true, false}) {
      INFO(to_string(type) << (avx2 ? "" : ", plain"));
      auto kern = make_cpu_kernels({.threads = 2, .allow_avx2 = avx2});
      const cpu::DotTable& dt = cpu::dot_table(avx2);
      auto kpool = kern->alloc(static_cast<size_t>(n_phys) * block * row_stride);
      auto vpool = kern->alloc(static_cast<size_t>(n_phys) * block * row_stride);
      KvLayerView view{kpool.get(), vpool.get(), block, block * row_stride, row_stride, table.data(),
                       static_cast<int>(table.size()), n_rows, type};
      kern->write_kv(view, 0, n_rows, kv_dim, k.data(), v.data());
      const AttentionSeq seq{0, n_new, pos0, view};
      std::vector<float> got(q.size());
      kern->attention(q.data(), shape, {&seq, 1}, got.data());
      for (int i = 0; i < n_new; ++i)
        for (int h = 0; h < 4; ++h) {
          const int n_keys = pos0 + i + 1;
          const void* qh = q.data() + (i * 4 + h) * 24;
          const int64_t off = (h / 2) * 24;
          std::vector<float> sc(static_cast<size_t>(n_keys));
          float max = -INFINITY;
          for (int t = 0; t < n_keys; ++t) {
            sc[t] = key_dot(dt, view, t, off, qh, 24) * shape.scale;
            max = std::max(max, sc[t]);
          }
          float sum = 0.0f;
          for (int t = 0; t < n_keys; ++t) {
            sc[t] = std::exp(sc[t] - max);
            sum += sc[t];
          }
          const float inv = 1.0f / sum;
          std::vector<float> want(24, 0.0f);
          for (int t = 0; t < n_keys; ++t) value_axpy(dt, view, t, off, sc[t] * inv, want.data(), 24);
          for (int c = 0; c < 24; ++c) REQUIRE(got[(i * 4 + h) * 24 + c] == want[c]);
        }
    }
  }
}

TEST_CASE("prefill attention (query rows in groups sharing key tiles) equals per-key dot and axpy at model head sizes",
          "[kernels][speed]") {
  // As above, for head sizes 64 and 128 (whole 512-bit value chunks), 80
  // and 100 (a 64-wide chunk plus 8-wide and scalar tails), query groups
  // of four with a remainder, and prompts that start mid-block.
  Rng rng(43);
  struct Case {
    int head_dim, n_new, pos0, block;
  };
  for (const Case c : {Case{64, 11, 0, 16}, Case{128, 9, 5, 4}, Case{80, 6, 13, 8}, Case{100, 5, 3, 16}}) {
    const AttentionShape shape{4, 2, c.head_dim, 0.125f};
    const int hd = c.head_dim, kv_dim = 2 * hd, row_stride = kv_dim + 4, n_rows = c.pos0 + c.n_new;
    const int n_blocks = (n_rows + c.block - 1) / c.block, n_phys = n_blocks + 3;
    std::vector<int32_t> table;
    for (int b = 0; b < n_blocks; ++b) table.push_back((b * 5 + 2) % n_phys);  // scattered, distinct
    const auto q = random_vec(rng, static_cast<size_t>(c.n_new * 4 * hd));
    const auto k = random_vec(rng, static_cast<size_t>(n_rows * kv_dim), 2.0f);
    const auto v = random_vec(rng, static_cast<size_t>(n_rows * kv_dim));
    for (KvType type : kKvTypes) {
      for (bool avx512 : {true, false}) {
        INFO(to_string(type) << ", head_dim " << hd << (avx512 ? "" : ", avx2"));
        auto kern = make_cpu_kernels({.threads = 2, .allow_avx512 = avx512});
        // The oracle: the AVX2 table's single-key dot and per-row axpy.
        const cpu::DotTable& dt = cpu::dot_table(true, false);
        auto kpool = kern->alloc(static_cast<size_t>(n_phys) * c.block * row_stride);
        auto vpool = kern->alloc(static_cast<size_t>(n_phys) * c.block * row_stride);
        KvLayerView view{kpool.get(), vpool.get(), c.block, static_cast<int64_t>(c.block) * row_stride, row_stride,
                         table.data(), static_cast<int>(table.size()), n_rows, type};
        kern->write_kv(view, 0, n_rows, kv_dim, k.data(), v.data());
        const AttentionSeq seq{0, c.n_new, c.pos0, view};
        std::vector<float> got(q.size());
        kern->attention(q.data(), shape, {&seq, 1}, got.data());
        for (int i = 0; i < c.n_new; ++i)
          for (int h = 0; h < 4; ++h) {
            const int n_keys = c.pos0 + i + 1;
            const void* qh = q.data() + (i * 4 + h) * hd;
            const int64_t off = (h / 2) * hd;
            std::vector<float> sc(static_cast<size_t>(n_keys));
            float max = -INFINITY;
            for (int t = 0; t < n_keys; ++t) {
              sc[t] = key_dot(dt, view, t, off, qh, hd) * shape.scale;
              max = std::max(max, sc[t]);
            }
            float sum = 0.0f;
            for (int t = 0; t < n_keys; ++t) {
              sc[t] = std::exp(sc[t] - max);
              sum += sc[t];
            }
            const float inv = 1.0f / sum;
            std::vector<float> want(static_cast<size_t>(hd), 0.0f);
            for (int t = 0; t < n_keys; ++t) value_axpy(dt, view, t, off, sc[t] * inv, want.data(), hd);
            for (int e = 0; e < hd; ++e) REQUIRE(got[(i * 4 + h) * hd + e] == want[e]);
          }
      }
    }
  }
}

TEST_CASE("the AVX-512 value sum (axpy_rows, 512-bit) equals the AVX2 one bit for bit", "[kernels][speed]") {
  Rng rng(47);
  const cpu::DotTable& z = cpu::dot_table(true), &a = cpu::dot_table(true, false);
  for (int64_t n : {8, 24, 64, 72, 100, 128, 136, 200}) {
    for (int64_t rows : {1, 5, 33}) {
      const auto w = random_vec(rng, static_cast<size_t>(rows));
      const ValueRows x = value_rows(rng, rows, n);
      const auto &pf = x.p32, &ph = x.p16, &pb = x.pbf16;
      const auto y0 = random_vec(rng, static_cast<size_t>(n));
      auto y1 = y0, y2 = y0, y3 = y0, y4 = y0, y5 = y0, y6 = y0;
      z.axpy_rows(w.data(), pf.data(), rows, y1.data(), n);
      a.axpy_rows(w.data(), pf.data(), rows, y2.data(), n);
      z.axpy_rows_f16(w.data(), ph.data(), rows, y3.data(), n);
      a.axpy_rows_f16(w.data(), ph.data(), rows, y4.data(), n);
      z.axpy_rows_bf16(w.data(), pb.data(), rows, y5.data(), n);
      a.axpy_rows_bf16(w.data(), pb.data(), rows, y6.data(), n);
      INFO(n << " elements, " << rows << " rows");
      REQUIRE(y1 == y2);
      REQUIRE(y3 == y4);
      REQUIRE(y5 == y6);
    }
  }
}

TEST_CASE("the thread pool runs every index exactly once, spinning or parked", "[thread_pool]") {
  for (const auto spin : {std::chrono::microseconds(0), std::chrono::microseconds(200), std::chrono::microseconds(100000)}) {
    for (int threads : {2, 3}) {
      INFO(threads << " threads, spin " << spin.count() << " us");
      ThreadPool pool(threads, spin);
      std::vector<std::atomic<int>> hits(1000);
      for (int job = 0; job < 300; ++job) {
        const int64_t n = 1 + (job * 7) % 1000;
        pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
          REQUIRE(t >= 0);
          REQUIRE(t < threads);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
        });
        for (int64_t i = 0; i < 1000; ++i) {
          REQUIRE(hits[static_cast<size_t>(i)].load() == (i < n ? 1 : 0));
          hits[static_cast<size_t>(i)].store(0);
        }
      }
    }
  }
}

TEST_CASE("an f16 or bf16 KV cache halves KV bytes per token and stays close to the f32 cache", "[forward][kv]") {
  // Tolerance, relative to the largest |logit|: 5e-3 for f16, 1e-2 for
  // bf16. Keys and values are rounded to f16 (relative error <= 2^-11 each)
  // or bf16 (<= 2^-8) and attention sums them in float32; through two
  // layers that moves the logits by well under 0.5% (f16) and 1% (bf16).
  // The CPU kernels stay within 1e-5 of the reference kernels on the same
  // cache type (the attention dot products sum in another order).
  RandomModelSpec qwen;
  qwen.arch = Arch::qwen2;
  qwen.tied = true;
  qwen.heads = 4;
  qwen.kv_heads = 1;
  qwen.seed = 2;
  auto run = [](const ModelWeights& w, const std::vector<int32_t>& prompt, std::shared_ptr<Kernels> k, KvType type) {
    auto tr = Transformer::create(w, k);
    REQUIRE(tr.ok());
    ContiguousKvCache cache(w.config, *k, 1, 32, type);
    // A prefill of 6 tokens, then 3 single-token decode steps.
    const BatchEntry p = cache.entry(0, std::span(prompt).first(6), 0, true);
    auto out = (*tr)->forward({&p, 1});
    REQUIRE(out.ok());
    std::vector<float> all = out->values;
    for (int i = 6; i < 9; ++i) {
      const BatchEntry d = cache.entry(0, std::span(prompt).subspan(static_cast<size_t>(i), 1), i);
      auto o = (*tr)->forward({&d, 1});
      REQUIRE(o.ok());
      all.insert(all.end(), o->values.begin(), o->values.end());
    }
    return all;
  };
  for (const RandomModelSpec& spec : {RandomModelSpec{}, qwen}) {
    const ModelWeights w = make_random_model(spec);
    const auto prompt = tokens(9, spec.vocab, 3);
    const auto f32 = run(w, prompt, make_cpu_kernels({.threads = 2}), KvType::f32);
    float scale = 0;
    for (float x : f32) scale = std::max(scale, std::fabs(x));
    for (KvType type : {KvType::f16, KvType::bf16}) {
      CHECK(kv_bytes_per_token(w.config, type) * 2 == kv_bytes_per_token(w.config, KvType::f32));
      const auto cpu = run(w, prompt, make_cpu_kernels({.threads = 2}), type);
      const auto ref = run(w, prompt, make_reference_kernels(), type);
      REQUIRE(cpu.size() == f32.size());
      REQUIRE(ref.size() == f32.size());
      float d_narrow = 0, d_ref = 0;
      for (size_t i = 0; i < f32.size(); ++i) {
        d_narrow = std::max(d_narrow, std::fabs(cpu[i] - f32[i]));
        d_ref = std::max(d_ref, std::fabs(ref[i] - cpu[i]));
      }
      INFO(to_string(spec.arch) << ", " << to_string(type) << ": max |" << to_string(type) << " - f32| = " << d_narrow
                                << ", max |cpu - reference| = " << d_ref << ", max |logit| = " << scale);
      CHECK(d_narrow > 0.0f);  // the cache really stored 16-bit elements
      CHECK(d_narrow <= (type == KvType::f16 ? 5e-3f : 1e-2f) * scale);
      CHECK(d_ref <= 1e-5f * scale);
    }
  }
  // The paged cache: the same budget holds twice the blocks.
  KvCacheConfig kc{.n_layers = 2, .kv_dim = 32, .block_size = 16, .budget_bytes = size_t{1} << 20};
  auto c32 = KvCache::create(kc);
  REQUIRE(c32.ok());
  for (KvType type : {KvType::f16, KvType::bf16}) {
    INFO(to_string(type));
    kc.type = type;
    auto c16 = KvCache::create(kc);
    REQUIRE(c16.ok());
    CHECK((*c16)->bytes_per_block() * 2 == (*c32)->bytes_per_block());
    CHECK((*c16)->n_blocks() == 2 * (*c32)->n_blocks());
  }
}

TEST_CASE("write_kv stores the reference kernels' f16 and bf16 bits on every CPU path", "[kernels][kv]") {
  // Random rows (a 16-wide body, an 8-wide part and a scalar tail: kv_dim
  // 27) plus values at the rounding edges, written by the reference kernels
  // and by the CPU kernels (AVX-512, AVX2, plain) into scattered blocks.
  Rng rng(71);
  const int kv_dim = 27, block = 2, row_stride = 30, n_rows = 6, n_phys = 5;
  const std::vector<int32_t> table = {3, 0, 4};
  auto k = random_vec(rng, static_cast<size_t>(n_rows * kv_dim), 3.0f);
  auto v = random_vec(rng, static_cast<size_t>(n_rows * kv_dim), 1e5f);
  const uint32_t edges[] = {
      0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f807fffu,  // bf16 ties (to even) and their neighbours
      0x7f7fffffu, 0xff7fffffu, 0x7f7f7fffu,              // largest floats (round to inf), just below
      0x7f800000u, 0xff800000u,                           // infinities
      0x7fc00000u, 0x7f800001u, 0xffbfffffu, 0x7fffffffu,  // NaNs, quiet and signalling
      0x00008000u, 0x00018000u, 0x80000001u, 0x00000000u, 0x80000000u,  // subnormals, zeros
      0x477fe000u, 0x477ff000u, 0x33000000u, 0x33000001u,  // f16: 65504, the tie to inf, half the smallest subnormal
  };
  for (size_t i = 0; i < std::size(edges); ++i) {
    k[i * 2] = std::bit_cast<float>(edges[i]);                            // rows 0-1, and
    v[static_cast<size_t>(3 * kv_dim) + i] = std::bit_cast<float>(edges[i]);  // row 3 from the start
  }
  for (KvType type : {KvType::f16, KvType::bf16}) {
    auto want_k = std::make_unique<float[]>(n_phys * block * row_stride);
    auto want_v = std::make_unique<float[]>(n_phys * block * row_stride);
    const KvLayerView want{want_k.get(), want_v.get(), block, block * row_stride, row_stride, table.data(), 3,
                           n_rows, type};
    make_reference_kernels()->write_kv(want, 0, n_rows, kv_dim, k.data(), v.data());
    uint16_t (*const narrow)(float) = type == KvType::f16 ? f32_to_f16 : f32_to_bf16;
    for (int p = 0; p < n_rows; ++p)
      for (int c = 0; c < kv_dim; ++c) {
        REQUIRE(want.k_row_16(p)[c] == narrow(k[static_cast<size_t>(p * kv_dim + c)]));
        REQUIRE(want.v_row_16(p)[c] == narrow(v[static_cast<size_t>(p * kv_dim + c)]));
      }
    for (const CpuKernelOptions& o : {CpuKernelOptions{.threads = 2}, CpuKernelOptions{.threads = 1, .allow_avx512 = false},
                                      CpuKernelOptions{.threads = 1, .allow_avx2 = false}}) {
      auto kern = make_cpu_kernels(o);
      INFO(to_string(type) << ", " << kern->name());
      auto kpool = kern->alloc(static_cast<size_t>(n_phys) * block * row_stride);
      auto vpool = kern->alloc(static_cast<size_t>(n_phys) * block * row_stride);
      const KvLayerView got{kpool.get(), vpool.get(), block, block * row_stride, row_stride, table.data(), 3,
                            n_rows, type};
      // Two calls (positions 0-1, then 2-5), as a prefill chunk and the next.
      kern->write_kv(got, 0, 2, kv_dim, k.data(), v.data());
      kern->write_kv(got, 2, n_rows - 2, kv_dim, k.data() + 2 * kv_dim, v.data() + 2 * kv_dim);
      for (int p = 0; p < n_rows; ++p) {
        REQUIRE(std::memcmp(got.k_row_16(p), want.k_row_16(p), kv_dim * sizeof(uint16_t)) == 0);
        REQUIRE(std::memcmp(got.v_row_16(p), want.v_row_16(p), kv_dim * sizeof(uint16_t)) == 0);
      }
    }
  }
}

TEST_CASE("f32 to bf16 in the dot tables is f32_to_bf16: nearest, ties to even, NaN kept, large values to inf",
          "[kernels][kv]") {
  // Values with known bf16 bits, then every table's to_bf16 against
  // f32_to_bf16 over many bit patterns (all exponents, both signs).
  struct Known {
    uint32_t f;
    uint16_t b;
  };
  const Known known[] = {
      {0x3f800000u, 0x3f80},  // 1
      {0x3f808000u, 0x3f80},  // 1 + 2^-8: a tie, down to the even 0x3f80
      {0x3f818000u, 0x3f82},  // a tie between 0x3f81 and 0x3f82: up to the even one
      {0x3f808001u, 0x3f81},  // just above the tie
      {0xbf808000u, 0xbf80},  // ties to even by magnitude for negatives too
      {0x7f7fffffu, 0x7f80},  // the largest float rounds up to +inf
      {0x7f7f7fffu, 0x7f7f},  // just under the halfway point stays finite
      {0xff7fffffu, 0xff80},  // -inf
      {0x7f800000u, 0x7f80},  // inf stays inf
      {0x7fc00000u, 0x7fc0},  // quiet NaN
      {0x7f800001u, 0x7fc0},  // a signalling NaN whose payload is all in the low half: still NaN (quieted)
      {0xff800001u, 0xffc0},  // negative NaN
      {0x00008000u, 0x0000},  // a subnormal tie, to even (zero)
      {0x80000000u, 0x8000},  // -0
  };
  for (const Known& x : known) {
    INFO(std::hex << x.f);
    CHECK(f32_to_bf16(std::bit_cast<float>(x.f)) == x.b);
  }
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(bf16_to_f32(0x4049) == 3.140625f);  // bf16 -> f32 is the 16-bit shift
  std::vector<float> x;
  for (uint32_t hi = 0; hi < 0x10000u; hi += 7)
    for (uint32_t lo : {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, (hi * 2654435761u) & 0xffffu})
      x.push_back(std::bit_cast<float>(hi << 16 | lo));
  for (const Known& k : known) x.push_back(std::bit_cast<float>(k.f));
  for (const cpu::DotTable* dt : {&cpu::dot_table(true), &cpu::dot_table(true, false), &cpu::dot_table(false)}) {
    std::vector<uint16_t> got(x.size());
    dt->to_bf16(x.data(), got.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      INFO(std::hex << std::bit_cast<uint32_t>(x[i]));
      REQUIRE(got[i] == f32_to_bf16(x[i]));
    }
  }
}

TEST_CASE("SpeedBench measures pp, tg and shared-prompt samples, and refuses tests past the context", "[bench]") {
  RandomModelSpec spec;
  spec.context = 64;
  const ModelWeights w = make_random_model(spec);
  for (KvType kv : kKvTypes) {
    auto bench = SpeedBench::create(w, 2, kv);
    REQUIRE(bench.ok());
    for (const SpeedTest& t : {SpeedTest{16, 0, 0}, SpeedTest{0, 8, 0}, SpeedTest{20, 6, 3}, SpeedTest{16, 4, 1}}) {
      INFO(t.name());
      auto r = (*bench)->measure(t, 3);
      REQUIRE(r.ok());
      CHECK(r->tokens_per_s.size() == 3);
      for (double v : r->tokens_per_s) CHECK(v > 0);
      CHECK(r->median > 0);
    }
    auto too_long = (*bench)->run(SpeedTest{60, 8, 0});
    REQUIRE_FALSE(too_long.ok());
    CHECK_THAT(too_long.error().message, Catch::Contains("context"));
  }
  CHECK(SpeedTest{512, 0, 0}.name() == "pp512");
  CHECK(SpeedTest{0, 128, 0}.name() == "tg128");
  CHECK(SpeedTest{512, 32, 8}.name() == "tg32@pp512x8");
  CHECK(SpeedTest{512, 32, 8}.tokens() == 256);
  SpeedResult r;
  r.tokens_per_s = {10, 12, 11, 30};
  summarize(r);
  CHECK(r.median == Approx(11.5));
  CHECK(r.mean == Approx(15.75));
  CHECK(r.stddev == Approx(9.5350).epsilon(1e-3));
}
