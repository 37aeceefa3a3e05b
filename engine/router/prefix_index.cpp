#include "engine/router/prefix_index.hpp"

#include <algorithm>

#include "common/hash.hpp"

namespace troupe::engine::router {

BlockChain block_chain(std::string_view text, size_t block_chars) {
  BlockChain c;
  c.chars = text.size();
  c.block_chars = block_chars == 0 ? 1 : block_chars;
  uint64_t h = hash::kFnv1aOffset;
  for (size_t at = 0; at < text.size(); at += c.block_chars) {
    std::string_view block = text.substr(at, c.block_chars);
    // The block's length goes in too: a short last block never matches the
    // full block that a longer prompt has at the same place.
    h = hash::fnv1a64(block, hash::fnv1a64_u64(block.size(), h));
    c.keys.push_back(h);
  }
  return c;
}

size_t PrefixIndex::matched_chars(const BlockChain& chain) const {
  size_t blocks = 0;
  while (blocks < chain.keys.size() && where_.count(chain.keys[blocks])) ++blocks;
  return std::min(chain.chars, blocks * chain.block_chars);
}

void PrefixIndex::insert(const BlockChain& chain) {
  // Last block first, so that the leading blocks end up most recent: a
  // prefix's head outlives its tail, as a match needs.
  for (auto k = chain.keys.rbegin(); k != chain.keys.rend(); ++k) {
    uint64_t key = *k;
    auto it = where_.find(key);
    if (it != where_.end()) {
      order_.splice(order_.begin(), order_, it->second);
    } else {
      order_.push_front(key);
      where_.emplace(key, order_.begin());
    }
  }
  while (order_.size() > capacity_) {
    where_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace troupe::engine::router
