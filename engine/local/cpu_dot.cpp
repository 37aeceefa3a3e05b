// See cpu_dot.hpp. The AVX2 functions carry a target attribute and are only
// called after cpu_supports_avx2() said yes.
#include "engine/local/cpu_dot.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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

const DotTable kPlain = {
    dot_plain<PlainF32>,     dot_plain<PlainF16>,     dot_plain<PlainBF16>,      dot_plain<PlainQ8>,
    dot_plain<PlainQ4>,      dot_q8x_plain<BlockQ8_0>, dot_q8x_plain<BlockQ4_0>, axpy_plain,
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

const DotTable kAvx2 = {
    dot_avx2<AvxF32>, dot_avx2<AvxF16>,          dot_avx2<AvxBF16>,          dot_avx2<AvxQ8>,
    dot_avx2<AvxQ4>,  dot_q8x_avx2<BlockQ8_0>, dot_q8x_avx2<BlockQ4_0>, axpy_avx2,
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

const DotTable& dot_table(bool avx2) {
#ifdef TROUPE_X86
  if (avx2 && cpu_supports_avx2()) return kAvx2;
#else
  (void)avx2;
#endif
  return kPlain;
}

}  // namespace troupe::engine::local::cpu
