// The forward pass of a llama- or qwen2-architecture transformer over a
// batch of sequences, on any Kernels backend.
//
// A batch is a list of entries, one per sequence: the new tokens of that
// sequence, the position of the first of them, and where the sequence's K/V
// rows live (a KvPool and the sequence's block table). forward() computes
// the new tokens' keys and values, writes them into the cache at their
// positions, attends over positions [0, pos0 + i] for new token i, and
// returns logits: for the last new token of each entry, or for every new
// token of entries that ask for all (scoring, or checking a prefill).
//
// What callers may rely on:
// - The caller owns the cache memory and the block tables and decides which
//   blocks a sequence uses (a paged cache with prefix sharing or the
//   ContiguousKvCache below). forward() writes only the rows of the new
//   tokens' positions and reads only rows [0, pos0 + n) of each entry.
//   Blocks may be shared between entries only for positions nobody writes.
// - Results for an entry do not depend on the other entries of the batch,
//   on the thread count, or on whether its tokens came in one call
//   (prefill) or several (decode): the same keys and values are computed
//   and attended over in the same order. (Exactly equal on the CPU backends.)
// - forward() returns an error (never aborts) for a token out of range, a
//   position past the context length, or a block table too short for the
//   positions it must hold. It is not thread safe: one call at a time per
//   Transformer (it reuses scratch buffers).
// - The ModelWeights' storage is kept alive by the Transformer.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "common/error.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/model.hpp"

namespace troupe::engine::local {

// Where the K/V rows of some sequences live: per layer one K and one V base
// pointer (memory from the Kernels' alloc), all with the same block layout
// (see KvLayerView). A sequence's rows are found through its block table.
struct KvPool {
  int block_size = 0;
  int64_t block_stride = 0;  // elements of `type`
  int64_t row_stride = 0;    // elements of `type`, >= kv_dim
  std::vector<float*> k, v;  // per layer (storage of `type` elements)
  KvType type = KvType::f32;

  KvLayerView view(int layer, std::span<const int32_t> block_table, int n_tokens) const;
};

class KvCache;  // engine/local/kv_cache.hpp
// The pool view of a paged KV cache's storage (every layer's K and V base,
// its block layout and element type), for BatchEntry::kv.
KvPool kv_pool_of(KvCache& cache);

struct BatchEntry {
  std::span<const int32_t> tokens;          // new tokens, at positions pos0, pos0 + 1, ...
  int pos0 = 0;                             // rows [0, pos0) are already in the cache
  const KvPool* kv = nullptr;
  std::span<const int32_t> block_table;     // must cover positions [0, pos0 + tokens.size())
  bool all_logits = false;                  // logits for every new token, not only the last
  bool want_logits = true;                  // false: no logits at all (a prefill chunk mid-prompt)
};

struct Logits {
  int vocab = 0;
  std::vector<float> values;   // rows of `vocab` floats
  std::vector<int> first_row;  // per entry: its first row
  std::vector<int> n_rows;     // per entry: 1, tokens.size() if all_logits, 0 if !want_logits
  std::span<const float> row(int r) const { return {values.data() + static_cast<size_t>(r) * vocab, static_cast<size_t>(vocab)}; }
  // The logits after entry e's last new token (n_rows[e] > 0).
  std::span<const float> last(int e) const { return row(first_row[e] + n_rows[e] - 1); }
};

class Transformer {
 public:
  // Checks every tensor against the config (present, shape, supported type)
  // and returns an error naming the first that does not fit.
  static Result<std::unique_ptr<Transformer>> create(ModelWeights weights, std::shared_ptr<Kernels> kernels);

  const ModelConfig& config() const { return w_.config; }
  const ModelWeights& weights() const { return w_; }
  Kernels& kernels() { return *k_; }
  int kv_dim() const { return w_.config.n_kv_heads * w_.config.head_dim(); }

  Result<Logits> forward(std::span<const BatchEntry> batch);

 private:
  struct LayerVectors {  // norms and biases as float32 in backend memory
    std::shared_ptr<float[]> attn_norm, ffn_norm, bq, bk, bv;
  };
  Transformer(ModelWeights w, std::shared_ptr<Kernels> k) : w_(std::move(w)), k_(std::move(k)) {}
  std::shared_ptr<float[]> upload_vector(const TensorView& t);
  void reserve(int n_tokens, int n_logit_rows);

  ModelWeights w_;
  std::shared_ptr<Kernels> k_;
  std::vector<LayerVectors> layer_vec_;
  std::shared_ptr<float[]> output_norm_;
  // Scratch, grown on demand.
  int cap_tokens_ = 0, cap_rows_ = 0;
  std::shared_ptr<float[]> x_, xb_, xb2_, q_, kk_, vv_, hb_, hb2_, xr_, logits_;
};

// A KV cache for tests and simple callers: n_seqs sequences of up to
// max_len positions each, one contiguous block per sequence (block_size =
// max_len, block table {s} for sequence s), elements of `type`.
class ContiguousKvCache {
 public:
  ContiguousKvCache(const ModelConfig& config, Kernels& kernels, int n_seqs, int max_len,
                    KvType type = KvType::f32);
  const KvPool& pool() const { return pool_; }
  std::span<const int32_t> block_table(int seq) const { return {&tables_[seq], 1}; }
  BatchEntry entry(int seq, std::span<const int32_t> tokens, int pos0, bool all_logits = false) const {
    return {tokens, pos0, &pool_, block_table(seq), all_logits};
  }

 private:
  KvPool pool_;
  std::vector<int32_t> tables_;
  std::vector<std::shared_ptr<float[]>> buffers_;
};

}  // namespace troupe::engine::local
