// Token-level constrained decoding: which vocabulary tokens may come next
// under a JsonGrammar (engine/json_grammar.hpp).
//
// What callers may rely on:
// - VocabTrie is built once per model from every token's bytes; tokens
//   whose bytes are empty (control tokens) are never allowed, and the
//   end-of-generation ids are allowed only when the text so far is a whole
//   document (JsonMatcher::can_end).
// - TokenConstraint::mask() sets the logit of every token that cannot come
//   next to -infinity, so any sampler afterwards picks an allowed token;
//   its cost is one walk of the trie pruned at the first byte the grammar
//   refuses (so it is small inside numbers and literals and largest inside
//   free strings, where most tokens fit).
// - advance() feeds the chosen token; finished() says the document is
//   complete and nothing more may follow (the caller stops the sequence).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/json_grammar.hpp"

namespace troupe::engine::local {

class VocabTrie {
 public:
  // pieces[id]: the bytes of token id; eos: the end-of-generation ids.
  VocabTrie(const std::vector<std::string>& pieces, std::vector<int32_t> eos);
  int vocab_size() const { return vocab_size_; }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& eos() const { return eos_; }
  // allowed[id] = 1 for every non-empty token the matcher accepts whole.
  void allowed(const JsonMatcher& m, std::vector<uint8_t>& allowed) const;
  size_t node_count() const { return nodes_.size(); }

 private:
  struct Node {
    uint32_t edge_begin = 0, edge_end = 0;    // into edges_
    uint32_t token_begin = 0, token_end = 0;  // into tokens_
  };
  struct Edge {
    uint8_t byte;
    uint32_t child;
  };
  uint32_t build(const std::vector<std::pair<std::string_view, int32_t>>& sorted, size_t lo, size_t hi, size_t depth);
  void walk(const JsonMatcher& m, uint32_t node, size_t depth, std::vector<JsonMatcher::State>& levels,
            std::vector<uint8_t>& allowed) const;

  int vocab_size_ = 0;
  std::vector<std::string> pieces_;
  std::vector<int32_t> eos_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::vector<int32_t> tokens_;
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const VocabTrie> vocab);
  // Masks `logits` (vocab_size floats); false when no token may come next.
  bool mask(std::span<float> logits);
  // Whether the last mask() allowed `id`.
  bool allows(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < allowed_.size() && allowed_[static_cast<size_t>(id)];
  }
  // Feeds token `id` (an end-of-generation id feeds nothing).
  void advance(int32_t id);
  bool finished() const { return matcher_.finished(); }
  bool can_end() const { return matcher_.can_end(); }
  // An end-of-generation id (or -1 when the vocabulary has none), for when
  // mask() found no token.
  int32_t fallback_end() const { return vocab_->eos().empty() ? -1 : vocab_->eos().front(); }

 private:
  JsonMatcher matcher_;
  std::shared_ptr<const VocabTrie> vocab_;
  std::vector<uint8_t> allowed_;
};

}  // namespace troupe::engine::local
