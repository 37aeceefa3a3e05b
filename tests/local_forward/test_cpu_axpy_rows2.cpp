// The two-row value sum of attention (DotTable::axpy_rows2: two query
// rows' sums over the same value rows, side by side) writes exactly what
// two axpy_rows calls write, in every table (AVX-512, AVX2, plain), for
// f32, f16 and bf16 value rows, head sizes with and without a part under 64
// floats, and row counts that are equal, one apart (consecutive query
// rows) or further apart either way round.
#include <catch2/catch.hpp>

#include <cstring>

#include "engine/local/cpu_dot.hpp"
#include "engine/local/quant.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::Rng;
using troupe::testing::value_rows;
using troupe::testing::ValueRows;
using troupe::testing::random_vec;
using troupe::testing::same_bits;

TEST_CASE("two value sums at once equal two axpy_rows calls bit for bit", "[kernels][speed]") {
  Rng rng(61);
  const cpu::DotTable* tables[] = {&cpu::dot_table(true), &cpu::dot_table(true, false), &cpu::dot_table(false)};
  const std::pair<int64_t, int64_t> row_pairs[] = {{1, 1}, {1, 2}, {5, 6}, {33, 34}, {7, 7}, {3, 20}, {20, 3}};
  for (const cpu::DotTable* dt : tables) {
    for (int64_t n : {8, 64, 72, 128, 136, 200}) {
      for (auto [rows0, rows1] : row_pairs) {
        const int64_t rows = std::max(rows0, rows1);
        const auto a0 = random_vec(rng, static_cast<size_t>(rows)), a1 = random_vec(rng, static_cast<size_t>(rows));
        const ValueRows x = value_rows(rng, rows, n);
        const auto &pf = x.p32, &ph = x.p16, &pb = x.pbf16;
        struct Kind {
          const char* name;
          const void* const* x;
          decltype(dt->axpy_rows) one;
          cpu::DotTable::AxpyRows2Fn two;
        };
        for (const Kind& k : {Kind{"f32", pf.data(), dt->axpy_rows, dt->axpy_rows2},
                              Kind{"f16", ph.data(), dt->axpy_rows_f16, dt->axpy_rows2_f16},
                              Kind{"bf16", pb.data(), dt->axpy_rows_bf16, dt->axpy_rows2_bf16}}) {
          const auto start0 = random_vec(rng, static_cast<size_t>(n)), start1 = random_vec(rng, static_cast<size_t>(n));
          auto want0 = start0, want1 = start1, got0 = start0, got1 = start1;
          k.one(a0.data(), k.x, rows0, want0.data(), n);
          k.one(a1.data(), k.x, rows1, want1.data(), n);
          k.two(a0.data(), a1.data(), k.x, rows0, rows1, got0.data(), got1.data(), n);
          INFO(k.name << ", " << n << " elements, rows " << rows0 << " and " << rows1);
          REQUIRE(same_bits(got0, want0));
          REQUIRE(same_bits(got1, want1));
        }
      }
    }
  }
}
