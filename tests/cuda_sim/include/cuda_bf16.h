// troupe's CUDA simulator: bfloat16 (CUDA's cuda_bf16.h subset).
//
// What callers may rely on: __nv_bfloat16 holds the 16 bits of a bfloat16;
// __float2bfloat16_rn rounds to nearest, ties to even (NaN stays NaN) and
// __bfloat162float is exact -- the engine's own conversions
// (engine/local/quant.hpp).
#pragma once

#include <cuda_runtime_api.h>

#include "engine/local/quant.hpp"

struct __nv_bfloat16 {
  unsigned short __x;
};
typedef __nv_bfloat16 nv_bfloat16;

inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short bits) { return __nv_bfloat16{bits}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{troupe::engine::local::f32_to_bf16(f)}; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return troupe::engine::local::bf16_to_f32(b.__x); }
