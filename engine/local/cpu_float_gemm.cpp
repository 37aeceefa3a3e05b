// See cpu_float_gemm.hpp. Compiled with target attributes, so the library
// builds for any x86-64; float_gemm() hands the functions out only after
// cpu_supports_avx512_vnni() said yes.
#include "engine/local/cpu_float_gemm.hpp"

#include "engine/local/cpu_dot.hpp"
#include "engine/local/cpu_hsum16.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TROUPE_X86 1
#endif

namespace troupe::engine::local::cpu {

#ifdef TROUPE_X86
namespace {

#define TARGET_ZMM __attribute__((target("avx2,fma,f16c,avx512f,avx512vl")))

constexpr int R = kFloatGemmRows, C = kFloatGemmCols;

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it then
// reports as maybe uninitialised (GCC bug 105593); silenced for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

int64_t chunks(int64_t n) { return (n + 15) / 16; }

size_t w_tile_bytes(int64_t n) { return static_cast<size_t>(chunks(n)) * R * 16 * sizeof(float); }

// 16 (or, at a tail, 8 then zeros) weight values from element i on, as float32.
TARGET_ZMM inline __m512 load_w(const void* row, TensorType type, int64_t i, bool tail8) {
  const auto* h = static_cast<const uint16_t*>(row) + i;
  switch (type) {
    case TensorType::f16:
      if (tail8) return _mm512_zextps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))));
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
    case TensorType::bf16: {
      const __m256i v = tail8 ? _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)))
                              : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h));
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    }
    default:
      return _mm512_maskz_loadu_ps(tail8 ? 0x00ff : 0xffff, static_cast<const float*>(row) + i);
  }
}

TARGET_ZMM void pack_w(const void* w, size_t row_bytes, TensorType type, int rows, int64_t n, void* tile) {
  auto* t = static_cast<float*>(tile);
  const int64_t nc = chunks(n);
  for (int r = 0; r < R; ++r) {
    const char* row = static_cast<const char*>(w) + r * row_bytes;
    for (int64_t c = 0; c < nc; ++c) {
      float* dst = t + (c * R + r) * 16;
      _mm512_store_ps(dst, r < rows ? load_w(row, type, c * 16, c * 16 + 16 > n) : _mm512_setzero_ps());
    }
  }
}

// Per (r, j): acc += w_r * x_j, chunk by chunk, as dot_tile_zmm_nx does;
// an 8-element tail into lanes 0-7 only (the AVX2 code's a0). Named
// accumulators, not an array: GCC 12 kept the array in memory.
TARGET_ZMM void tile(const void* tile, const float* const* x, int64_t n, const float* bias, float* const* y, int nx,
                     int rows) {
  static_assert(R == 4 && C == 4, "written out for 4 x 4");
  const auto* w = static_cast<const float*>(tile);
  const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
  // a<r><j>: weight row r with activation row j
  __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00,
         a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
  const int64_t full = n / 16;
  int64_t i = 0;
#define TROUPE_COL(j)                              \
  {                                                \
    const __m512 xx = _mm512_loadu_ps(x##j + i);   \
    a0##j = _mm512_fmadd_ps(w0, xx, a0##j);        \
    a1##j = _mm512_fmadd_ps(w1, xx, a1##j);        \
    a2##j = _mm512_fmadd_ps(w2, xx, a2##j);        \
    a3##j = _mm512_fmadd_ps(w3, xx, a3##j);        \
  }
  for (int64_t c = 0; c < full; ++c, i += 16, w += R * 16) {
    const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16), w2 = _mm512_load_ps(w + 32),
                 w3 = _mm512_load_ps(w + 48);
    TROUPE_COL(0) TROUPE_COL(1) TROUPE_COL(2) TROUPE_COL(3)
  }
#undef TROUPE_COL
  if (i < n) {  // 8 left
    const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16), w2 = _mm512_load_ps(w + 32),
                 w3 = _mm512_load_ps(w + 48);
#define TROUPE_COL(j)                                            \
  {                                                              \
    const __m512 xx = _mm512_maskz_loadu_ps(0x00ff, x##j + i);   \
    a0##j = _mm512_mask3_fmadd_ps(w0, xx, a0##j, 0x00ff);        \
    a1##j = _mm512_mask3_fmadd_ps(w1, xx, a1##j, 0x00ff);        \
    a2##j = _mm512_mask3_fmadd_ps(w2, xx, a2##j, 0x00ff);        \
    a3##j = _mm512_mask3_fmadd_ps(w3, xx, a3##j, 0x00ff);        \
  }
    TROUPE_COL(0) TROUPE_COL(1) TROUPE_COL(2) TROUPE_COL(3)
#undef TROUPE_COL
  }
  const __m512 v[16] = {a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33};
  // Lanes 4j .. 4j + 3: activation row j's outputs for rows 0-3.
  // (Taken from the register: a 512-bit store read back in 128-bit parts
  // was measured to stall.)
  const __m512 sums = zmm_hsum16(v);
  const __m128 s[C] = {_mm512_castps512_ps128(sums), _mm512_extractf32x4_ps(sums, 1), _mm512_extractf32x4_ps(sums, 2),
                       _mm512_extractf32x4_ps(sums, 3)};
  const __mmask8 m = static_cast<__mmask8>((1u << rows) - 1);
  const __m128 b = bias ? _mm_maskz_loadu_ps(m, bias) : _mm_setzero_ps();
  for (int j = 0; j < nx; ++j) _mm_mask_storeu_ps(y[j], m, bias ? _mm_add_ps(s[j], b) : s[j]);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

const FloatGemm kZmm = {
    .w_tile_bytes = w_tile_bytes,
    .pack_w = pack_w,
    .tile = tile,
};

}  // namespace
#endif

const FloatGemm* float_gemm() {
#ifdef TROUPE_X86
  if (cpu_supports_avx512_vnni()) return &kZmm;
#endif
  return nullptr;
}

}  // namespace troupe::engine::local::cpu
