// Host-side launch decisions and layouts of the CUDA backend (see
// cuda_plan.hpp); plain C++, compiled and tested without a GPU.
#include "engine/local/cuda/cuda_plan.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace troupe::engine::local::cuda_plan {

PackedStepArrays pack_step_arrays(const Kernels::StepArrays& arrays) {
  PackedStepArrays out;
  std::unordered_map<const int32_t*, size_t> seen;  // host pointer -> index in entries
  auto add = [&](std::span<const int32_t> s) {
    if (s.empty()) return;
    auto it = seen.find(s.data());
    if (it != seen.end()) {
      PackedStepArrays::Entry& e = out.entries[it->second];
      if (s.size() <= e.count) return;
      // Named again, longer: store the longer copy (the old one stays, unused).
      e.offset = out.data.size();
      e.count = s.size();
      out.data.insert(out.data.end(), s.begin(), s.end());
      return;
    }
    seen.emplace(s.data(), out.entries.size());
    out.entries.push_back({s.data(), out.data.size(), s.size()});
    out.data.insert(out.data.end(), s.begin(), s.end());
  };
  add(arrays.ids);
  add(arrays.positions);
  for (const auto& t : arrays.block_tables) add(t);
  return out;
}

MatmulPath choose_matmul_path(TensorType type, int n_rows) {
  const bool quant = type == TensorType::q8_0 || type == TensorType::q4_0;
  return n_rows <= (quant ? kGemvMaxRowsQuant : kGemvMaxRowsFloat) ? MatmulPath::gemv : MatmulPath::gemm;
}

int gemv_row_group(int n_rows) {
  if (n_rows <= 1) return 1;
  if (n_rows <= 2) return 2;
  if (n_rows <= 4) return 4;
  return 8;
}

int64_t dequant_tile_rows(int64_t in, int64_t out, int64_t max_elements) {
  if (in <= 0) return out;
  return std::clamp<int64_t>(max_elements / in, 1, std::max<int64_t>(out, 1));
}

Result<AttentionPlan> plan_attention(int total_rows, int n_heads, int n_kv_heads, int head_dim, int max_keys,
                                     int sm_count) {
  if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0 || total_rows < 0 ||
      max_keys < 0)
    return Error{ErrorCode::invalid_argument,
                 "attention: " + std::to_string(n_heads) + " heads, " + std::to_string(n_kv_heads) +
                     " kv heads, head_dim " + std::to_string(head_dim) + " is not a valid shape"};
  if (head_dim > kAttentionMaxHeadDim)
    return Error{ErrorCode::unsupported, "attention: head_dim " + std::to_string(head_dim) +
                                             " is above the CUDA kernel's limit of " +
                                             std::to_string(kAttentionMaxHeadDim)};
  AttentionPlan p;
  p.group = n_heads / n_kv_heads;
  p.heads_per_block = std::min(p.group, kAttentionHeadsPerBlock);
  p.head_groups = (p.group + p.heads_per_block - 1) / p.heads_per_block;
  const int64_t grid_y = static_cast<int64_t>(n_kv_heads) * p.head_groups;
  if (grid_y > 65535)
    return Error{ErrorCode::unsupported, "attention: " + std::to_string(n_kv_heads) + " kv heads exceed a launch"};
  p.grid_y = static_cast<int>(grid_y);
  p.elems_per_lane = head_dim <= 64 ? 2 : head_dim <= 128 ? 4 : 8;
  // Split the keys only when the rows and heads alone leave the device
  // idle: aim for two blocks per multiprocessor.
  const int64_t blocks = static_cast<int64_t>(total_rows) * p.grid_y;
  const int64_t target = 2 * static_cast<int64_t>(std::max(sm_count, 1));
  int64_t splits = 1;
  if (blocks > 0 && blocks < target && max_keys > kAttentionMinKeysPerSplit) {
    const int64_t want = (target + blocks - 1) / blocks;
    const int64_t by_keys = max_keys / kAttentionMinKeysPerSplit;  // splits of at least the minimum
    splits = std::clamp<int64_t>(std::min(want, by_keys), 1, kAttentionMaxSplits);
  }
  const int keys = std::max(max_keys, 1);
  p.keys_per_split = static_cast<int>((keys + splits - 1) / splits);
  p.splits = (keys + p.keys_per_split - 1) / p.keys_per_split;  // no trailing empty split
  return p;
}

int decode_row_bucket(int sequences) {
  static constexpr int kBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256};
  if (sequences <= 0) return sequences;
  for (int b : kBuckets)
    if (sequences <= b) return b;
  return sequences;
}

int attention_key_bucket(int max_keys) {
  if (max_keys <= kAttentionKeyBucket) return kAttentionKeyBucket;
  const int64_t b = (static_cast<int64_t>(max_keys) + kAttentionKeyBucket - 1) / kAttentionKeyBucket;
  return static_cast<int>(std::min<int64_t>(b * kAttentionKeyBucket, INT32_MAX));
}

void split_q8_0(const void* blocks, int64_t n_blocks, int8_t* quants, uint16_t* scales) {
  const auto* src = static_cast<const unsigned char*>(blocks);
  for (int64_t b = 0; b < n_blocks; ++b, src += 34) {
    std::memcpy(&scales[b], src, 2);
    std::memcpy(quants + b * 32, src + 2, 32);
  }
}

void split_q4_0(const void* blocks, int64_t n_blocks, uint8_t* quants, uint16_t* scales) {
  const auto* src = static_cast<const unsigned char*>(blocks);
  for (int64_t b = 0; b < n_blocks; ++b, src += 18) {
    std::memcpy(&scales[b], src, 2);
    std::memcpy(quants + b * 16, src + 2, 16);
  }
}

size_t quant_bytes(TensorType type, int64_t elements) {
  switch (type) {
    case TensorType::q8_0: return static_cast<size_t>(elements);
    case TensorType::q4_0: return static_cast<size_t>(elements) / 2;
    default: return 0;
  }
}

}  // namespace troupe::engine::local::cuda_plan
