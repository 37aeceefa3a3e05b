// zmm_hsum16: sixteen of cpu_dot's horizontal sums at once, for the
// AVX-512 tiles (cpu_dot.cpp, cpu_float_gemm.cpp). Header-only, with a
// target attribute: call it only from code that checked for AVX-512 F.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace troupe::engine::local::cpu {

#define TROUPE_HSUM16_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl")))

// (GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it
// then reports as maybe uninitialised: GCC bug 105593.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// cpu_dot's hsum (for v = [a0 | a1]: ((s0 + s4) + (s1 + s5)) + ((s2 + s6)
// + (s3 + s7)) with s_l = a0_l + a1_l) of 16 vectors at once: returns
// lane 4j + r = hsum(v[4r + j]). Each level adds the same pairs the
// single-vector code adds; the shuffles only move them into place.
TROUPE_HSUM16_TARGET inline __m512 zmm_hsum16(const __m512* v) {
  __m512 s[8], t[4], u[2];
  for (int i = 0; i < 8; ++i)  // s_l = a0_l + a1_l: [v2i's 8 | v2i+1's 8]
    s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int i = 0; i < 4; ++i)  // s_l + s_l+4: 128-bit block b is v4i+b's four
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int i = 0; i < 2; ++i)  // pairs (0, 1) and (2, 3) of each block
    u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  // (0 + 1) + (2 + 3): block b holds v_b, v_4+b, v_8+b, v_12+b
  return _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace troupe::engine::local::cpu
#endif
