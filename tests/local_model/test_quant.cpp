// f16 / bf16 conversions and Q8_0 / Q4_0 blocks against their definitions.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/local/quant.hpp"

using namespace troupe::engine::local;

TEST_CASE("every f16 value survives f16 -> f32 -> f16", "[quant]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const uint16_t back = f32_to_f16(f);
    if (std::isnan(f)) {
      REQUIRE(std::isnan(f16_to_f32(back)));
    } else {
      REQUIRE(back == h);
    }
  }
}

TEST_CASE("f16 conversion knows its special values", "[quant]") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK(f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(f32_to_f16(1e6f) == 0x7c00);       // overflow -> inf
  CHECK(f32_to_f16(65519.0f) == 0x7bff);   // just below the rounding point to inf
  CHECK(f32_to_f16(65520.0f) == 0x7c00);   // ties to even -> inf
  CHECK(f32_to_f16(1e-10f) == 0x0000);     // underflow -> +0
  CHECK(f32_to_f16(-1e-10f) == 0x8000);    // -> -0
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);          // half the smallest subnormal: tie to even (0)
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);          // above the tie
  CHECK(f32_to_f16(std::ldexp(3.0f, -25)) == 0x0002);          // 1.5 ulp: tie -> even (2)
  CHECK(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("f32 -> f16 rounds to nearest, ties to even", "[quant]") {
  // 1 + k/1024 are exact; halfway points between neighbours go to the even one.
  const float ulp = 1.0f / 1024.0f;
  CHECK(f32_to_f16(1.0f + ulp / 2) == 0x3c00);              // tie between 0x3c00 (even) and 0x3c01
  CHECK(f32_to_f16(1.0f + 3 * ulp / 2) == 0x3c02);          // tie between 0x3c01 and 0x3c02 (even)
  CHECK(f32_to_f16(std::nextafter(1.0f + ulp / 2, 2.0f)) == 0x3c01);
  // Against a double-precision reference on random values of every magnitude.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-26, 16);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::ldexp(mant(rng), ex(rng));
    const uint16_t h = f32_to_f16(x);
    const double got = f16_to_f32(h);
    // No other f16 is closer.
    const double up = f16_to_f32(static_cast<uint16_t>(h + 1));
    const double down = (h & 0x7fff) ? static_cast<double>(f16_to_f32(static_cast<uint16_t>(h - 1))) : -got;
    if (std::isinf(got)) continue;
    REQUIRE(std::fabs(got - x) <= std::fabs(up - x));
    REQUIRE(std::fabs(got - x) <= std::fabs(down - x));
  }
}

TEST_CASE("bf16 keeps the top half of a float, rounding to nearest even", "[quant]") {
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3f808000u)) == 0x3f80);  // tie -> even
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3f818000u)) == 0x3f82);  // tie -> even
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3f808001u)) == 0x3f81);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isinf(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::infinity()))));
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) REQUIRE(f32_to_bf16(f) == b);
  }
}

namespace {
std::vector<float> random_values(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
}  // namespace

TEST_CASE("Q8_0 round trip error is at most half a step per block", "[quant]") {
  const auto x = random_values(32 * 64, 0.5f, 1);
  std::vector<uint8_t> q(tensor_bytes(TensorType::q8_0, 32 * 64));
  REQUIRE(q.size() == 64 * 34);
  quantize_row(TensorType::q8_0, x.data(), q.data(), 32 * 64);
  std::vector<float> y(x.size());
  dequantize_row(TensorType::q8_0, q.data(), y.data(), 32 * 64);
  for (int b = 0; b < 64; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f;
    for (int j = 0; j < 32; ++j) REQUIRE(std::fabs(x[b * 32 + j] - y[b * 32 + j]) <= d * 0.5f + amax * 1e-3f);
  }
}

TEST_CASE("Q8_0 block layout is ggml's: f16 scale then 32 int8", "[quant]") {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) * 0.25f;  // amax 4 (at j=0: -4)
  BlockQ8_0 b{};
  quantize_row(TensorType::q8_0, x.data(), &b, 32);
  CHECK(f16_to_f32(b.d) == Approx(4.0f / 127.0f).epsilon(1e-3));
  CHECK(b.qs[0] == -127);
  CHECK(b.qs[16] == 0);
  CHECK(b.qs[20] == 32);  // 1.0 / (4/127) = 31.75
  float zeros[32] = {};
  quantize_row(TensorType::q8_0, zeros, &b, 32);
  CHECK(b.d == 0);
  float out[32];
  dequantize_row(TensorType::q8_0, &b, out, 32);
  for (float v : out) CHECK(v == 0.0f);
}

TEST_CASE("Q4_0 round trip error is at most one step per block, and nibbles are ggml's", "[quant]") {
  const auto x = random_values(32 * 64, 1.0f, 2);
  std::vector<uint8_t> q(tensor_bytes(TensorType::q4_0, 32 * 64));
  REQUIRE(q.size() == 64 * 18);
  quantize_row(TensorType::q4_0, x.data(), q.data(), 32 * 64);
  std::vector<float> y(x.size());
  dequantize_row(TensorType::q4_0, q.data(), y.data(), 32 * 64);
  for (int b = 0; b < 64; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    for (int j = 0; j < 32; ++j) REQUIRE(std::fabs(x[b * 32 + j] - y[b * 32 + j]) <= amax / 8.0f * 1.01f);
  }
  // Low nibble = element j, high nibble = element j + 16; value = (nibble - 8) * d.
  BlockQ4_0 b{};
  b.d = f32_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((j & 15) | ((15 - j) << 4));
  float out[32];
  dequantize_row(TensorType::q4_0, &b, out, 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(out[j] == (j - 8) * 0.5f);
    CHECK(out[j + 16] == (15 - j - 8) * 0.5f);
  }
}

TEST_CASE("dot_row agrees with dequantize-then-dot for every type", "[quant]") {
  const int64_t n = 32 * 20;  // not a multiple of dot_row's internal chunk
  const auto w = random_values(static_cast<size_t>(n), 0.1f, 3);
  const auto x = random_values(static_cast<size_t>(n), 1.0f, 4);
  for (TensorType t : {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0, TensorType::q4_0}) {
    std::vector<uint8_t> enc(tensor_bytes(t, n));
    quantize_row(t, w.data(), enc.data(), n);
    std::vector<float> deq(static_cast<size_t>(n));
    dequantize_row(t, enc.data(), deq.data(), n);
    double ref = 0;
    for (int64_t i = 0; i < n; ++i) ref += static_cast<double>(deq[i]) * x[i];
    INFO(to_string(t));
    CHECK(dot_row(t, enc.data(), x.data(), n) == Approx(ref).margin(1e-4));
  }
}
