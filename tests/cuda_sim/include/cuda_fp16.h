// troupe's CUDA simulator: IEEE half precision (CUDA's cuda_fp16.h subset).
//
// What callers may rely on: __half holds the 16 bits of an IEEE binary16;
// __float2half_rn rounds to nearest, ties to even (overflow to inf, NaN
// stays NaN) and __half2float is exact -- the engine's own conversions
// (engine/local/quant.hpp), so the simulator and the CPU backend agree bit
// for bit.
#pragma once

#include <cuda_runtime_api.h>

#include "engine/local/quant.hpp"

struct __half {
  unsigned short __x;
};
typedef __half half;

inline __half __ushort_as_half(unsigned short bits) { return __half{bits}; }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __float2half_rn(float f) { return __half{troupe::engine::local::f32_to_f16(f)}; }
inline __half __float2half(float f) { return __float2half_rn(f); }
inline float __half2float(__half h) { return troupe::engine::local::f16_to_f32(h.__x); }
