// The prefill GEMM for f16, bf16 and f32 weights on AVX-512 CPUs: weight
// rows x float32 activation rows in tiles of kFloatGemmRows x
// kFloatGemmCols dot products, over weight rows converted to float32 once
// per call into a packed tile (the caller keeps a panel of a few tiles
// per thread, in cache, while every group of activation rows passes it),
// so the inner loop is loads and fused multiply-adds only. Internal to
// kernels_cpu.cpp and tests.
//
// What callers may rely on: for rows of n elements, n a multiple of 8,
// every dot product equals, bit for bit, what DotTable::f16 / bf16 / f32
// (and the f16/bf16/f32 tiles) return for that weight row and activation
// row: per 16-element chunk the same fused multiply-add into the same
// lane of the same pair of 8-lane accumulators (lanes 0-7 the even
// chunk's, 8-15 the odd chunk's), an 8-element tail into lanes 0-7, and
// the same horizontal sum (the adds of cpu_dot's hsum, done for 16 sums
// at once by shuffles that move values without changing them). An f16 or
// bf16 value converts to float32 exactly, so converting early changes no
// product. Rows whose width is not a multiple of 8 are not supported
// (the row code's scalar tail is left to it).
//
// Tile layout (from a 64-byte-aligned buffer): per 16-element chunk c of
// ceil(n / 16), the kFloatGemmRows rows' 16 floats at (c * kFloatGemmRows
// + r) * 16; the 8-element tail chunk is zero-padded, and so are rows past
// the real ones (their outputs mean nothing).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/local/quant.hpp"

namespace troupe::engine::local::cpu {

inline constexpr int kFloatGemmRows = 4;  // weight rows per tile
inline constexpr int kFloatGemmCols = 4;  // activation rows per call

struct FloatGemm {
  // Bytes of one packed weight tile for rows of n elements; a multiple of 64.
  size_t (*w_tile_bytes)(int64_t n) = nullptr;
  // Packs `rows` (1..kFloatGemmRows) weight rows of `type` (f32, f16 or
  // bf16) at w, w + row_bytes, ... into a tile, zero-filling the rest.
  void (*pack_w)(const void* w, size_t row_bytes, TensorType type, int rows, int64_t n, void* tile) = nullptr;
  // y[j][r] = dot(weight row r of tile, x[j]) (+ bias[r] when bias is not
  // null, one float add) for r < rows and j < nx, from the
  // kFloatGemmCols activation rows x[0..3] (n floats each, any alignment;
  // repeat a row to fill the group). Writes nothing else: one activation
  // row's `rows` outputs go straight to its output row.
  void (*tile)(const void* tile, const float* const* x, int64_t n, const float* bias, float* const* y, int nx,
               int rows) = nullptr;
};

// The AVX-512 GEMM, or nullptr when the CPU lacks AVX2/FMA/F16C or
// AVX-512 F/VL (the tables' tiles need VNNI too; this asks for the same
// CPUs: cpu_supports_avx512_vnni()).
const FloatGemm* float_gemm();

}  // namespace troupe::engine::local::cpu
