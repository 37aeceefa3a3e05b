// See cpu_dot.hpp. The AVX2 functions carry a target attribute and are only
// called after cpu_supports_avx2() said yes.
#include "engine/local/cpu_dot.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "engine/local/cpu_hsum16.hpp"
#include "engine/local/quant.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TROUPE_X86 1
#endif

namespace troupe::engine::local::cpu {
namespace {

constexpr int kQBlock = 32;

// ---- plain C++ --------------------------------------------------------------

struct PlainF32 {
  static float get(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct PlainF16 {
  static float get(const void* w, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};
struct PlainBF16 {
  static float get(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }
};
struct PlainQ8 {
  static float get(const void* w, int64_t i) {
    const BlockQ8_0& b = static_cast<const BlockQ8_0*>(w)[i / kQBlock];
    return b.qs[i % kQBlock] * f16_to_f32(b.d);
  }
};
struct PlainQ4 {
  static float get(const void* w, int64_t i) {
    const BlockQ4_0& b = static_cast<const BlockQ4_0*>(w)[i / kQBlock];
    const int j = static_cast<int>(i % kQBlock);
    const int q = j < 16 ? (b.qs[j] & 0x0f) : (b.qs[j - 16] >> 4);
    return (q - 8) * f16_to_f32(b.d);
  }
};

template <class E>
void dot_plain(const void* w, const void* const* x, int nx, int64_t n, float* out) {
  for (int j = 0; j < nx; ++j) {
    const float* xj = static_cast<const float*>(x[j]);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += E::get(w, i) * xj[i];
    out[j] = s;
  }
}

// Signed 8-bit weight values of block b, 32 of them.
inline void q8_values(const BlockQ8_0& b, int8_t* v) {
  for (int i = 0; i < kQBlock; ++i) v[i] = b.qs[i];
}
inline void q8_values(const BlockQ4_0& b, int8_t* v) {
  for (int i = 0; i < kQBlock / 2; ++i) {
    v[i] = static_cast<int8_t>((b.qs[i] & 0x0f) - 8);
    v[i + 16] = static_cast<int8_t>((b.qs[i] >> 4) - 8);
  }
}

template <class WBlock>
void dot_q8x_plain(const void* w, const void* const* x, int nx, int64_t n, float* out) {
  const auto* wb = static_cast<const WBlock*>(w);
  const int64_t nb = n / kQBlock;
  for (int j = 0; j < nx; ++j) {
    const auto* xb = static_cast<const BlockQ8_0*>(x[j]);
    float s = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int8_t v[kQBlock];
      q8_values(wb[b], v);
      int32_t isum = 0;
      for (int i = 0; i < kQBlock; ++i) isum += v[i] * xb[b].qs[i];
      s += static_cast<float>(isum) * (f16_to_f32(wb[b].d) * f16_to_f32(xb[b].d));
    }
    out[j] = s;
  }
}

void axpy_plain(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Four rows through a DotFn, one at a time (the plain build has no chains to overlap).
template <DotFn F>
void rows4_by_one(const void* w, size_t row_bytes, const void* x, int64_t n, float* out) {
  for (int r = 0; r < kRows4; ++r) F(static_cast<const char*>(w) + r * row_bytes, &x, 1, n, out + r);
}

void axpy_f16_plain(float a, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * f16_to_f32(x[i]);
}

void axpy_bf16_plain(float a, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * bf16_to_f32(x[i]);
}

void axpy_rows_plain(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) {
  for (int64_t t = 0; t < rows; ++t) axpy_plain(a[t], static_cast<const float*>(x[t]), y, n);
}

void axpy_rows_f16_plain(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) {
  for (int64_t t = 0; t < rows; ++t) axpy_f16_plain(a[t], static_cast<const uint16_t*>(x[t]), y, n);
}

void axpy_rows_bf16_plain(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) {
  for (int64_t t = 0; t < rows; ++t) axpy_bf16_plain(a[t], static_cast<const uint16_t*>(x[t]), y, n);
}

// Two axpy_rows calls in turn (also the AVX2 tables' form: with 256-bit
// registers one sum already has eight chains side by side).
template <void (*AxpyRows)(const float*, const void* const*, int64_t, float*, int64_t)>
void axpy_rows2_by_one(const float* a0, const float* a1, const void* const* x, int64_t rows0, int64_t rows1, float* y0,
                       float* y1, int64_t n) {
  AxpyRows(a0, x, rows0, y0, n);
  AxpyRows(a1, x, rows1, y1, n);
}

void to_f16_plain(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

void to_bf16_plain(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

const DotTable kPlain = {
    .f32 = dot_plain<PlainF32>,
    .f16 = dot_plain<PlainF16>,
    .bf16 = dot_plain<PlainBF16>,
    .q8_0_f32x = dot_plain<PlainQ8>,
    .q4_0_f32x = dot_plain<PlainQ4>,
    .q8_0_q8x = dot_q8x_plain<BlockQ8_0>,
    .q4_0_q8x = dot_q8x_plain<BlockQ4_0>,
    .f32_rows4 = rows4_by_one<dot_plain<PlainF32>>,
    .f16_rows4 = rows4_by_one<dot_plain<PlainF16>>,
    .bf16_rows4 = rows4_by_one<dot_plain<PlainBF16>>,
    .q8_0_f32x_rows4 = rows4_by_one<dot_plain<PlainQ8>>,
    .q4_0_f32x_rows4 = rows4_by_one<dot_plain<PlainQ4>>,
    .q8_0_q8x_rows4 = rows4_by_one<dot_q8x_plain<BlockQ8_0>>,
    .q4_0_q8x_rows4 = rows4_by_one<dot_q8x_plain<BlockQ4_0>>,
    .axpy = axpy_plain,
    .axpy_f16 = axpy_f16_plain,
    .axpy_bf16 = axpy_bf16_plain,
    .axpy_rows = axpy_rows_plain,
    .axpy_rows_f16 = axpy_rows_f16_plain,
    .axpy_rows_bf16 = axpy_rows_bf16_plain,
    .axpy_rows2 = axpy_rows2_by_one<axpy_rows_plain>,
    .axpy_rows2_f16 = axpy_rows2_by_one<axpy_rows_f16_plain>,
    .axpy_rows2_bf16 = axpy_rows2_by_one<axpy_rows_bf16_plain>,
    .to_f16 = to_f16_plain,
    .to_bf16 = to_bf16_plain,
};

// ---- AVX2 / FMA / F16C -------------------------------------------------------
#ifdef TROUPE_X86
#define TARGET __attribute__((target("avx2,fma,f16c")))

TARGET inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  lo = _mm_add_ps(lo, _mm256_extractf128_ps(v, 1));
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 s = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, s);
  s = _mm_add_ss(s, sh);
  return _mm_cvtss_f32(s);
}

TARGET inline float f16(uint16_t h) { return _cvtsh_ss(h); }

struct AvxF32 {
  TARGET static __m256 load8(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
  static float get(const void* w, int64_t i) { return PlainF32::get(w, i); }
};
struct AvxF16 {
  TARGET static __m256 load8(const void* w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  }
  static float get(const void* w, int64_t i) { return PlainF16::get(w, i); }
};
struct AvxBF16 {
  TARGET static __m256 load8(const void* w, int64_t i) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float get(const void* w, int64_t i) { return PlainBF16::get(w, i); }
};
struct AvxQ8 {  // i is a multiple of 8, so 8 elements never straddle blocks
  TARGET static __m256 load8(const void* w, int64_t i) {
    const BlockQ8_0& b = static_cast<const BlockQ8_0*>(w)[i / kQBlock];
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + i % kQBlock));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(f16(b.d)));
  }
  static float get(const void* w, int64_t i) { return PlainQ8::get(w, i); }
};
struct AvxQ4 {
  TARGET static __m256 load8(const void* w, int64_t i) {
    const BlockQ4_0& b = static_cast<const BlockQ4_0*>(w)[i / kQBlock];
    const int off = static_cast<int>(i % kQBlock);
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + (off & 15))));
    if (off >= 16) v = _mm256_srli_epi32(v, 4);
    v = _mm256_sub_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x0f)), _mm256_set1_epi32(8));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(f16(b.d)));
  }
  static float get(const void* w, int64_t i) { return PlainQ4::get(w, i); }
};

// Two accumulators per row (even and odd 8-element chunks), same order for
// every nx.
template <class L, int NX>
TARGET void dot_avx2_nx(const void* w, const void* const* xv, int64_t n, float* out) {
  __m256 a0[NX], a1[NX];
  const float* x[NX];
  for (int j = 0; j < NX; ++j) {
    a0[j] = _mm256_setzero_ps();
    a1[j] = _mm256_setzero_ps();
    x[j] = static_cast<const float*>(xv[j]);
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = L::load8(w, i), w1 = L::load8(w, i + 8);
    for (int j = 0; j < NX; ++j) {
      a0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[j] + i), a0[j]);
      a1[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[j] + i + 8), a1[j]);
    }
  }
  if (i + 8 <= n) {
    const __m256 w0 = L::load8(w, i);
    for (int j = 0; j < NX; ++j) a0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[j] + i), a0[j]);
    i += 8;
  }
  for (int j = 0; j < NX; ++j) {
    float s = hsum(_mm256_add_ps(a0[j], a1[j]));
    for (int64_t k = i; k < n; ++k) s += L::get(w, k) * x[j][k];
    out[j] = s;
  }
}

// dot_avx2_nx<L, 1> for four weight rows side by side: per row the same
// two accumulators, the same FMAs in the same order, the same tail.
template <class L>
TARGET void dot_avx2_rows4(const void* w, size_t row_bytes, const void* xv, int64_t n, float* out) {
  const float* x = static_cast<const float*>(xv);
  const void* wr[kRows4];
  __m256 a0[kRows4], a1[kRows4];
  for (int r = 0; r < kRows4; ++r) {
    wr[r] = static_cast<const char*>(w) + r * row_bytes;
    a0[r] = _mm256_setzero_ps();
    a1[r] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    for (int r = 0; r < kRows4; ++r) {
      a0[r] = _mm256_fmadd_ps(L::load8(wr[r], i), x0, a0[r]);
      a1[r] = _mm256_fmadd_ps(L::load8(wr[r], i + 8), x1, a1[r]);
    }
  }
  if (i + 8 <= n) {
    const __m256 x0 = _mm256_loadu_ps(x + i);
    for (int r = 0; r < kRows4; ++r) a0[r] = _mm256_fmadd_ps(L::load8(wr[r], i), x0, a0[r]);
    i += 8;
  }
  for (int r = 0; r < kRows4; ++r) {
    float s = hsum(_mm256_add_ps(a0[r], a1[r]));
    for (int64_t k = i; k < n; ++k) s += L::get(wr[r], k) * x[k];
    out[r] = s;
  }
}

template <class L>
TARGET void dot_avx2(const void* w, const void* const* x, int nx, int64_t n, float* out) {
  switch (nx) {
    case 1: return dot_avx2_nx<L, 1>(w, x, n, out);
    case 2: return dot_avx2_nx<L, 2>(w, x, n, out);
    case 3: return dot_avx2_nx<L, 3>(w, x, n, out);
    default: return dot_avx2_nx<L, 4>(w, x, n, out);
  }
}

TARGET inline __m256i q8_load(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
TARGET inline __m256i q8_load(const BlockQ4_0& b) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), _mm_and_si128(bytes, mask));
  return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

template <class WBlock, int NX>
TARGET void dot_q8x_avx2_nx(const void* w, const void* const* xv, int64_t n, float* out) {
  const auto* wb = static_cast<const WBlock*>(w);
  const BlockQ8_0* xb[NX];
  __m256 acc[NX];
  for (int j = 0; j < NX; ++j) {
    xb[j] = static_cast<const BlockQ8_0*>(xv[j]);
    acc[j] = _mm256_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t nb = n / kQBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i qw = q8_load(wb[b]);
    const __m256i aw = _mm256_sign_epi8(qw, qw);
    const float dw = f16(wb[b].d);
    for (int j = 0; j < NX; ++j) {
      const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j][b].qs));
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(qx, qw)), ones);
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * f16(xb[j][b].d)), _mm256_cvtepi32_ps(p), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]);
}

// dot_q8x_avx2_nx<WBlock, 1> for four weight rows side by side.
template <class WBlock>
TARGET void dot_q8x_avx2_rows4(const void* w, size_t row_bytes, const void* xv, int64_t n, float* out) {
  const auto* xb = static_cast<const BlockQ8_0*>(xv);
  const WBlock* wb[kRows4];
  __m256 acc[kRows4];
  for (int r = 0; r < kRows4; ++r) {
    wb[r] = reinterpret_cast<const WBlock*>(static_cast<const char*>(w) + r * row_bytes);
    acc[r] = _mm256_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t nb = n / kQBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const float dx = f16(xb[b].d);
    for (int r = 0; r < kRows4; ++r) {
      const __m256i qw = q8_load(wb[r][b]);
      const __m256i aw = _mm256_sign_epi8(qw, qw);
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(qx, qw)), ones);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(f16(wb[r][b].d) * dx), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < kRows4; ++r) out[r] = hsum(acc[r]);
}

template <class WBlock>
TARGET void dot_q8x_avx2(const void* w, const void* const* x, int nx, int64_t n, float* out) {
  switch (nx) {
    case 1: return dot_q8x_avx2_nx<WBlock, 1>(w, x, n, out);
    case 2: return dot_q8x_avx2_nx<WBlock, 2>(w, x, n, out);
    case 3: return dot_q8x_avx2_nx<WBlock, 3>(w, x, n, out);
    default: return dot_q8x_avx2_nx<WBlock, 4>(w, x, n, out);
  }
}

TARGET void axpy_avx2(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

TARGET void axpy_f16_avx2(float a, const uint16_t* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, AvxF16::load8(x, i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * f16(x[i]);
}

TARGET void axpy_bf16_avx2(float a, const uint16_t* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, AvxBF16::load8(x, i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * bf16_to_f32(x[i]);
}

// NV vectors of 8 floats of y at offset c, through every row: per element
// the FMAs of axpy_avx2 (or axpy_f16_avx2, axpy_bf16_avx2), in row order.
template <class L, int NV>
TARGET inline void axpy_rows_chunk(const float* a, const void* const* x, int64_t rows, float* y, int64_t c) {
  __m256 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_loadu_ps(y + c + 8 * v);
  for (int64_t t = 0; t < rows; ++t) {
    const __m256 va = _mm256_set1_ps(a[t]);
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(va, L::load8(x[t], c + 8 * v), acc[v]);
  }
  for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + c + 8 * v, acc[v]);
}

// Elements [c, n) of axpy_rows_avx2.
template <class L>
TARGET void axpy_rows_avx2_from(const float* a, const void* const* x, int64_t rows, float* y, int64_t n, int64_t c) {
  for (; c + 64 <= n; c += 64) axpy_rows_chunk<L, 8>(a, x, rows, y, c);
  for (; c + 8 <= n; c += 8) axpy_rows_chunk<L, 1>(a, x, rows, y, c);
  for (; c < n; ++c)
    for (int64_t t = 0; t < rows; ++t) y[c] += a[t] * L::get(x[t], c);
}

template <class L>
TARGET void axpy_rows_avx2(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) {
  axpy_rows_avx2_from<L>(a, x, rows, y, n, 0);
}

// _MM_FROUND_TO_NEAREST_INT: round to nearest, ties to even, as f32_to_f16.
TARGET void to_f16_avx2(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

// f32_to_bf16 on eight floats at once, in integer arithmetic: bits + 0x7fff
// + (bit 16 of bits), then the top 16 bits (round to nearest, ties to
// even; a carry into the exponent rounds up to the next power of two or to
// inf, as it should); a NaN keeps its top bits with the quiet bit set.
TARGET void to_bf16_avx2(const float* x, uint16_t* y, int64_t n) {
  const __m256i round = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), one);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(round, odd)), 16);
    const __m256i nan_bits = _mm256_or_si256(_mm256_srli_epi32(b, 16), quiet);
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs_mask), inf);
    const __m256i h = _mm256_blendv_epi8(rounded, nan_bits, is_nan);
    // Each 32-bit lane holds 0..0xffff, so the unsigned-saturating pack is exact.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
  }
  for (; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

// ---- AVX-512 VNNI (256-bit, EVEX) --------------------------------------------
// vpdpbusd sums the four u8*s8 products of each 32-bit lane into int32: the
// same lane sums maddubs + madd(ones) make (q8_0 values are within
// [-127, 127], so maddubs never saturates), so these functions return
// exactly what the AVX2 ones do, in fewer instructions.
#define TARGET_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

template <class WBlock, int NX>
TARGET_VNNI void dot_q8x_vnni_nx(const void* w, const void* const* xv, int64_t n, float* out) {
  const auto* wb = static_cast<const WBlock*>(w);
  const BlockQ8_0* xb[NX];
  __m256 acc[NX];
  for (int j = 0; j < NX; ++j) {
    xb[j] = static_cast<const BlockQ8_0*>(xv[j]);
    acc[j] = _mm256_setzero_ps();
  }
  const int64_t nb = n / kQBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i qw = q8_load(wb[b]);
    const __m256i aw = _mm256_sign_epi8(qw, qw);
    const float dw = _cvtsh_ss(wb[b].d);
    for (int j = 0; j < NX; ++j) {
      const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j][b].qs));
      const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, _mm256_sign_epi8(qx, qw));
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * _cvtsh_ss(xb[j][b].d)), _mm256_cvtepi32_ps(p), acc[j]);
    }
  }
  for (int j = 0; j < NX; ++j) out[j] = hsum(acc[j]);
}

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it then
// reports as maybe uninitialised (GCC bug 105593); silenced for this part.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// 16 weight values as one 512-bit vector: lanes 0-7 are the AVX2 code's
// even 8-element chunk, lanes 8-15 its odd one, so one 512-bit FMA does
// exactly the two 256-bit FMAs (a0 and a1) of dot_avx2_nx.
struct Zmm32 {
  TARGET_VNNI static __m512 load16(const void* w, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(w) + i); }
};
struct Zmm16 {
  TARGET_VNNI static __m512 load16(const void* w, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
  }
};
struct ZmmB16 {
  TARGET_VNNI static __m512 load16(const void* w, int64_t i) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};

// dot_avx2_nx with 512-bit accumulators, kTileRows weight rows at once:
// acc = [a0 | a1] per (row, x) pair; the 8-wide tail goes into the low half
// (a0) as in the AVX2 code. 16 accumulators of the 32 registers.
template <class L, class Z, int NX>
TARGET_VNNI void dot_tile_zmm_nx(const void* w, size_t row_bytes, const void* const* xv, int64_t n, float* out) {
  constexpr int R = kTileRows;
  const void* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const char*>(w) + r * row_bytes;
  __m512 acc[R][NX];
  const float* x[NX];
  for (int j = 0; j < NX; ++j) {
    x[j] = static_cast<const float*>(xv[j]);
    for (int r = 0; r < R; ++r) acc[r][j] = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Z::load16(wr[r], i);
    for (int j = 0; j < NX; ++j) {
      const __m512 xx = _mm512_loadu_ps(x[j] + i);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(wv[r], xx, acc[r][j]);
    }
  }
  const bool tail8 = i + 8 <= n;
  if constexpr (NX == 4) {
    if (n % 8 == 0) {  // no scalar tail: the 8-wide tail into lanes 0-7, then 16 sums at once
      if (tail8)
        for (int r = 0; r < R; ++r) {
          const __m512 w8 = _mm512_zextps256_ps512(L::load8(wr[r], i));
          for (int j = 0; j < NX; ++j)
            acc[r][j] = _mm512_mask3_fmadd_ps(w8, _mm512_maskz_loadu_ps(0x00ff, x[j] + i), acc[r][j], 0x00ff);
        }
      __m512 v[16];  // v[4j + r]: zmm_hsum16's lane 4r + j is then hsum(acc[r][j])
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < NX; ++j) v[4 * j + r] = acc[r][j];
      _mm512_storeu_ps(out, zmm_hsum16(v));
      return;
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m256 w8 = tail8 ? L::load8(wr[r], i) : _mm256_setzero_ps();
    for (int j = 0; j < NX; ++j) {
      // (maskz forms: GCC 12's plain cast/extract warn about an undefined source)
      const __m512d v = _mm512_castps_pd(acc[r][j]);
      __m256 a0 = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, v, 0));
      const __m256 a1 = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, v, 1));
      if (tail8) a0 = _mm256_fmadd_ps(w8, _mm256_loadu_ps(x[j] + i), a0);
      float s = hsum(_mm256_add_ps(a0, a1));
      for (int64_t k = tail8 ? i + 8 : i; k < n; ++k) s += L::get(wr[r], k) * x[j][k];
      out[r * NX + j] = s;
    }
  }
}

template <class L, class Z>
TARGET_VNNI void dot_tile(const void* w, size_t row_bytes, const void* const* x, int nx, int64_t n, float* out) {
  switch (nx) {
    case 1: return dot_tile_zmm_nx<L, Z, 1>(w, row_bytes, x, n, out);
    case 2: return dot_tile_zmm_nx<L, Z, 2>(w, row_bytes, x, n, out);
    case 3: return dot_tile_zmm_nx<L, Z, 3>(w, row_bytes, x, n, out);
    default: return dot_tile_zmm_nx<L, Z, 4>(w, row_bytes, x, n, out);
  }
}

// axpy_rows_avx2 with 512-bit registers: 64 floats of y (four registers)
// through every row, each element with the same FMAs in the same row
// order; the rest of y (under 64 floats) as axpy_rows_avx2 does it.
template <class L, class Z>
TARGET_VNNI void axpy_rows_zmm(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) {
  constexpr int NV = 4;
  int64_t c = 0;
  for (; c + 16 * NV <= n; c += 16 * NV) {
    __m512 acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_loadu_ps(y + c + 16 * v);
    for (int64_t t = 0; t < rows; ++t) {
      const __m512 va = _mm512_set1_ps(a[t]);
      for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(va, Z::load16(x[t], c + 16 * v), acc[v]);
    }
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(y + c + 16 * v, acc[v]);
  }
  axpy_rows_avx2_from<L>(a, x, rows, y, n, c);
}

// axpy_rows_zmm for two sums over the same value rows: per element of
// y0 (y1) the FMAs of axpy_rows_zmm over rows [0, rows0) ([0, rows1)) in
// row order, each value loaded once for both; the rest of y (under 64
// floats) as axpy_rows_avx2 does it.
template <class L, class Z>
TARGET_VNNI void axpy_rows2_zmm(const float* a0, const float* a1, const void* const* x, int64_t rows0, int64_t rows1,
                                float* y0, float* y1, int64_t n) {
  constexpr int NV = 4;
  int64_t c = 0;
  for (; c + 16 * NV <= n; c += 16 * NV) {
    __m512 p[NV], q[NV];
    for (int v = 0; v < NV; ++v) {
      p[v] = _mm512_loadu_ps(y0 + c + 16 * v);
      q[v] = _mm512_loadu_ps(y1 + c + 16 * v);
    }
    int64_t t = 0;
    for (; t < rows0 && t < rows1; ++t) {
      const __m512 va = _mm512_set1_ps(a0[t]), vb = _mm512_set1_ps(a1[t]);
      for (int v = 0; v < NV; ++v) {
        const __m512 xv = Z::load16(x[t], c + 16 * v);
        p[v] = _mm512_fmadd_ps(va, xv, p[v]);
        q[v] = _mm512_fmadd_ps(vb, xv, q[v]);
      }
    }
    for (int64_t u = t; u < rows0; ++u) {
      const __m512 va = _mm512_set1_ps(a0[u]);
      for (int v = 0; v < NV; ++v) p[v] = _mm512_fmadd_ps(va, Z::load16(x[u], c + 16 * v), p[v]);
    }
    for (int64_t u = t; u < rows1; ++u) {
      const __m512 vb = _mm512_set1_ps(a1[u]);
      for (int v = 0; v < NV; ++v) q[v] = _mm512_fmadd_ps(vb, Z::load16(x[u], c + 16 * v), q[v]);
    }
    for (int v = 0; v < NV; ++v) {
      _mm512_storeu_ps(y0 + c + 16 * v, p[v]);
      _mm512_storeu_ps(y1 + c + 16 * v, q[v]);
    }
  }
  axpy_rows_avx2_from<L>(a0, x, rows0, y0, n, c);
  axpy_rows_avx2_from<L>(a1, x, rows1, y1, n, c);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// dot_q8x_vnni_nx<WBlock, NX> for kTileRows weight rows at once.
template <class WBlock, int NX>
TARGET_VNNI void dot_q8x_vnni_tile_nx(const void* w, size_t row_bytes, const void* const* xv, int64_t n, float* out) {
  constexpr int R = kTileRows;
  const WBlock* wb[R];
  for (int r = 0; r < R; ++r) wb[r] = reinterpret_cast<const WBlock*>(static_cast<const char*>(w) + r * row_bytes);
  const BlockQ8_0* xb[NX];
  __m256 acc[R][NX];
  for (int j = 0; j < NX; ++j) {
    xb[j] = static_cast<const BlockQ8_0*>(xv[j]);
    for (int r = 0; r < R; ++r) acc[r][j] = _mm256_setzero_ps();
  }
  const int64_t nb = n / kQBlock;
  for (int64_t b = 0; b < nb; ++b) {
    __m256i qw[R], aw[R];
    float dw[R];
    for (int r = 0; r < R; ++r) {
      qw[r] = q8_load(wb[r][b]);
      aw[r] = _mm256_sign_epi8(qw[r], qw[r]);
      dw[r] = _cvtsh_ss(wb[r][b].d);
    }
    for (int j = 0; j < NX; ++j) {
      const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j][b].qs));
      const float dx = _cvtsh_ss(xb[j][b].d);
      for (int r = 0; r < R; ++r) {
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw[r], _mm256_sign_epi8(qx, qw[r]));
        acc[r][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * dx), _mm256_cvtepi32_ps(p), acc[r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NX; ++j) out[r * NX + j] = hsum(acc[r][j]);
}

template <class WBlock>
TARGET_VNNI void dot_q8x_vnni_tile(const void* w, size_t row_bytes, const void* const* x, int nx, int64_t n,
                                   float* out) {
  switch (nx) {
    case 1: return dot_q8x_vnni_tile_nx<WBlock, 1>(w, row_bytes, x, n, out);
    case 2: return dot_q8x_vnni_tile_nx<WBlock, 2>(w, row_bytes, x, n, out);
    case 3: return dot_q8x_vnni_tile_nx<WBlock, 3>(w, row_bytes, x, n, out);
    default: return dot_q8x_vnni_tile_nx<WBlock, 4>(w, row_bytes, x, n, out);
  }
}

template <class WBlock>
TARGET_VNNI void dot_q8x_vnni_rows4(const void* w, size_t row_bytes, const void* xv, int64_t n, float* out) {
  const auto* xb = static_cast<const BlockQ8_0*>(xv);
  const WBlock* wb[kRows4];
  __m256 acc[kRows4];
  for (int r = 0; r < kRows4; ++r) {
    wb[r] = reinterpret_cast<const WBlock*>(static_cast<const char*>(w) + r * row_bytes);
    acc[r] = _mm256_setzero_ps();
  }
  const int64_t nb = n / kQBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const float dx = _cvtsh_ss(xb[b].d);
    for (int r = 0; r < kRows4; ++r) {
      const __m256i qw = q8_load(wb[r][b]);
      const __m256i aw = _mm256_sign_epi8(qw, qw);
      const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, _mm256_sign_epi8(qx, qw));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(wb[r][b].d) * dx), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < kRows4; ++r) out[r] = hsum(acc[r]);
}

template <class WBlock>
TARGET_VNNI void dot_q8x_vnni(const void* w, const void* const* x, int nx, int64_t n, float* out) {
  switch (nx) {
    case 1: return dot_q8x_vnni_nx<WBlock, 1>(w, x, n, out);
    case 2: return dot_q8x_vnni_nx<WBlock, 2>(w, x, n, out);
    case 3: return dot_q8x_vnni_nx<WBlock, 3>(w, x, n, out);
    default: return dot_q8x_vnni_nx<WBlock, 4>(w, x, n, out);
  }
}

const DotTable kAvx2 = {
    .f32 = dot_avx2<AvxF32>,
    .f16 = dot_avx2<AvxF16>,
    .bf16 = dot_avx2<AvxBF16>,
    .q8_0_f32x = dot_avx2<AvxQ8>,
    .q4_0_f32x = dot_avx2<AvxQ4>,
    .q8_0_q8x = dot_q8x_avx2<BlockQ8_0>,
    .q4_0_q8x = dot_q8x_avx2<BlockQ4_0>,
    .f32_rows4 = dot_avx2_rows4<AvxF32>,
    .f16_rows4 = dot_avx2_rows4<AvxF16>,
    .bf16_rows4 = dot_avx2_rows4<AvxBF16>,
    .q8_0_f32x_rows4 = dot_avx2_rows4<AvxQ8>,
    .q4_0_f32x_rows4 = dot_avx2_rows4<AvxQ4>,
    .q8_0_q8x_rows4 = dot_q8x_avx2_rows4<BlockQ8_0>,
    .q4_0_q8x_rows4 = dot_q8x_avx2_rows4<BlockQ4_0>,
    .axpy = axpy_avx2,
    .axpy_f16 = axpy_f16_avx2,
    .axpy_bf16 = axpy_bf16_avx2,
    .axpy_rows = axpy_rows_avx2<AvxF32>,
    .axpy_rows_f16 = axpy_rows_avx2<AvxF16>,
    .axpy_rows_bf16 = axpy_rows_avx2<AvxBF16>,
    .axpy_rows2 = axpy_rows2_by_one<axpy_rows_avx2<AvxF32>>,
    .axpy_rows2_f16 = axpy_rows2_by_one<axpy_rows_avx2<AvxF16>>,
    .axpy_rows2_bf16 = axpy_rows2_by_one<axpy_rows_avx2<AvxBF16>>,
    .to_f16 = to_f16_avx2,
    .to_bf16 = to_bf16_avx2,
};

const DotTable kAvx512Vnni = {
    .f32 = dot_avx2<AvxF32>,
    .f16 = dot_avx2<AvxF16>,
    .bf16 = dot_avx2<AvxBF16>,
    .q8_0_f32x = dot_avx2<AvxQ8>,
    .q4_0_f32x = dot_avx2<AvxQ4>,
    .q8_0_q8x = dot_q8x_vnni<BlockQ8_0>,
    .q4_0_q8x = dot_q8x_vnni<BlockQ4_0>,
    .f32_rows4 = dot_avx2_rows4<AvxF32>,
    .f16_rows4 = dot_avx2_rows4<AvxF16>,
    .bf16_rows4 = dot_avx2_rows4<AvxBF16>,
    .q8_0_f32x_rows4 = dot_avx2_rows4<AvxQ8>,
    .q4_0_f32x_rows4 = dot_avx2_rows4<AvxQ4>,
    .q8_0_q8x_rows4 = dot_q8x_vnni_rows4<BlockQ8_0>,
    .q4_0_q8x_rows4 = dot_q8x_vnni_rows4<BlockQ4_0>,
    .f32_tile = dot_tile<AvxF32, Zmm32>,
    .f16_tile = dot_tile<AvxF16, Zmm16>,
    .bf16_tile = dot_tile<AvxBF16, ZmmB16>,
    .q8_0_q8x_tile = dot_q8x_vnni_tile<BlockQ8_0>,
    .q4_0_q8x_tile = dot_q8x_vnni_tile<BlockQ4_0>,
    .axpy = axpy_avx2,
    .axpy_f16 = axpy_f16_avx2,
    .axpy_bf16 = axpy_bf16_avx2,
    .axpy_rows = axpy_rows_zmm<AvxF32, Zmm32>,
    .axpy_rows_f16 = axpy_rows_zmm<AvxF16, Zmm16>,
    .axpy_rows_bf16 = axpy_rows_zmm<AvxBF16, ZmmB16>,
    .axpy_rows2 = axpy_rows2_zmm<AvxF32, Zmm32>,
    .axpy_rows2_f16 = axpy_rows2_zmm<AvxF16, Zmm16>,
    .axpy_rows2_bf16 = axpy_rows2_zmm<AvxBF16, ZmmB16>,
    .to_f16 = to_f16_avx2,
    .to_bf16 = to_bf16_avx2,
};
#endif

}  // namespace

bool cpu_supports_avx2() {
#ifdef TROUPE_X86
  // F16C is CPUID leaf 1, ECX bit 29 (asked directly: clang 14's
  // __builtin_cpu_supports does not know "f16c").
  static const bool ok = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    bool f16c = (ecx & (1u << 29)) != 0;
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
#else
  return false;
#endif
}

bool cpu_supports_avx512_vnni() {
#ifdef TROUPE_X86
  static const bool ok = cpu_supports_avx2() && __builtin_cpu_supports("avx512f") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

const DotTable& dot_table(bool avx2, bool avx512) {
#ifdef TROUPE_X86
  if (avx2 && avx512 && cpu_supports_avx512_vnni()) return kAvx512Vnni;
  if (avx2 && cpu_supports_avx2()) return kAvx2;
#else
  (void)avx2;
  (void)avx512;
#endif
  return kPlain;
}

}  // namespace troupe::engine::local::cpu
