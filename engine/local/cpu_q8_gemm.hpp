// The prefill GEMM for q8_0 and q4_0 weights on AVX-512 VNNI CPUs: weight
// rows x activation rows quantised to q8_0, in tiles of kGemmRows x
// kGemmCols dot products, over copies of both operands packed for the
// tile (a weight panel packed per call, in a per-thread buffer that stays
// in cache; activations packed once per matmul). Internal to
// kernels_cpu.cpp and tests.
//
// What callers may rely on: every dot product equals, bit for bit, what
// DotTable::q8_0_q8x / q4_0_q8x return for that weight row and that
// quantised activation row (the q8_0 blocks quantize_row makes): the same
// integer lane sums, the same per-block float scale dw * dx, the same
// fused multiply-adds into the same eight lanes, block by block, and the
// same final horizontal sum. Only the integer sums are formed differently
// (activations offset to unsigned, the offset taken back exactly by a
// per-block weight correction), and integer sums are exact.
//
// Layouts (all offsets from 64-byte-aligned buffers):
//   activation group: kGemmCols rows; per 32-element block b, the rows'
//     values + 128 as bytes at qs + (b * kGemmCols + j) * 32; their scales
//     as floats at d + b * kGemmCols + j.
//   weight tile: kGemmRows rows; per block b, the rows' int8 values at
//     qs + (b * kGemmRows + r) * 32, -128 * (sum of each 4 values) as 8
//     int32 at corr + (b * kGemmRows + r) * 8, scales at d + b * kGemmRows + r.
// Slots past the real rows are zero-filled; their outputs mean nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/local/quant.hpp"

namespace troupe::engine::local::cpu {

inline constexpr int kGemmRows = 4;  // weight rows per tile
inline constexpr int kGemmCols = 4;  // activation rows per group

struct Q8Gemm {
  // Bytes of one packed activation group / weight tile for rows of n
  // elements (n a multiple of 32); multiples of 64.
  size_t (*x_group_bytes)(int64_t n) = nullptr;
  size_t (*w_tile_bytes)(int64_t n) = nullptr;
  // Packs one quantised activation row (n / 32 blocks) into slot j of a
  // group. The group's other slots are left as they are.
  void (*pack_x)(const BlockQ8_0* row, int64_t n, int j, void* group) = nullptr;
  // pack_x of quantize_row(q8_0, x, ..., n), bit for bit, in one pass.
  void (*quantize_x)(const float* x, int64_t n, int j, void* group) = nullptr;
  // Packs `rows` (1..kGemmRows) q8_0 (q4 false) or q4_0 (q4 true) weight
  // rows at w, w + row_bytes, ... into a tile, zero-filling the rest.
  void (*pack_w)(const void* w, size_t row_bytes, int rows, int64_t n, bool q4, void* tile) = nullptr;
  // out[r * kGemmCols + j] = dot(weight row r of tile, activation row j of group).
  void (*tile)(const void* tile, const void* group, int64_t n, float* out) = nullptr;
};

// The AVX-512 VNNI GEMM, or nullptr when the CPU lacks AVX2/FMA/F16C or
// AVX-512 F/VL/VNNI.
const Q8Gemm* q8_gemm();

}  // namespace troupe::engine::local::cpu
