// The paged KV cache with prefix sharing.
//
// K and V rows live in fixed-size blocks (block_size token positions each,
// per layer: [n_blocks][block_size][kv_dim] floats). A sequence is a block
// table plus a length. The cache gives callers:
// - Prefix sharing: open(tokens) reuses every cached full block of the
//   longest cached prefix (block hashing: a block's key chains its parent's
//   key with its own tokens, and the tokens are compared on a hit, so a
//   hash collision cannot return wrong K/V). At least one token is always
//   left to compute, so the caller gets logits for the last prompt token.
//   A released sequence's last, partly filled block is kept too, so a
//   later prompt that continues it (a LeaP segment appending text) reuses
//   every cached token, not only whole blocks; the first write into that
//   shared block copies it.
// - Forks: fork() shares every block of a sequence (n samples of a prompt,
//   side branches) at no copy cost.
// - Copy-on-write: reserve() copies a block before a sequence writes into
//   one that another sequence shares or that the prefix index holds.
// - Reference counts and LRU eviction: blocks no sequence uses stay cached
//   for later prefix hits until space is needed; the least recently
//   released go first.
// - A memory budget: n_blocks = budget_bytes / bytes_per_block.
// - reserve() returns false when even eviction cannot make room; nothing
//   is changed then, and the scheduler preempts someone.
// - Storage: the cache is bookkeeping (block ids, hashes, reference counts,
//   LRU, copy-on-write); the K/V rows live in memory of the Kernels backend
//   it was created with (host memory for the CPU backends, device memory
//   for a GPU), and copy-on-write copies go through Kernels::copy_blocks.
// Not thread-safe: one scheduler thread owns it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "engine/local/kernels.hpp"

namespace troupe::engine::local {

struct KvCacheConfig {
  int n_layers = 0;
  int kv_dim = 0;           // n_kv_heads * head_dim
  int block_size = 16;      // token positions per block
  size_t budget_bytes = 0;  // K and V of all layers
  KvType type = KvType::f32;  // element type of the stored rows (f16, bf16: half the bytes per block)
};

struct KvCacheStats {
  int64_t prefix_hit_tokens = 0;  // tokens reused by open()
  int64_t evictions = 0;
  int64_t copies = 0;              // copy-on-write block copies
};

class KvCache {
 public:
  using SeqId = int64_t;

  // `kernels` owns the storage (null: host memory). An error names what is
  // wrong with the config, or the size the backend could not allocate.
  static Result<std::unique_ptr<KvCache>> create(KvCacheConfig config, std::shared_ptr<Kernels> kernels = nullptr);

  const KvCacheConfig& config() const { return cfg_; }
  int n_blocks() const { return n_blocks_; }
  int free_blocks() const;   // free or evictable
  int blocks_in_use() const;  // referenced by a sequence
  size_t bytes_per_block() const;
  const KvCacheStats& stats() const { return stats_; }

  // Storage of one layer: n_blocks * block_size * kv_dim elements of
  // config().type (floats, or uint16_t elements for the 2-byte types f16 and bf16).
  float* k_base(int layer) { return k_[static_cast<size_t>(layer)].get(); }
  float* v_base(int layer) { return v_[static_cast<size_t>(layer)].get(); }

  struct Opened {
    SeqId seq = 0;
    int cached_tokens = 0;  // prompt tokens whose K/V are already present
  };
  // A new sequence for a prompt; its length is cached_tokens.
  Opened open(std::span<const int32_t> tokens);
  SeqId fork(SeqId parent);
  // Room for `n` more positions at the end of `seq`: copies a shared last
  // block, allocates new ones, evicting unreferenced cached blocks.
  bool reserve(SeqId seq, int n);
  // Records that K/V rows for `tokens` were written at positions
  // length..length+n-1 (after reserve). Blocks that become full enter the
  // prefix index.
  void append(SeqId seq, std::span<const int32_t> tokens);
  // Drops the last `n` positions (e.g. to recompute a prompt's last token).
  void truncate(SeqId seq, int new_length);
  void release(SeqId seq);

  const std::vector<int32_t>& block_table(SeqId seq) const;
  int length(SeqId seq) const;
  const std::vector<int32_t>& tokens(SeqId seq) const;
  bool has(SeqId seq) const { return seqs_.count(seq) > 0; }

 private:
  struct Block {
    int refs = 0;
    bool indexed = false;  // in the prefix index (immutable): full, or `partial`
    bool partial = false;  // a released sequence's last block, `tokens.size()` rows valid
    uint64_t key = 0;
    int32_t parent = -1;   // block before it in the chain (-1 = first)
    uint64_t parent_key = 0;  // the parent's chain key (its key in children_)
    std::vector<int32_t> tokens;  // its tokens, for hit verification
    std::list<int32_t>::iterator lru;
    bool in_lru = false;
  };
  struct Seq {
    std::vector<int32_t> blocks;
    std::vector<int32_t> tokens;
    int length = 0;
  };

  KvCache(KvCacheConfig cfg, int n_blocks, std::shared_ptr<Kernels> kernels);
  int32_t allocate();  // -1 when nothing is free or evictable
  void unref(int32_t block);
  void copy_block(int32_t from, int32_t to);
  static uint64_t chain_key(uint64_t parent_key, std::span<const int32_t> tokens);

  KvCacheConfig cfg_;
  int n_blocks_;
  std::shared_ptr<Kernels> kernels_;
  std::vector<std::shared_ptr<float[]>> k_, v_;
  std::vector<float*> buffers_;  // every layer's K then V base, for copy_blocks
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::list<int32_t> lru_;  // unreferenced indexed blocks, oldest first
  std::unordered_multimap<uint64_t, int32_t> index_;    // full blocks by chain key
  // Every indexed block (full or partial) by its parent's chain key, for
  // matches that end inside a block.
  std::unordered_multimap<uint64_t, int32_t> children_;
  std::unordered_map<SeqId, Seq> seqs_;
  SeqId next_seq_ = 1;
  KvCacheStats stats_;
};

}  // namespace troupe::engine::local
