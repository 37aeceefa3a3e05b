// The CUDA backend's behaviour that needs no GPU, run on every machine:
// - without a device (or driver), make_cuda_kernels returns an error that
//   says so, and describe_cuda_devices says why; a bad index is an error;
// - the host-side launch decisions of cuda_plan.hpp: step-array packing,
//   matmul path choice, attention launch shapes (grid limits, splits that
//   cover every key), and the split q8_0/q4_0 layout read back with the
//   same index arithmetic the kernels use.
#include <catch2/catch.hpp>

#include <cstring>

#include "engine/local/cuda/cuda_plan.hpp"
#include "local_cuda/cuda_test_util.hpp"
#ifdef TROUPE_CUDA_SIM
#include "troupe_cuda_sim.hpp"
#endif

using namespace troupe::engine::local;
namespace plan = troupe::engine::local::cuda_plan;
using troupe::cuda_test::random_floats;

TEST_CASE("make_cuda_kernels on a machine without a usable CUDA device returns an error that says so",
          "[cuda][host]") {
#ifdef TROUPE_CUDA_SIM
  // The simulator has a device: take it away so this keeps testing the no-GPU path.
  troupe::cuda_sim::ScopedDeviceCount no_device(0);
#endif
  const std::string why = describe_cuda_devices();
  CHECK(!why.empty());
  auto k = make_cuda_kernels();
  if (cuda_device_count() == 0) {
    REQUIRE_FALSE(k.ok());
    CHECK(k.error().code == troupe::ErrorCode::unsupported);
    CHECK(k.error().message.find("no usable CUDA device or driver") != std::string::npos);
    CHECK((why.find("no usable CUDA device") != std::string::npos || why.find("no CUDA device") != std::string::npos));
    WARN("no CUDA device here: " << k.error().message << " / doctor: " << why);
  } else {
    REQUIRE(k.ok());
    CHECK(std::string(k.value()->name()) == "cuda");
    CHECK(why.find("device(s)") != std::string::npos);
  }
}

TEST_CASE("make_cuda_kernels rejects a device index past the devices found", "[cuda][host]") {
  for (int index : {-1, 4096}) {
    auto k = make_cuda_kernels({.device = index});
    REQUIRE_FALSE(k.ok());
    CHECK(k.error().code == troupe::ErrorCode::unsupported);
  }
}

TEST_CASE("measure_cuda_copy_bandwidth without a device is an error, not a crash", "[cuda][host]") {
#ifdef TROUPE_CUDA_SIM
  troupe::cuda_sim::ScopedDeviceCount no_device(0);
#endif
  if (cuda_device_count() > 0) return;
  CHECK_FALSE(measure_cuda_copy_bandwidth(0, 1 << 20, 1).ok());
}

TEST_CASE("begin_step packs ids, positions and block tables into one array, each host array once",
          "[cuda][host]") {
  const std::vector<int32_t> ids = {5, 6, 7}, pos = {10, 11, 12}, t0 = {3, 1, 2}, t1 = {9};
  Kernels::StepArrays a{ids, pos, {t0, t1, t0, {}}};
  const auto p = plan::pack_step_arrays(a);
  REQUIRE(p.entries.size() == 4);  // t0 twice is stored once, the empty table not at all
  CHECK(p.data.size() == 3 + 3 + 3 + 1);
  for (const auto& e : p.entries) {
    const std::vector<int32_t>* src = e.host == ids.data()  ? &ids
                                      : e.host == pos.data() ? &pos
                                      : e.host == t0.data()  ? &t0
                                                             : &t1;
    REQUIRE(e.count == src->size());
    REQUIRE(e.offset + e.count <= p.data.size());
    CHECK(std::equal(src->begin(), src->end(), p.data.begin() + static_cast<std::ptrdiff_t>(e.offset)));
  }
  // The same pointer named again with more elements: the longer copy wins.
  const std::vector<int32_t> long_table = {4, 5, 6, 7};
  Kernels::StepArrays b{{}, {}, {std::span<const int32_t>(long_table.data(), 2), long_table}};
  const auto q = plan::pack_step_arrays(b);
  REQUIRE(q.entries.size() == 1);
  CHECK(q.entries[0].count == 4);
  CHECK(std::equal(long_table.begin(), long_table.end(), q.data.begin() + static_cast<std::ptrdiff_t>(q.entries[0].offset)));
  CHECK(plan::pack_step_arrays(Kernels::StepArrays{}).data.empty());
}

TEST_CASE("matmul paths: GEMV for decode-sized batches, cuBLAS beyond", "[cuda][host]") {
  CHECK(plan::choose_matmul_path(TensorType::bf16, 1) == plan::MatmulPath::gemv);
  CHECK(plan::choose_matmul_path(TensorType::f32, 8) == plan::MatmulPath::gemv);
  CHECK(plan::choose_matmul_path(TensorType::f16, 9) == plan::MatmulPath::gemm);
  CHECK(plan::choose_matmul_path(TensorType::q8_0, 32) == plan::MatmulPath::gemv);
  CHECK(plan::choose_matmul_path(TensorType::q4_0, 33) == plan::MatmulPath::gemm);
  CHECK(plan::gemv_row_group(1) == 1);
  CHECK(plan::gemv_row_group(2) == 2);
  CHECK(plan::gemv_row_group(3) == 4);
  CHECK(plan::gemv_row_group(5) == 8);
  CHECK(plan::gemv_row_group(32) == 8);
  CHECK(plan::dequant_tile_rows(4096, 128256, int64_t{32} << 20) == 8192);
  CHECK(plan::dequant_tile_rows(4096, 100, int64_t{32} << 20) == 100);
  CHECK(plan::dequant_tile_rows(int64_t{1} << 26, 5, int64_t{32} << 20) == 1);
}

TEST_CASE("attention launch shapes: GQA groups, grid limits, splits that cover every key", "[cuda][host]") {
  SECTION("qwen2 0.5B decode: 14 heads on 2 kv heads, one row, long context") {
    auto p = plan::plan_attention(1, 14, 2, 64, 1000, 132);
    REQUIRE(p.ok());
    CHECK(p->group == 7);
    CHECK(p->heads_per_block == 4);
    CHECK(p->head_groups == 2);
    CHECK(p->grid_y == 4);
    CHECK(p->elems_per_lane == 2);
    CHECK(p->splits > 1);
    CHECK(p->splits <= plan::kAttentionMaxSplits);
    CHECK(static_cast<int64_t>(p->splits) * p->keys_per_split >= 1000);
    CHECK(static_cast<int64_t>(p->splits - 1) * p->keys_per_split < 1000);  // no empty trailing split
    CHECK(p->keys_per_split >= plan::kAttentionMinKeysPerSplit);
  }
  SECTION("prefill with many rows does not split") {
    auto p = plan::plan_attention(512, 32, 8, 128, 512, 132);
    REQUIRE(p.ok());
    CHECK(p->splits == 1);
    CHECK(p->keys_per_split >= 512);
    CHECK(p->group == 4);
    CHECK(p->head_groups == 1);
    CHECK(p->grid_y == 8);
    CHECK(p->elems_per_lane == 4);
  }
  SECTION("odd head counts without GQA, short contexts") {
    auto p = plan::plan_attention(3, 7, 7, 64, 5, 132);
    REQUIRE(p.ok());
    CHECK(p->group == 1);
    CHECK(p->heads_per_block == 1);
    CHECK(p->grid_y == 7);
    CHECK(p->splits == 1);
    CHECK(p->keys_per_split >= 5);
  }
  SECTION("every split count covers the keys exactly once") {
    for (int keys : {1, 2, 63, 64, 65, 127, 1000, 4097, 32768})
      for (int rows : {1, 2, 7}) {
        auto p = plan::plan_attention(rows, 8, 2, 128, keys, 132);
        REQUIRE(p.ok());
        INFO(keys << " keys, " << rows << " rows: " << p->splits << " splits of " << p->keys_per_split);
        CHECK(static_cast<int64_t>(p->splits) * p->keys_per_split >= keys);
        CHECK(static_cast<int64_t>(p->splits - 1) * p->keys_per_split < std::max(keys, 1));
      }
  }
  SECTION("shapes the kernel cannot run are errors") {
    CHECK_FALSE(plan::plan_attention(1, 8, 3, 64, 10, 132).ok());
    CHECK_FALSE(plan::plan_attention(1, 8, 2, 512, 10, 132).ok());
    CHECK(plan::plan_attention(1, 8, 2, 256, 10, 132).ok());
    CHECK(plan::plan_attention(1, 8, 2, 256, 10, 132)->elems_per_lane == 8);
    CHECK_FALSE(plan::plan_attention(1, 0, 0, 64, 10, 132).ok());
  }
}

TEST_CASE("decode row buckets: powers of two to 16, then at most half padding, exact above 256", "[cuda][host]") {
  CHECK(plan::decode_row_bucket(1) == 1);
  CHECK(plan::decode_row_bucket(2) == 2);
  CHECK(plan::decode_row_bucket(3) == 4);
  CHECK(plan::decode_row_bucket(5) == 8);
  CHECK(plan::decode_row_bucket(9) == 16);
  CHECK(plan::decode_row_bucket(17) == 24);
  CHECK(plan::decode_row_bucket(33) == 48);
  CHECK(plan::decode_row_bucket(200) == 256);
  CHECK(plan::decode_row_bucket(257) == 257);
  for (int n = 1; n <= 256; ++n) {
    const int b = plan::decode_row_bucket(n);
    INFO(n << " sequences -> " << b << " rows");
    CHECK(b >= n);
    CHECK(b <= plan::kGraphMaxRows);
    if (n >= 9) CHECK(b - n < b / 2);  // less than half padding from 16 rows on
    CHECK(plan::decode_row_bucket(b) == b);
  }
}

TEST_CASE("attention key buckets: a plan that holds while contexts grow inside 256 keys", "[cuda][host]") {
  CHECK(plan::attention_key_bucket(0) == 256);
  CHECK(plan::attention_key_bucket(1) == 256);
  CHECK(plan::attention_key_bucket(256) == 256);
  CHECK(plan::attention_key_bucket(257) == 512);
  CHECK(plan::attention_key_bucket(1000) == 1024);
  CHECK(plan::attention_key_bucket(INT32_MAX) == INT32_MAX);
  // Every context inside one bucket gets the same plan, and it covers the
  // longest context of the bucket.
  for (int rows : {1, 4, 64}) {
    auto first = plan::plan_attention(rows, 14, 2, 64, plan::attention_key_bucket(513), 132);
    REQUIRE(first.ok());
    for (int keys = 514; keys <= 768; keys += 17) {
      auto p = plan::plan_attention(rows, 14, 2, 64, plan::attention_key_bucket(keys), 132);
      REQUIRE(p.ok());
      INFO(rows << " rows, " << keys << " keys");
      CHECK(p->splits == first->splits);
      CHECK(p->keys_per_split == first->keys_per_split);
      CHECK(static_cast<int64_t>(p->splits) * p->keys_per_split >= 768);
    }
  }
}

namespace {

// Element e of row r read from the split layout with the kernels' index
// arithmetic (cuda_common.cuh weight_elem).
float split_elem(TensorType t, const std::vector<uint8_t>& quants, const std::vector<uint16_t>& scales, int64_t r,
                 int64_t in, int64_t e) {
  if (t == TensorType::q8_0) {
    const float d = f16_to_f32(scales[static_cast<size_t>(r * (in / 32) + e / 32)]);
    return static_cast<float>(static_cast<int8_t>(quants[static_cast<size_t>(r * in + e)])) * d;
  }
  const int64_t b = e / 32, j = e % 32;
  const float d = f16_to_f32(scales[static_cast<size_t>(r * (in / 32) + b)]);
  const uint8_t byte = quants[static_cast<size_t>(r * (in / 2) + b * 16 + (j % 16))];
  const int nib = j < 16 ? (byte & 0x0f) : (byte >> 4);
  return static_cast<float>(nib - 8) * d;
}

}  // namespace

TEST_CASE("q8_0 and q4_0 split into quants and scales read back as ggml's dequantisation", "[cuda][host]") {
  for (TensorType t : {TensorType::q8_0, TensorType::q4_0}) {
    INFO(to_string(t));
    const int64_t in = 96, out = 5;
    const std::vector<float> values = random_floats(static_cast<size_t>(in * out), 3, 2.0f);
    const size_t rb = tensor_bytes(t, in);
    std::vector<uint8_t> ggml(rb * out + 1);  // +1: start at an odd address, as a file mapping may
    uint8_t* blocks = ggml.data() + 1;
    std::vector<uint8_t> tmp(rb);
    for (int64_t r = 0; r < out; ++r) {
      quantize_row(t, values.data() + r * in, tmp.data(), in);
      std::memcpy(blocks + r * rb, tmp.data(), rb);
    }
    const int64_t n_blocks = in * out / 32;
    std::vector<uint8_t> quants(plan::quant_bytes(t, in * out));
    std::vector<uint16_t> scales(static_cast<size_t>(n_blocks));
    if (t == TensorType::q8_0)
      plan::split_q8_0(blocks, n_blocks, reinterpret_cast<int8_t*>(quants.data()), scales.data());
    else
      plan::split_q4_0(blocks, n_blocks, quants.data(), scales.data());
    std::vector<float> want(static_cast<size_t>(in));
    for (int64_t r = 0; r < out; ++r) {
      std::memcpy(tmp.data(), blocks + r * rb, rb);
      dequantize_row(t, tmp.data(), want.data(), in);
      for (int64_t e = 0; e < in; ++e) {
        INFO("row " << r << " element " << e);
        REQUIRE(split_elem(t, quants, scales, r, in, e) == want[static_cast<size_t>(e)]);
      }
    }
  }
}
