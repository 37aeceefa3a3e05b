// Dot-product and axpy routines of the optimised CPU kernels, one per weight
// element type, in three builds: AVX-512 VNNI for the quantised ones and
// AVX2/FMA/F16C (compiled with target attributes, so the library builds for
// any x86-64), and plain C++. Chosen once at run time from CPUID
// (dot_table()). Internal to kernels_cpu.cpp and tests.
//
// A DotFn computes out[j] = dot(weight row w, x[j]) for nx <= 4 activation
// rows of n elements at once, loading each weight element once. Each
// out[j] is computed with the same operations in the same order whatever nx
// is, so a row's result does not depend on which rows share its tile.
// Activation rows are float32, except for the *_q8x functions, which take
// rows already quantised to q8_0 blocks (n a multiple of 32).
#pragma once

#include <cstddef>
#include <cstdint>

namespace troupe::engine::local::cpu {

inline constexpr int kMaxTile = 4;

using DotFn = void (*)(const void* w, const void* const* x, int nx, int64_t n, float* out);
// out[r] = dot(weight row r, x) for the kRows4 weight rows at w, w + row_bytes,
// ..., and one activation row x: exactly what DotFn with nx = 1 computes for
// each row (the same operations in the same order per row); the rows' sums
// run side by side, so their dependency chains overlap. For data in cache
// (attention keys in prefill): streamed from memory, four interleaved rows
// defeat the prefetcher.
inline constexpr int kRows4 = 4;
using Dot4Fn = void (*)(const void* w, size_t row_bytes, const void* x, int64_t n, float* out);
// out[r * nx + j] = dot(weight row r, x[j]) for the kTileRows weight rows at
// w, w + row_bytes, ... and nx <= kMaxTile activation rows: exactly what
// DotFn computes for each (row, x) pair, with kTileRows times the work per
// loaded x value (prefill). Needs 32 vector registers: only in the AVX-512
// table.
inline constexpr int kTileRows = 4;
using DotTileFn = void (*)(const void* w, size_t row_bytes, const void* const* x, int nx, int64_t n, float* out);

struct DotTable {
  DotFn f32 = nullptr;
  DotFn f16 = nullptr;
  DotFn bf16 = nullptr;
  DotFn q8_0_f32x = nullptr;
  DotFn q4_0_f32x = nullptr;
  DotFn q8_0_q8x = nullptr;
  DotFn q4_0_q8x = nullptr;
  // Four weight rows, one activation row; same order as above.
  Dot4Fn f32_rows4 = nullptr;
  Dot4Fn f16_rows4 = nullptr;
  Dot4Fn bf16_rows4 = nullptr;
  Dot4Fn q8_0_f32x_rows4 = nullptr;
  Dot4Fn q4_0_f32x_rows4 = nullptr;
  Dot4Fn q8_0_q8x_rows4 = nullptr;
  Dot4Fn q4_0_q8x_rows4 = nullptr;
  // kTileRows weight rows, up to kMaxTile activation rows; nullptr where
  // the build has none (then callers use the DotFn row by row).
  DotTileFn f32_tile = nullptr;
  DotTileFn f16_tile = nullptr;
  DotTileFn bf16_tile = nullptr;
  DotTileFn q8_0_q8x_tile = nullptr;
  DotTileFn q4_0_q8x_tile = nullptr;
  // y[i] += a * x[i]
  void (*axpy)(float a, const float* x, float* y, int64_t n) = nullptr;
  // y[i] += a * x[i] for x in f16 (bf16)
  void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n) = nullptr;
  void (*axpy_bf16)(float a, const uint16_t* x, float* y, int64_t n) = nullptr;
  // axpy(a[t], x[t], y, n) for t = 0 .. rows-1 in turn, with exactly its
  // results, y kept in registers across the rows (attention's weighted sum
  // of value rows). x[t] points to floats, or to halves (bfloat16s) for the
  // _f16 (_bf16) form, whose results are exactly axpy_f16's (axpy_bf16's).
  void (*axpy_rows)(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) = nullptr;
  void (*axpy_rows_f16)(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) = nullptr;
  void (*axpy_rows_bf16)(const float* a, const void* const* x, int64_t rows, float* y, int64_t n) = nullptr;
  // axpy_rows(a0, x, rows0, y0, n) then axpy_rows(a1, x, rows1, y1, n),
  // rows0 <= rows1, with exactly their results: two query rows' value sums
  // over the same value rows, their dependency chains side by side (one
  // sum's chain of FMAs per element is latency-bound).
  using AxpyRows2Fn = void (*)(const float* a0, const float* a1, const void* const* x, int64_t rows0, int64_t rows1,
                               float* y0, float* y1, int64_t n);
  AxpyRows2Fn axpy_rows2 = nullptr;
  AxpyRows2Fn axpy_rows2_f16 = nullptr;
  AxpyRows2Fn axpy_rows2_bf16 = nullptr;
  // y[i] = f16(x[i]), rounded to nearest, ties to even (exactly f32_to_f16)
  void (*to_f16)(const float* x, uint16_t* y, int64_t n) = nullptr;
  // y[i] = bf16(x[i]), rounded to nearest, ties to even, NaN kept a quiet
  // NaN (exactly f32_to_bf16)
  void (*to_bf16)(const float* x, uint16_t* y, int64_t n) = nullptr;
};

// The AVX-512 VNNI table when avx2 and avx512 are true and the CPU has
// AVX-512 F/VL/VNNI (its q8_0/q4_0 functions return exactly what the AVX2
// ones do; the others are the AVX2 ones); else the AVX2 table when avx2 is
// true and the CPU supports AVX2, FMA and F16C; else the plain table.
const DotTable& dot_table(bool avx2, bool avx512 = true);
bool cpu_supports_avx2();
bool cpu_supports_avx512_vnni();

}  // namespace troupe::engine::local::cpu
