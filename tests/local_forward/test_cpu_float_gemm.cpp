// The float prefill GEMM (cpu_float_gemm: f16/bf16/f32 weight panels
// converted to float32 once per thread, 4 x 4 tiles; used by matmul from 8
// activation rows on AVX-512 CPUs for widths that are multiples of 8)
// returns, bit for bit, what the row-by-row dot products return, and what
// the AVX-512 tiles it replaces returned: the oracles are the single-row
// DotFn of the dot table and its f16/bf16/f32 tile. Sizes cover weight
// rows that are not a multiple of the 4-row tile or of the panel, several
// panels, activation rows that are not a multiple of the 4-row group,
// widths with and without an 8-element tail, 1 to 3 threads and biases;
// compared as bytes, so the sign of a zero counts. Widths that are not a
// multiple of 8 keep the old tiles, which one case checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/local/cpu_dot.hpp"
#include "engine/local/cpu_float_gemm.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/quant.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::encode_rows;
using troupe::testing::Rng;
using troupe::testing::align64;
using troupe::testing::random_vec;
using troupe::testing::same_bits;

namespace {

const cpu::DotFn& row_dot(const cpu::DotTable& dt, TensorType type) {
  return type == TensorType::f16 ? dt.f16 : type == TensorType::bf16 ? dt.bf16 : dt.f32;
}
const cpu::DotTileFn& old_tile(const cpu::DotTable& dt, TensorType type) {
  return type == TensorType::f16 ? dt.f16_tile : type == TensorType::bf16 ? dt.bf16_tile : dt.f32_tile;
}

// y[i * out + r] = bias[r] + dot(row r, x row i), one single-row DotFn call per pair.
std::vector<float> row_by_row(TensorType type, const uint8_t* w, int64_t in, int64_t out, const float* x, int n,
                              const float* bias) {
  const cpu::DotFn dot = row_dot(cpu::dot_table(true), type);
  const size_t rb = tensor_bytes(type, in);
  std::vector<float> y(static_cast<size_t>(n * out));
  for (int i = 0; i < n; ++i) {
    const void* xr = x + i * in;
    for (int64_t r = 0; r < out; ++r) {
      float s;
      dot(w + r * rb, &xr, 1, in, &s);
      y[i * out + r] = bias ? s + bias[r] : s;
    }
  }
  return y;
}

// What matmul computed before the float GEMM, on one thread from 16 rows
// on: 16-row weight blocks, four x rows at a time, the AVX-512 tile for
// four weight rows, the DotFn for the block's remaining rows.
std::vector<float> old_tiles(TensorType type, const uint8_t* w, int64_t in, int64_t out, const float* x, int n,
                             const float* bias) {
  const cpu::DotTable& dt = cpu::dot_table(true);
  const cpu::DotFn dot = row_dot(dt, type);
  const cpu::DotTileFn tile = old_tile(dt, type);
  const size_t rb = tensor_bytes(type, in);
  std::vector<float> y(static_cast<size_t>(n * out));
  std::vector<const void*> xs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) xs[i] = x + i * in;
  for (int64_t b0 = 0; b0 < out; b0 += 16) {
    const int64_t b1 = std::min<int64_t>(b0 + 16, out);
    for (int i0 = 0; i0 < n; i0 += cpu::kMaxTile) {
      const int nx = std::min(cpu::kMaxTile, n - i0);
      int64_t r = b0;
      float t[cpu::kTileRows * cpu::kMaxTile];
      for (; r + cpu::kTileRows <= b1; r += cpu::kTileRows) {
        tile(w + r * rb, rb, xs.data() + i0, nx, in, t);
        for (int k = 0; k < cpu::kTileRows; ++k)
          for (int j = 0; j < nx; ++j) y[(i0 + j) * out + r + k] = bias ? t[k * nx + j] + bias[r + k] : t[k * nx + j];
      }
      for (; r < b1; ++r) {
        dot(w + r * rb, xs.data() + i0, nx, in, t);
        for (int j = 0; j < nx; ++j) y[(i0 + j) * out + r] = bias ? t[j] + bias[r] : t[j];
      }
    }
  }
  return y;
}

const TensorType kFloatTypes[] = {TensorType::f16, TensorType::bf16, TensorType::f32};

}  // namespace

TEST_CASE("the float prefill GEMM equals the row-by-row dot products and the old tiles bit for bit",
          "[kernels][speed]") {
  Rng rng(43);
  if (!cpu::float_gemm()) WARN("this CPU has no AVX-512: the float GEMM is not used; checking the path it replaces");
  struct Shape {
    int64_t in, out;
  };
  // 8: only a tail; 24, 136: 16-wide chunks and an 8-wide tail; 768 x 171:
  // two panels on one thread (168 rows each); 2056 x 70: panels of 60 rows,
  // 2056 = 128 * 16 + 8.
  const Shape shapes[] = {{8, 5}, {16, 3}, {24, 17}, {136, 23}, {256, 37}, {768, 171}, {2056, 70}};
  for (TensorType type : kFloatTypes) {
    for (const Shape& sh : shapes) {
      const auto w = encode_rows(random_vec(rng, static_cast<size_t>(sh.in * sh.out), 3.0f), sh.in, type);
      const TensorView view{"w", type, {sh.in, sh.out}, w.data()};
      const auto bias = random_vec(rng, static_cast<size_t>(sh.out));
      for (int n : {7, 8, 9, 11, 16, 17, 19, 22, 33}) {  // 7: row by row; from 8: the GEMM
        if (sh.in >= 768 && n % 4 != 1) continue;        // (the big shapes: a few row counts)
        const auto x = random_vec(rng, static_cast<size_t>(n * sh.in), 2.0f);
        const float* b = n % 2 ? bias.data() : nullptr;
        const auto want = row_by_row(type, w.data(), sh.in, sh.out, x.data(), n, b);
        if (cpu::cpu_supports_avx512_vnni())
          REQUIRE(same_bits(want, old_tiles(type, w.data(), sh.in, sh.out, x.data(), n, b)));
        for (int threads : {1, 2, 3}) {
          auto k = make_cpu_kernels({.threads = threads});
          std::vector<float> got(want.size(), -1.0f);
          k->matmul(view, b, x.data(), n, got.data());
          INFO(to_string(type) << ", in " << sh.in << ", out " << sh.out << ", n " << n << ", " << threads
                               << " threads");
          REQUIRE(same_bits(got, want));
        }
      }
    }
  }
}

TEST_CASE("widths that are not a multiple of 8 keep the old tiles' results", "[kernels][speed]") {
  Rng rng(47);
  const int64_t in = 100, out = 23;  // 100 = 6 * 16 + 4: a scalar tail, where tile and row differ in the last bit
  for (TensorType type : kFloatTypes) {
    const auto w = encode_rows(random_vec(rng, static_cast<size_t>(in * out)), in, type);
    const TensorView view{"w", type, {in, out}, w.data()};
    auto k = make_cpu_kernels({.threads = 1});
    for (int n : {16, 19}) {
      const auto x = random_vec(rng, static_cast<size_t>(n * in));
      std::vector<float> got(static_cast<size_t>(n * out));
      k->matmul(view, nullptr, x.data(), n, got.data());
      INFO(to_string(type) << ", n " << n);
      if (cpu::cpu_supports_avx512_vnni())
        REQUIRE(same_bits(got, old_tiles(type, w.data(), in, out, x.data(), n, nullptr)));
    }
  }
}

TEST_CASE("a float GEMM tile's outputs are the single-row dot products of its rows and activation rows",
          "[kernels][speed]") {
  const cpu::FloatGemm* g = cpu::float_gemm();
  if (!g) {
    WARN("skipped: this CPU has no AVX-512");
    return;
  }
  Rng rng(53);
  constexpr int R = cpu::kFloatGemmRows, C = cpu::kFloatGemmCols;
  for (TensorType type : kFloatTypes) {
    for (int64_t in : {8, 16, 40, 2048}) {
      for (int values = 0; values < 3; ++values) {
        // 0: random; 1: zero weights against negative x (each sum -0.0);
        // 2: large values, so sums overflow to inf and inf - inf is NaN.
        std::vector<float> wf = random_vec(rng, static_cast<size_t>(in * R), 3.0f);
        std::vector<std::vector<float>> xf(C);
        for (auto& row : xf) row = random_vec(rng, static_cast<size_t>(in), 4.0f);
        if (values == 1) {
          for (auto& v : wf) v = 0.0f;
          for (auto& row : xf)
            for (auto& v : row) v = -std::fabs(v) - 1.0f;
        }
        if (values == 2)
          for (size_t i = 0; i < wf.size(); ++i) wf[i] = (i % 3 ? 60000.0f : -60000.0f);
        if (values == 2)
          for (auto& row : xf)
            for (auto& v : row) v *= 1e35f;
        const auto w = encode_rows(wf, in, type);
        const size_t rb = tensor_bytes(type, in);
        for (int rows = 1; rows <= R; ++rows) {
          std::vector<uint8_t> tile_buf(g->w_tile_bytes(in) + 64);
          uint8_t* tile = align64(tile_buf);
          g->pack_w(w.data(), rb, type, rows, in, tile);
          const float* xs[C];
          for (int j = 0; j < C; ++j) xs[j] = xf[j].data();
          float got[C][R + 1];  // one float past each row: must stay untouched
          float* ys[C];
          for (int j = 0; j < C; ++j) {
            for (float& v : got[j]) v = -7.0f;
            ys[j] = got[j];
          }
          g->tile(tile, xs, in, nullptr, ys, C, rows);
          for (int j = 0; j < C; ++j)
            for (int r = rows; r <= R; ++r) REQUIRE(got[j][r] == -7.0f);
          for (int r = 0; r < rows; ++r)
            for (int j = 0; j < C; ++j) {
              const void* xr = xs[j];
              float want;
              row_dot(cpu::dot_table(true), type)(w.data() + r * rb, &xr, 1, in, &want);
              INFO(to_string(type) << ", in " << in << ", values " << values << ", row " << r << " of " << rows
                                   << ", x " << j << ": " << got[j][r] << " vs " << want);
              REQUIRE(std::memcmp(&got[j][r], &want, sizeof want) == 0);
            }
        }
      }
    }
  }
}

TEST_CASE("matmuls mixing float-GEMM and other weights write what separate matmuls and the row-by-row dots write",
          "[kernels][speed]") {
  Rng rng(59);
  const int64_t outs[] = {37, 12, 21, 9};
  const TensorType types[] = {TensorType::f16, TensorType::q8_0, TensorType::bf16, TensorType::f32};
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<TensorView> views;
  const int64_t width = 288;  // a multiple of 32, as q8_0 wants
  for (int i = 0; i < 4; ++i)
    bytes.push_back(encode_rows(random_vec(rng, static_cast<size_t>(width * outs[i])), width, types[i]));
  for (int i = 0; i < 4; ++i) views.push_back(TensorView{"w", types[i], {width, outs[i]}, bytes[i].data()});
  const auto bias = random_vec(rng, 37);
  for (int threads : {1, 2, 3}) {
    auto k = make_cpu_kernels({.threads = threads});
    for (int n : {8, 13, 16, 21, 40}) {
      INFO(threads << " threads, " << n << " rows");
      const auto x = random_vec(rng, static_cast<size_t>(n * width));
      std::vector<std::vector<float>> alone, fused;
      for (size_t i = 0; i < views.size(); ++i) {
        alone.emplace_back(static_cast<size_t>(n * outs[i]));
        fused.emplace_back(static_cast<size_t>(n * outs[i]), -1.0f);
        k->matmul(views[i], i == 0 ? bias.data() : nullptr, x.data(), n, alone.back().data());
      }
      const Kernels::MatmulOut mo[] = {{&views[0], bias.data(), fused[0].data()},
                                       {&views[1], nullptr, fused[1].data()},
                                       {&views[2], nullptr, fused[2].data()},
                                       {&views[3], nullptr, fused[3].data()}};
      k->matmuls(mo, x.data(), n);
      for (size_t i = 0; i < views.size(); ++i) REQUIRE(same_bits(fused[i], alone[i]));
      REQUIRE(same_bits(alone[0], row_by_row(types[0], bytes[0].data(), width, outs[0], x.data(), n, bias.data())));
      REQUIRE(same_bits(alone[2], row_by_row(types[2], bytes[2].data(), width, outs[2], x.data(), n, nullptr)));
      REQUIRE(same_bits(alone[3], row_by_row(types[3], bytes[3].data(), width, outs[3], x.data(), n, nullptr)));
    }
  }
}
