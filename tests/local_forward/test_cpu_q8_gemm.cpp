// The packed q8_0/q4_0 prefill GEMM (cpu_q8_gemm, used by matmul from 8
// activation rows on AVX-512 VNNI CPUs) returns, bit for bit, what the
// row-by-row dot products return: the oracle is the single-row DotFn of
// the dot table (one weight row, one quantised activation row), which the
// decode path and the earlier tiles use. Sizes cover weight rows that are
// not a multiple of the 4-row tile or of the 16-row panel, activation
// rows that are not a multiple of the 4-row group, one- to many-block
// rows, 1 to 3 threads, biases, and raw weight bytes over the whole int8
// range (-128 included, which no quantiser writes).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/local/cpu_dot.hpp"
#include "engine/local/cpu_q8_gemm.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/quant.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::encode_rows;
using troupe::testing::Rng;
using troupe::testing::align64;
using troupe::testing::random_vec;

namespace {

// Weight rows as raw blocks: every byte value, scales in [2^-10, 2^-3).
std::vector<uint8_t> raw_rows(Rng& rng, TensorType type, int64_t in, int64_t out) {
  const size_t rb = tensor_bytes(type, in);
  std::vector<uint8_t> w(rb * static_cast<size_t>(out));
  const size_t block = type == TensorType::q8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  for (size_t at = 0; at < w.size(); at += block) {
    const uint16_t d = f32_to_f16(0.001f + 0.06f * (rng.uniform(1.0f) + 1.0f));
    std::memcpy(&w[at], &d, sizeof d);
    for (size_t k = 2; k < block; ++k) w[at + k] = static_cast<uint8_t>(static_cast<int>((rng.uniform(1.0f) + 1.0f) * 128.0f) & 0xff);
  }
  return w;
}

// y[i * out + r] = bias[r] + dot(row r, quantised x row i), one DotFn call per pair.
std::vector<float> row_by_row(const cpu::DotTable& dt, TensorType type, const uint8_t* w, int64_t in, int64_t out,
                              const float* x, int n, const float* bias) {
  const cpu::DotFn dot = type == TensorType::q8_0 ? dt.q8_0_q8x : dt.q4_0_q8x;
  const size_t rb = tensor_bytes(type, in);
  std::vector<float> y(static_cast<size_t>(n * out));
  std::vector<BlockQ8_0> xq(static_cast<size_t>(in / 32));
  for (int i = 0; i < n; ++i) {
    quantize_row(TensorType::q8_0, x + i * in, xq.data(), in);
    const void* xr = xq.data();
    for (int64_t r = 0; r < out; ++r) {
      float s;
      dot(w + r * rb, &xr, 1, in, &s);
      y[i * out + r] = bias ? s + bias[r] : s;
    }
  }
  return y;
}

}  // namespace

TEST_CASE("the packed q8_0/q4_0 prefill GEMM equals the row-by-row dot products bit for bit", "[kernels][speed]") {
  Rng rng(29);
  const bool vnni = cpu::cpu_supports_avx512_vnni();
  if (!vnni) WARN("this CPU has no AVX-512 VNNI: the GEMM is not used; checking the tiles it replaces instead");
  for (TensorType type : {TensorType::q8_0, TensorType::q4_0}) {
    for (int64_t in : {32, 160, 800}) {
      for (int64_t out : {1, 3, 5, 17, 23, 37}) {
        for (bool raw : {false, true}) {
          const auto w = raw ? raw_rows(rng, type, in, out)
                             : encode_rows(random_vec(rng, static_cast<size_t>(in * out), 3.0f), in, type);
          const TensorView view{"w", type, {in, out}, w.data()};
          const auto bias = random_vec(rng, static_cast<size_t>(out));
          for (int n : {7, 8, 9, 11, 16, 17, 19, 22, 33}) {  // 7: row by row; from 8: the GEMM
            const auto x = random_vec(rng, static_cast<size_t>(n * in), 2.0f);
            const float* b = n % 2 ? bias.data() : nullptr;
            const auto want = row_by_row(cpu::dot_table(true), type, w.data(), in, out, x.data(), n, b);
            // The AVX2 table (no GEMM) must agree as well: the row-by-row
            // oracle of the VNNI table equals it, and so must the GEMM.
            const auto want_avx2 = row_by_row(cpu::dot_table(true, false), type, w.data(), in, out, x.data(), n, b);
            REQUIRE(want == want_avx2);
            for (int threads : {1, 2, 3}) {
              auto k = make_cpu_kernels({.threads = threads});
              std::vector<float> got(want.size(), -1.0f);
              k->matmul(view, b, x.data(), n, got.data());
              INFO(to_string(type) << (raw ? " raw bytes" : "") << ", in " << in << ", out " << out << ", n " << n
                                   << ", " << threads << " threads");
              REQUIRE(got == want);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("matmuls through the packed GEMM write exactly what separate matmuls and the row-by-row dots write",
          "[kernels][speed]") {
  Rng rng(31);
  const int64_t in = 224;
  const int64_t outs[] = {37, 12, 21};
  const TensorType types[] = {TensorType::q8_0, TensorType::q4_0, TensorType::f16};  // mixed, as q/k/v might be
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<TensorView> views;
  for (int i = 0; i < 3; ++i) bytes.push_back(encode_rows(random_vec(rng, static_cast<size_t>(in * outs[i])), in, types[i]));
  for (int i = 0; i < 3; ++i) views.push_back(TensorView{"w", types[i], {in, outs[i]}, bytes[i].data()});
  const auto bias = random_vec(rng, 37);
  for (int threads : {1, 2}) {
    auto k = make_cpu_kernels({.threads = threads});
    for (int n : {16, 21, 40}) {
      INFO(threads << " threads, " << n << " rows");
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
      const cpu::DotTable& dt = cpu::dot_table(true);
      REQUIRE(alone[0] == row_by_row(dt, types[0], bytes[0].data(), in, outs[0], x.data(), n, bias.data()));
      REQUIRE(alone[1] == row_by_row(dt, types[1], bytes[1].data(), in, outs[1], x.data(), n, nullptr));
    }
  }
}

TEST_CASE("a GEMM tile's outputs are the single-row dot products of its rows and activation rows", "[kernels][speed]") {
  const cpu::Q8Gemm* g = cpu::q8_gemm();
  if (!g) {
    WARN("skipped: this CPU has no AVX-512 VNNI");
    return;
  }
  Rng rng(37);
  constexpr int R = cpu::kGemmRows, C = cpu::kGemmCols;
  for (TensorType type : {TensorType::q8_0, TensorType::q4_0}) {
    for (int64_t in : {32, 64, 2048}) {
      const auto w = raw_rows(rng, type, in, R);
      const size_t rb = tensor_bytes(type, in);
      std::vector<std::vector<BlockQ8_0>> xq(C, std::vector<BlockQ8_0>(static_cast<size_t>(in / 32)));
      for (auto& row : xq) quantize_row(TensorType::q8_0, random_vec(rng, static_cast<size_t>(in), 4.0f).data(), row.data(), in);
      for (int rows = 1; rows <= R; ++rows) {
        std::vector<uint8_t> tile_buf(g->w_tile_bytes(in) + 64), group_buf(g->x_group_bytes(in) + 64, 0);
        uint8_t *tile = align64(tile_buf), *group = align64(group_buf);
        g->pack_w(w.data(), rb, rows, in, type == TensorType::q4_0, tile);
        for (int j = 0; j < C; ++j) g->pack_x(xq[j].data(), in, j, group);
        float got[R * C];
        g->tile(tile, group, in, got);
        const cpu::DotFn dot = type == TensorType::q8_0 ? cpu::dot_table(true).q8_0_q8x : cpu::dot_table(true).q4_0_q8x;
        for (int r = 0; r < rows; ++r)
          for (int j = 0; j < C; ++j) {
            const void* xr = xq[j].data();
            float want;
            dot(w.data() + r * rb, &xr, 1, in, &want);
            INFO(to_string(type) << ", in " << in << ", row " << r << " of " << rows << ", x " << j);
            REQUIRE(got[r * C + j] == want);
          }
      }
    }
  }
}

TEST_CASE("the GEMM's activation quantiser writes what quantize_row and pack_x write, byte for byte",
          "[kernels][speed]") {
  const cpu::Q8Gemm* g = cpu::q8_gemm();
  if (!g) {
    WARN("skipped: this CPU has no AVX-512 VNNI");
    return;
  }
  Rng rng(41);
  const int64_t n = 32 * 12;
  std::vector<float> x = random_vec(rng, static_cast<size_t>(n), 5.0f);
  // Block 1: ties (x * id exactly k + 0.5, d = 1); block 2: zeros; block 3:
  // an inf; block 4: a NaN; block 5: subnormals; block 6: huge values;
  // block 7: tiny normals whose 1 / d overflows; block 8: one non-zero.
  for (int i = 0; i < 32; ++i) x[32 + i] = (i % 2 ? -1.0f : 1.0f) * (static_cast<float>(i) + 0.5f);
  x[32] = 127.0f;
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;
  x[96 + 5] = std::numeric_limits<float>::infinity();
  x[128 + 7] = std::numeric_limits<float>::quiet_NaN();
  for (int i = 0; i < 32; ++i) x[160 + i] = std::numeric_limits<float>::denorm_min() * static_cast<float>(i * 1000);
  for (int i = 0; i < 32; ++i) x[192 + i] = 3e38f * rng.uniform(1.0f);
  for (int i = 0; i < 32; ++i) x[224 + i] = 1e-37f * rng.uniform(1.0f);
  for (int i = 0; i < 32; ++i) x[256 + i] = i == 9 ? -2.5f : 0.0f;
  std::vector<BlockQ8_0> xq(static_cast<size_t>(n / 32));
  quantize_row(TensorType::q8_0, x.data(), xq.data(), n);
  const size_t bytes = g->x_group_bytes(n);
  std::vector<uint8_t> want_buf(bytes + 64, 0), got_buf(bytes + 64, 0);
  uint8_t* want = align64(want_buf);
  uint8_t* got = align64(got_buf);
  for (int j = 0; j < cpu::kGemmCols; ++j) {
    g->pack_x(xq.data(), n, j, want);
    g->quantize_x(x.data(), n, j, got);
  }
  REQUIRE(std::vector<uint8_t>(got, got + bytes) == std::vector<uint8_t>(want, want + bytes));
}
