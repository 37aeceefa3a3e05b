// Reference conversions between float and the weight types GGUF files use.
#include "engine/local/quant.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace troupe::engine::local {

uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xffu) {  // inf or NaN; NaN keeps its top payload bits, made quiet
    if (mant != 0) return static_cast<uint16_t>(sign | 0x7e00u | (mant >> 13));
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  const int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {
    // Result is an f16 subnormal (or zero): value = m * 2^-24.
    if (e < -10) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    mant |= 0x800000u;                                 // the implicit leading one
    const int shift = 14 - e;                          // 14..24
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (h & 1u))) ++h;  // may carry into the smallest normal: correct
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into inf: correct
  return static_cast<uint16_t>(sign | h);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      uint32_t e = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
      }
      bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t f32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

namespace {

void quantize_q8_0(const float* x, BlockQ8_0* out, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) out[b].qs[j] = static_cast<int8_t>(std::lround(x[j] * id));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* out, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += 32) {
    // The value of largest magnitude, with its sign, maps to -8.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (int j = 0; j < 16; ++j) {
      const float v0 = x[j] * id + 8.5f;
      const float v1 = x[j + 16] * id + 8.5f;
      const auto q0 = static_cast<uint8_t>(std::clamp(v0, 0.0f, 15.0f));
      const auto q1 = static_cast<uint8_t>(std::clamp(v1, 0.0f, 15.0f));
      out[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

}  // namespace

void quantize_row(TensorType type, const float* x, void* out, int64_t n) {
  switch (type) {
    case TensorType::f32:
      std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::f16: {
      auto* o = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(x[i]);
      return;
    }
    case TensorType::bf16: {
      auto* o = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
      return;
    }
    case TensorType::q8_0: quantize_q8_0(x, static_cast<BlockQ8_0*>(out), n / 32); return;
    case TensorType::q4_0: quantize_q4_0(x, static_cast<BlockQ4_0*>(out), n / 32); return;
  }
}

void dequantize_row(TensorType type, const void* in, float* out, int64_t n) {
  switch (type) {
    case TensorType::f32:
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::f16: {
      const auto* h = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(h[i]);
      return;
    }
    case TensorType::bf16: {
      const auto* h = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(h[i]);
      return;
    }
    case TensorType::q8_0: {
      const auto* blocks = static_cast<const BlockQ8_0*>(in);
      for (int64_t b = 0; b < n / 32; ++b) {
        const float d = f16_to_f32(blocks[b].d);
        for (int j = 0; j < 32; ++j) out[b * 32 + j] = static_cast<float>(blocks[b].qs[j]) * d;
      }
      return;
    }
    case TensorType::q4_0: {
      const auto* blocks = static_cast<const BlockQ4_0*>(in);
      for (int64_t b = 0; b < n / 32; ++b) {
        const float d = f16_to_f32(blocks[b].d);
        for (int j = 0; j < 16; ++j) {
          out[b * 32 + j] = static_cast<float>((blocks[b].qs[j] & 0x0f) - 8) * d;
          out[b * 32 + j + 16] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
        }
      }
      return;
    }
  }
}

float dot_row(TensorType type, const void* row, const float* x, int64_t n) {
  // Block by block through a small buffer: no allocation, any type.
  constexpr int64_t chunk = 256;  // a multiple of every block size
  float buf[chunk];
  float sum = 0.0f;
  const auto* bytes = static_cast<const uint8_t*>(row);
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t m = std::min(chunk, n - i);
    dequantize_row(type, bytes + tensor_bytes(type, i), buf, m);
    for (int64_t j = 0; j < m; ++j) sum += buf[j] * x[i + j];
  }
  return sum;
}

}  // namespace troupe::engine::local
