// See cpu_q8_gemm.hpp. Compiled with target attributes, so the library
// builds for any x86-64; q8_gemm() hands the functions out only after
// cpu_supports_avx512_vnni() said yes.
#include "engine/local/cpu_q8_gemm.hpp"

#include <cstring>

#include "engine/local/cpu_dot.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TROUPE_X86 1
#endif

namespace troupe::engine::local::cpu {

#ifdef TROUPE_X86
namespace {

#define TARGET_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

constexpr int R = kGemmRows, C = kGemmCols;
constexpr int kQBlock = 32;

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which it then
// reports as maybe uninitialised (GCC bug 105593); silenced for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

size_t round64(size_t b) { return (b + 63) / 64 * 64; }

// Group: qs (nb * C * 32 bytes), then d (nb * C floats).
size_t x_group_bytes(int64_t n) { return round64(static_cast<size_t>(n / kQBlock) * C * (kQBlock + 4)); }
// Tile: qs (nb * R * 32 bytes), corr (nb * R * 32 bytes), d (nb * R floats).
size_t w_tile_bytes(int64_t n) { return round64(static_cast<size_t>(n / kQBlock) * R * (2 * kQBlock + 4)); }

TARGET_VNNI void pack_x(const BlockQ8_0* row, int64_t n, int j, void* group) {
  const int64_t nb = n / kQBlock;
  auto* qs = static_cast<uint8_t*>(group);
  auto* d = reinterpret_cast<float*>(qs + nb * C * kQBlock);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[b].qs));
    _mm256_store_si256(reinterpret_cast<__m256i*>(qs + (b * C + j) * kQBlock), _mm256_xor_si256(q, bias));
    d[b * C + j] = _cvtsh_ss(row[b].d);
  }
}

// quantize_row(q8_0) of one row straight into slot j of a group, with
// the same float operations per element (amax, d = amax / 127, id = 1 / d,
// lround(x * id); lround's halves away from zero done as truncate and
// step). A block holding inf or NaN, or whose 1 / d overflows, goes
// through quantize_row itself.
TARGET_VNNI void quantize_x(const float* x, int64_t n, int j, void* group) {
  const int64_t nb = n / kQBlock;
  auto* qs = static_cast<uint8_t*>(group);
  auto* dst_d = reinterpret_cast<float*>(qs + nb * C * kQBlock);
  const __m512 inf = _mm512_set1_ps(__builtin_inff()), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b, x += kQBlock) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
    // not (|x| < inf): inf or NaN
    const bool finite = (_mm512_cmp_ps_mask(a0, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(a1, inf, _CMP_NLT_UQ)) == 0;
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i q;
    uint16_t dh;
    if (finite && id < __builtin_inff()) {
      const __m512 vid = _mm512_set1_ps(id);
      __m512i r[2];
      const __m512 v[2] = {_mm512_mul_ps(v0, vid), _mm512_mul_ps(v1, vid)};
      for (int k = 0; k < 2; ++k) {
        const __m512 t = _mm512_roundscale_ps(v[k], _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v[k], t)), half, _CMP_GE_OQ);
        const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(one), _mm512_and_si512(_mm512_castps_si512(v[k]), _mm512_set1_epi32(INT32_MIN))));
        r[k] = _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, step));
      }
      q = _mm256_set_m128i(_mm512_cvtepi32_epi8(r[1]), _mm512_cvtepi32_epi8(r[0]));
      dh = f32_to_f16(d);
    } else {
      BlockQ8_0 blk;
      quantize_row(TensorType::q8_0, x, &blk, kQBlock);
      q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs));
      dh = blk.d;
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(qs + (b * C + j) * kQBlock), _mm256_xor_si256(q, bias));
    dst_d[b * C + j] = _cvtsh_ss(dh);
  }
}

// Signed 8-bit values of a block, in element order (as cpu_dot's q8_load).
TARGET_VNNI inline __m256i values(const void* block, bool q4) {
  if (!q4) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const BlockQ8_0*>(block)->qs));
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const BlockQ4_0*>(block)->qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask), _mm_and_si128(bytes, mask));
  return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

TARGET_VNNI void pack_w(const void* w, size_t row_bytes, int rows, int64_t n, bool q4, void* tile) {
  const int64_t nb = n / kQBlock;
  auto* qs = static_cast<uint8_t*>(tile);
  auto* corr = reinterpret_cast<int32_t*>(qs + nb * R * kQBlock);
  auto* d = reinterpret_cast<float*>(corr + nb * R * 8);
  const size_t block_bytes = q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int r = 0; r < R; ++r) {
    const char* row = static_cast<const char*>(w) + r * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      auto* q = reinterpret_cast<__m256i*>(qs + (b * R + r) * kQBlock);
      auto* c = reinterpret_cast<__m256i*>(corr + (b * R + r) * 8);
      if (r >= rows) {
        _mm256_store_si256(q, _mm256_setzero_si256());
        _mm256_store_si256(c, _mm256_setzero_si256());
        d[b * R + r] = 0.0f;
        continue;
      }
      const char* block = row + b * block_bytes;
      const __m256i v = values(block, q4);
      _mm256_store_si256(q, v);
      // (x + 128) . w - 128 * sum(w) = x . w, lane by lane, exactly.
      const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, v);
      _mm256_store_si256(c, _mm256_sub_epi32(_mm256_setzero_si256(), s));
      uint16_t h;
      std::memcpy(&h, block, sizeof h);
      d[b * R + r] = _cvtsh_ss(h);
    }
  }
}

// cpu_dot's hsum: the same adds in the same order.
TARGET_VNNI inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  lo = _mm_add_ps(lo, _mm256_extractf128_ps(v, 1));
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 s = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, s);
  s = _mm_add_ss(s, sh);
  return _mm_cvtss_f32(s);
}

// One block's step for two (r, j) pairs side by side, rows r and r + 1 of
// one activation row: the lane sums (the corrections c as starting
// values), times the scales, into acc. Lanes 0-7 are row r's eight lanes,
// 8-15 row r + 1's.
TARGET_VNNI inline __m512 step(__m512 acc, __m512i c, __m512i x, __m512i w, __m512 scale) {
  return _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c, x, w)), acc);
}

// The two 256-bit halves of v.
TARGET_VNNI inline float hsum_lo(__m512 v) {
  return hsum(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(v), 0)));
}
TARGET_VNNI inline float hsum_hi(__m512 v) {
  return hsum(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(v), 1)));
}

// Per (r, j): acc lane l += (dw_r * dx_j) * isum_l for each block in turn,
// as dot_q8x_vnni_nx does, two weight rows per 512-bit register (a float
// product is the same product whichever instruction forms it). Named
// accumulators, not an array: GCC 12 kept the array in memory.
TARGET_VNNI void tile(const void* tile, const void* group, int64_t n, float* out) {
  static_assert(R == 4 && C == 4, "written out for 4 x 4");
  const int64_t nb = n / kQBlock;
  const auto* wq = static_cast<const uint8_t*>(tile);
  const auto* wc = wq + nb * R * kQBlock;
  const auto* wd = reinterpret_cast<const float*>(wc + nb * R * kQBlock);
  const auto* xq = static_cast<const uint8_t*>(group);
  const auto* xd = reinterpret_cast<const float*>(xq + nb * C * kQBlock);
  // a<p><j>: rows 2p and 2p + 1 with activation row j
  __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  const __m512i lo = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(2));
  for (int64_t b = 0; b < nb; ++b) {
    const auto* wqb = reinterpret_cast<const __m512i*>(wq + b * R * kQBlock);
    const auto* wcb = reinterpret_cast<const __m512i*>(wc + b * R * kQBlock);
    const __m512i w0 = _mm512_load_si512(wqb), w1 = _mm512_load_si512(wqb + 1);
    const __m512i c0 = _mm512_load_si512(wcb), c1 = _mm512_load_si512(wcb + 1);
    const __m512 dw4 = _mm512_castps128_ps512(_mm_loadu_ps(wd + b * R));
    const __m512 d0 = _mm512_permutexvar_ps(lo, dw4), d1 = _mm512_permutexvar_ps(hi, dw4);
    const uint8_t* xqb = xq + b * C * kQBlock;
    const float* xdb = xd + b * C;
#define TROUPE_COL(j)                                                                                      \
  {                                                                                                        \
    const __m512i x = _mm512_broadcast_i64x4(_mm256_load_si256(reinterpret_cast<const __m256i*>(xqb) + j)); \
    const __m512 dx = _mm512_set1_ps(xdb[j]);                                                              \
    a0##j = step(a0##j, c0, x, w0, _mm512_mul_ps(d0, dx));                                                 \
    a1##j = step(a1##j, c1, x, w1, _mm512_mul_ps(d1, dx));                                                 \
  }
    TROUPE_COL(0) TROUPE_COL(1) TROUPE_COL(2) TROUPE_COL(3)
#undef TROUPE_COL
  }
#define TROUPE_OUT(p, j)                      \
  out[(2 * p) * C + j] = hsum_lo(a##p##j);    \
  out[(2 * p + 1) * C + j] = hsum_hi(a##p##j);
  TROUPE_OUT(0, 0) TROUPE_OUT(0, 1) TROUPE_OUT(0, 2) TROUPE_OUT(0, 3)
  TROUPE_OUT(1, 0) TROUPE_OUT(1, 1) TROUPE_OUT(1, 2) TROUPE_OUT(1, 3)
#undef TROUPE_OUT
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

const Q8Gemm kVnni = {
    .x_group_bytes = x_group_bytes,
    .w_tile_bytes = w_tile_bytes,
    .pack_x = pack_x,
    .quantize_x = quantize_x,
    .pack_w = pack_w,
    .tile = tile,
};

}  // namespace
#endif

const Q8Gemm* q8_gemm() {
#ifdef TROUPE_X86
  if (cpu_supports_avx512_vnni()) return &kVnni;
#endif
  return nullptr;
}

}  // namespace troupe::engine::local::cpu
