// Dot-product and axpy routines of the optimised CPU kernels, one per weight
// element type, in two builds: AVX2/FMA/F16C (compiled with a target
// attribute, so the library builds for any x86-64) and plain C++. Chosen
// once at run time (cpu_dot(avx2)). Internal to kernels_cpu.cpp and tests.
//
// A DotFn computes out[j] = dot(weight row w, x[j]) for nx <= 4 activation
// rows of n elements at once, loading each weight element once. Each
// out[j] is computed with the same operations in the same order whatever nx
// is, so a row's result does not depend on which rows share its tile.
// Activation rows are float32, except for the *_q8x functions, which take
// rows already quantised to q8_0 blocks (n a multiple of 32).
#pragma once

#include <cstdint>

namespace troupe::engine::local::cpu {

inline constexpr int kMaxTile = 4;

using DotFn = void (*)(const void* w, const void* const* x, int nx, int64_t n, float* out);

struct DotTable {
  DotFn f32 = nullptr;
  DotFn f16 = nullptr;
  DotFn bf16 = nullptr;
  DotFn q8_0_f32x = nullptr;
  DotFn q4_0_f32x = nullptr;
  DotFn q8_0_q8x = nullptr;
  DotFn q4_0_q8x = nullptr;
  // y[i] += a * x[i]
  void (*axpy)(float a, const float* x, float* y, int64_t n) = nullptr;
};

// The AVX2 table when avx2 is true and the CPU supports AVX2, FMA and F16C;
// the plain table otherwise.
const DotTable& dot_table(bool avx2);
bool cpu_supports_avx2();

}  // namespace troupe::engine::local::cpu
