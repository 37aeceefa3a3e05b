// Element-type conversions for model weights: IEEE half (f16) and bfloat16
// to and from float, and ggml's Q8_0 / Q4_0 block quantisation.
//
// What callers may rely on:
// - f32_to_f16 and f32_to_bf16 round to nearest, ties to even; values too
//   large become +-inf, values too small become (signed) zero or an f16
//   subnormal; NaN stays NaN (quiet). f16_to_f32 / bf16_to_f32 are exact.
// - Block layouts are ggml's, byte for byte (so files move between tools):
//   Q8_0: 34 bytes per 32 values = f16 scale d, then 32 int8 q; x = q * d.
//   Q4_0: 18 bytes per 32 values = f16 scale d, then 16 bytes; byte j holds
//   value j in its low nibble and value j + 16 in its high nibble;
//   x = (nibble - 8) * d.
// - For quantised types `n` must be a multiple of 32 (block_size()); the
//   functions here do not check it (callers validate shapes once, at load).
// - Pure functions of their inputs: thread-safe, no allocation.
#pragma once

#include <cstdint>

#include "engine/local/model.hpp"

namespace troupe::engine::local {

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t b);

// One Q8_0 / Q4_0 block in memory (ggml's layout; no padding).
struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;  // f16 scale
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes");

// `n` floats -> `tensor_bytes(type, n)` bytes at `out`, for every TensorType.
void quantize_row(TensorType type, const float* x, void* out, int64_t n);
// `tensor_bytes(type, n)` bytes at `in` -> `n` floats, for every TensorType.
void dequantize_row(TensorType type, const void* in, float* out, int64_t n);
// dot(row, x) where `row` holds `n` elements of `type` (a plain reference
// implementation: the forward pass may use faster kernels, which must agree).
float dot_row(TensorType type, const void* row, const float* x, int64_t n);

}  // namespace troupe::engine::local
