#include "engine/local/kv_cache.hpp"
#include "common/hash.hpp"

#include <stdexcept>

namespace troupe::engine::local {

Result<std::unique_ptr<KvCache>> KvCache::create(KvCacheConfig cfg, std::shared_ptr<Kernels> kernels) {
  if (cfg.n_layers < 1 || cfg.kv_dim < 1 || cfg.block_size < 1)
    return Error{ErrorCode::invalid_argument, "kv cache: n_layers, kv_dim and block_size must be positive"};
  const size_t block_bytes = static_cast<size_t>(cfg.block_size) * static_cast<size_t>(cfg.kv_dim) *
                             kv_element_bytes(cfg.type);
  // Storage and block copies count floats: a 2-byte type (f16, bf16) needs
  // an even number of elements per block.
  if (block_bytes % sizeof(float) != 0)
    return Error{ErrorCode::invalid_argument,
                 "kv cache: a block of " + std::to_string(cfg.block_size) + " rows of " + std::to_string(cfg.kv_dim) +
                     " " + to_string(cfg.type) + " elements is not a whole number of floats (" +
                     std::to_string(kv_element_bytes(cfg.type)) +
                     "-byte elements need an even block_size * kv_dim)"};
  size_t per_block = 2ull * static_cast<size_t>(cfg.n_layers) * block_bytes;
  size_t n = cfg.budget_bytes / per_block;
  if (n < 1)
    return Error{ErrorCode::invalid_argument, "kv cache: a budget of " + std::to_string(cfg.budget_bytes) +
                                                  " bytes holds no block of " + std::to_string(per_block) + " bytes"};
  if (n > (1u << 30)) n = 1u << 30;
  if (!kernels) kernels = make_reference_kernels();
  std::unique_ptr<KvCache> cache(new KvCache(cfg, static_cast<int>(n), std::move(kernels)));
  const size_t floats = n * block_bytes / sizeof(float);
  for (int l = 0; l < cfg.n_layers; ++l) {
    for (auto* side : {&cache->k_, &cache->v_}) {
      auto buf = cache->kernels_->alloc_uninitialized(floats);
      if (!buf)
        return Error{ErrorCode::unsupported, std::string("kv cache: the ") + cache->kernels_->name() +
                                                 " backend could not allocate " +
                                                 std::to_string((floats * sizeof(float)) >> 20) +
                                                 " MiB for a layer's K or V (lower the KV budget)"};
      side->push_back(std::move(buf));
    }
  }
  for (auto& b : cache->k_) cache->buffers_.push_back(b.get());
  for (auto& b : cache->v_) cache->buffers_.push_back(b.get());
  return cache;
}

KvCache::KvCache(KvCacheConfig cfg, int n_blocks, std::shared_ptr<Kernels> kernels)
    : cfg_(cfg), n_blocks_(n_blocks), kernels_(std::move(kernels)) {
  blocks_.resize(static_cast<size_t>(n_blocks));
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

size_t KvCache::bytes_per_block() const {
  return 2ull * static_cast<size_t>(cfg_.n_layers) * static_cast<size_t>(cfg_.block_size) *
         static_cast<size_t>(cfg_.kv_dim) * kv_element_bytes(cfg_.type);
}

int KvCache::free_blocks() const { return static_cast<int>(free_.size() + lru_.size()); }
int KvCache::blocks_in_use() const { return n_blocks_ - free_blocks(); }

uint64_t KvCache::chain_key(uint64_t parent_key, std::span<const int32_t> tokens) {
  // FNV-1a over the parent key and the tokens, then a final mix.
  uint64_t h = hash::fnv1a64_u64(parent_key, hash::kFnv1aOffset ^ parent_key);
  for (int32_t t : tokens) h = hash::fnv1a64_u64(static_cast<uint32_t>(t), h);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

int32_t KvCache::allocate() {
  if (!free_.empty()) {
    int32_t b = free_.back();
    free_.pop_back();
    return b;
  }
  if (lru_.empty()) return -1;
  int32_t b = lru_.front();
  lru_.pop_front();
  Block& blk = blocks_[static_cast<size_t>(b)];
  blk.in_lru = false;
  auto erase_from = [b](std::unordered_multimap<uint64_t, int32_t>& idx, uint64_t key) {
    auto range = idx.equal_range(key);
    for (auto it = range.first; it != range.second; ++it)
      if (it->second == b) {
        idx.erase(it);
        break;
      }
  };
  if (!blk.partial) erase_from(index_, blk.key);
  erase_from(children_, blk.parent_key);
  blk.indexed = false;
  blk.partial = false;
  blk.tokens.clear();
  ++stats_.evictions;
  return b;
}

void KvCache::unref(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (--blk.refs > 0) return;
  if (blk.indexed) {
    lru_.push_back(b);
    blk.lru = std::prev(lru_.end());
    blk.in_lru = true;
  } else {
    free_.push_back(b);
  }
}

void KvCache::copy_block(int32_t from, int32_t to) {
  const size_t block_floats =
      static_cast<size_t>(cfg_.block_size) * static_cast<size_t>(cfg_.kv_dim) * kv_element_bytes(cfg_.type) /
      sizeof(float);
  const Kernels::BlockCopy copy{from, to};
  kernels_->copy_blocks(buffers_, block_floats, {&copy, 1});
  ++stats_.copies;
}

KvCache::Opened KvCache::open(std::span<const int32_t> tokens) {
  Seq seq;
  const size_t bs = static_cast<size_t>(cfg_.block_size);
  uint64_t key = 0;
  int32_t parent = -1;
  // Leave at least one token to compute.
  size_t full = tokens.empty() ? 0 : (tokens.size() - 1) / bs;
  for (size_t i = 0; i < full; ++i) {
    auto chunk = tokens.subspan(i * bs, bs);
    uint64_t k = chain_key(key, chunk);
    int32_t hit = -1;
    auto range = index_.equal_range(k);
    for (auto it = range.first; it != range.second; ++it) {
      const Block& blk = blocks_[static_cast<size_t>(it->second)];
      if (blk.parent == parent && std::equal(blk.tokens.begin(), blk.tokens.end(), chunk.begin(), chunk.end())) {
        hit = it->second;
        break;
      }
    }
    if (hit < 0) break;
    Block& blk = blocks_[static_cast<size_t>(hit)];
    if (blk.in_lru) {
      lru_.erase(blk.lru);
      blk.in_lru = false;
    }
    ++blk.refs;
    seq.blocks.push_back(hit);
    key = k;
    parent = hit;
  }
  seq.length = static_cast<int>(seq.blocks.size() * bs);
  // A kept partial block continuing this chain: reuse its longest common
  // prefix with the rest of the prompt (still leaving one token to compute).
  if (!tokens.empty()) {
    size_t start = seq.blocks.size() * bs;
    size_t limit = std::min(bs, tokens.size() - 1 - start);
    int32_t best = -1;
    size_t best_len = 0;
    auto range = children_.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) {
      const Block& blk = blocks_[static_cast<size_t>(it->second)];
      if (blk.parent != parent) continue;
      size_t n = 0;
      while (n < limit && n < blk.tokens.size() && blk.tokens[n] == tokens[start + n]) ++n;
      if (n > best_len) {
        best_len = n;
        best = it->second;
      }
    }
    if (best >= 0) {
      Block& blk = blocks_[static_cast<size_t>(best)];
      if (blk.in_lru) {
        lru_.erase(blk.lru);
        blk.in_lru = false;
      }
      ++blk.refs;
      seq.blocks.push_back(best);
      seq.length += static_cast<int>(best_len);
    }
  }
  seq.tokens.assign(tokens.begin(), tokens.begin() + seq.length);
  stats_.prefix_hit_tokens += seq.length;
  SeqId id = next_seq_++;
  Opened out{id, seq.length};
  seqs_.emplace(id, std::move(seq));
  return out;
}

KvCache::SeqId KvCache::fork(SeqId parent) {
  Seq copy = seqs_.at(parent);
  for (int32_t b : copy.blocks) ++blocks_[static_cast<size_t>(b)].refs;
  SeqId id = next_seq_++;
  seqs_.emplace(id, std::move(copy));
  return id;
}

bool KvCache::reserve(SeqId id, int n) {
  Seq& s = seqs_.at(id);
  const int bs = cfg_.block_size;
  int needed_blocks = (s.length + n + bs - 1) / bs;
  int have = static_cast<int>(s.blocks.size());
  // The block the next token goes into, if it already exists and is shared
  // or immutable, must be copied first.
  bool cow = false;
  if (s.length % bs != 0 || (s.length < have * bs)) {
    int32_t b = s.blocks[static_cast<size_t>(s.length / bs)];
    const Block& blk = blocks_[static_cast<size_t>(b)];
    cow = n > 0 && (blk.refs > 1 || blk.indexed);
  }
  int new_blocks = std::max(0, needed_blocks - have) + (cow ? 1 : 0);
  if (new_blocks > free_blocks()) return false;
  if (cow) {
    size_t slot = static_cast<size_t>(s.length / bs);
    int32_t old = s.blocks[slot];
    int32_t fresh = allocate();
    copy_block(old, fresh);
    Block& nb = blocks_[static_cast<size_t>(fresh)];
    nb = Block{};
    nb.refs = 1;
    s.blocks[slot] = fresh;
    unref(old);
  }
  while (static_cast<int>(s.blocks.size()) < needed_blocks) {
    int32_t fresh = allocate();
    Block& nb = blocks_[static_cast<size_t>(fresh)];
    nb = Block{};
    nb.refs = 1;
    s.blocks.push_back(fresh);
  }
  return true;
}

void KvCache::append(SeqId id, std::span<const int32_t> toks) {
  Seq& s = seqs_.at(id);
  const int bs = cfg_.block_size;
  if (s.length + static_cast<int>(toks.size()) > static_cast<int>(s.blocks.size()) * bs)
    throw std::logic_error("KvCache::append beyond reserved blocks");
  int before = s.length;
  s.tokens.insert(s.tokens.end(), toks.begin(), toks.end());
  s.length += static_cast<int>(toks.size());
  // Index every block that became full.
  for (int b = before / bs; b < s.length / bs; ++b) {
    int32_t blk_id = s.blocks[static_cast<size_t>(b)];
    Block& blk = blocks_[static_cast<size_t>(blk_id)];
    if (blk.indexed) continue;
    uint64_t parent_key = 0;
    int32_t parent = -1;
    if (b > 0) {
      parent = s.blocks[static_cast<size_t>(b - 1)];
      const Block& pb = blocks_[static_cast<size_t>(parent)];
      if (!pb.indexed) continue;  // the chain is broken above; keep it private
      parent_key = pb.key;
    }
    auto chunk = std::span<const int32_t>(s.tokens).subspan(static_cast<size_t>(b * bs), static_cast<size_t>(bs));
    blk.key = chain_key(parent_key, chunk);
    blk.parent = parent;
    blk.tokens.assign(chunk.begin(), chunk.end());
    blk.indexed = true;
    blk.parent_key = parent_key;
    index_.emplace(blk.key, blk_id);
    children_.emplace(parent_key, blk_id);
  }
}

void KvCache::truncate(SeqId id, int new_length) {
  Seq& s = seqs_.at(id);
  if (new_length >= s.length) return;
  const int bs = cfg_.block_size;
  int keep_blocks = (new_length + bs - 1) / bs;
  while (static_cast<int>(s.blocks.size()) > keep_blocks) {
    unref(s.blocks.back());
    s.blocks.pop_back();
  }
  s.length = new_length;
  s.tokens.resize(static_cast<size_t>(new_length));
}

void KvCache::release(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  Seq& s = it->second;
  const int bs = cfg_.block_size;
  // Keep the last, partly filled block for continuations when its chain
  // above is indexed and nobody else writes it.
  int used = (s.length + bs - 1) / bs;
  if (s.length % bs != 0 && used == static_cast<int>(s.blocks.size())) {
    int slot = used - 1;
    int32_t b = s.blocks[static_cast<size_t>(slot)];
    Block& blk = blocks_[static_cast<size_t>(b)];
    int32_t parent = slot > 0 ? s.blocks[static_cast<size_t>(slot - 1)] : -1;
    bool chain_ok = parent < 0 || (blocks_[static_cast<size_t>(parent)].indexed && !blocks_[static_cast<size_t>(parent)].partial);
    if (!blk.indexed && blk.refs == 1 && chain_ok) {
      blk.indexed = true;
      blk.partial = true;
      blk.parent = parent;
      blk.key = parent < 0 ? 0 : blocks_[static_cast<size_t>(parent)].key;
      blk.parent_key = blk.key;
      blk.tokens.assign(s.tokens.begin() + slot * bs, s.tokens.begin() + s.length);
      children_.emplace(blk.key, b);
    }
  }
  for (int32_t b : s.blocks) unref(b);
  seqs_.erase(it);
}

const std::vector<int32_t>& KvCache::block_table(SeqId id) const { return seqs_.at(id).blocks; }
int KvCache::length(SeqId id) const { return seqs_.at(id).length; }
const std::vector<int32_t>& KvCache::tokens(SeqId id) const { return seqs_.at(id).tokens; }

}  // namespace troupe::engine::local
