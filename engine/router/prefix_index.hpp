// PrefixIndex: an approximate record of the prompts one endpoint has seen
// recently, to estimate how much of a new prompt that endpoint still holds
// in its prefix (KV) cache.
//
// What callers may rely on:
// - A prompt is cut into blocks of `block_chars` characters (the last one
//   may be shorter); block i is keyed by a hash chained over blocks 0..i, so
//   a key stands for the whole prefix up to the end of its block
//   (block_chain()).
// - matched_chars(chain) is the length of the longest run of leading keys
//   that are all present, in characters (at most the prompt's length). Two
//   prompts that share their first k full blocks match at least k blocks
//   unless those keys were evicted; a hash collision can overstate a match
//   (64-bit keys: rare, and only a routing preference is at stake).
// - insert(chain) records every key of the prompt as most recently used.
//   At most `capacity` keys are kept; the least recently used go first
//   (like a server's cache, which also forgets what it has not used).
// - Not thread-safe: the router guards each index with its own lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace troupe::engine::router {

struct BlockChain {
  std::vector<uint64_t> keys;  // one per block
  size_t chars = 0;            // the prompt's length
  size_t block_chars = 0;
};

BlockChain block_chain(std::string_view text, size_t block_chars);

class PrefixIndex {
 public:
  explicit PrefixIndex(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  size_t matched_chars(const BlockChain& chain) const;
  void insert(const BlockChain& chain);
  size_t size() const { return order_.size(); }

 private:
  size_t capacity_;
  std::list<uint64_t> order_;  // most recently used first
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> where_;
};

}  // namespace troupe::engine::router
