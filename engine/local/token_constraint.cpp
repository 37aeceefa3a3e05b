#include "engine/local/token_constraint.hpp"

#include <algorithm>
#include <limits>

namespace troupe::engine::local {

VocabTrie::VocabTrie(const std::vector<std::string>& pieces, std::vector<int32_t> eos)
    : vocab_size_(static_cast<int>(pieces.size())), pieces_(pieces), eos_(std::move(eos)) {
  std::vector<std::pair<std::string_view, int32_t>> sorted;
  sorted.reserve(pieces_.size());
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (pieces_[i].empty()) continue;
    if (std::find(eos_.begin(), eos_.end(), static_cast<int32_t>(i)) != eos_.end()) continue;
    sorted.emplace_back(pieces_[i], static_cast<int32_t>(i));
  }
  std::sort(sorted.begin(), sorted.end());
  nodes_.reserve(sorted.size() * 2 + 1);
  build(sorted, 0, sorted.size(), 0);
}

// Node for the entries [lo, hi) of `sorted`, which share their first
// `depth` bytes.
uint32_t VocabTrie::build(const std::vector<std::pair<std::string_view, int32_t>>& sorted, size_t lo, size_t hi,
                          size_t depth) {
  const auto self = static_cast<uint32_t>(nodes_.size());
  nodes_.emplace_back();
  size_t i = lo;
  nodes_[self].token_begin = static_cast<uint32_t>(tokens_.size());
  while (i < hi && sorted[i].first.size() == depth) tokens_.push_back(sorted[i++].second);
  nodes_[self].token_end = static_cast<uint32_t>(tokens_.size());
  // Children are built first (they append edges of their own), then this
  // node's edges are appended as one contiguous run.
  std::vector<Edge> mine;
  while (i < hi) {
    const auto b = static_cast<uint8_t>(sorted[i].first[depth]);
    size_t j = i;
    while (j < hi && static_cast<uint8_t>(sorted[j].first[depth]) == b) ++j;
    mine.push_back({b, build(sorted, i, j, depth + 1)});
    i = j;
  }
  nodes_[self].edge_begin = static_cast<uint32_t>(edges_.size());
  edges_.insert(edges_.end(), mine.begin(), mine.end());
  nodes_[self].edge_end = static_cast<uint32_t>(edges_.size());
  return self;
}

void VocabTrie::walk(const JsonMatcher& m, uint32_t node, size_t depth, std::vector<JsonMatcher::State>& levels,
                     std::vector<uint8_t>& allowed) const {
  const Node& n = nodes_[node];
  if (levels.size() <= depth + 1) levels.emplace_back();
  for (uint32_t e = n.edge_begin; e < n.edge_end; ++e) {
    levels[depth + 1] = levels[depth];  // reuses the level's buffers
    if (!m.step_state(levels[depth + 1], edges_[e].byte)) continue;
    const Node& child = nodes_[edges_[e].child];
    for (uint32_t t = child.token_begin; t < child.token_end; ++t) allowed[static_cast<size_t>(tokens_[t])] = 1;
    if (child.edge_begin != child.edge_end) walk(m, edges_[e].child, depth + 1, levels, allowed);
  }
}

void VocabTrie::allowed(const JsonMatcher& m, std::vector<uint8_t>& allowed) const {
  allowed.assign(static_cast<size_t>(vocab_size_), 0);
  static thread_local std::vector<JsonMatcher::State> levels;
  if (levels.empty()) levels.emplace_back();
  levels[0] = m.state();
  if (!nodes_.empty()) walk(m, 0, 0, levels, allowed);
  if (m.can_end())
    for (int32_t id : eos_) allowed[static_cast<size_t>(id)] = 1;
}

TokenConstraint::TokenConstraint(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const VocabTrie> vocab)
    : matcher_(std::move(grammar)), vocab_(std::move(vocab)) {}

bool TokenConstraint::mask(std::span<float> logits) {
  vocab_->allowed(matcher_, allowed_);
  bool any = false;
  const size_t n = std::min(logits.size(), allowed_.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    if (i < n && allowed_[i]) {
      any = true;
    } else {
      logits[i] = -std::numeric_limits<float>::infinity();
    }
  }
  return any;
}

void TokenConstraint::advance(int32_t id) {
  if (id < 0 || id >= vocab_->vocab_size()) return;
  if (std::find(vocab_->eos().begin(), vocab_->eos().end(), id) != vocab_->eos().end()) return;
  matcher_.feed(vocab_->piece(id));
}

}  // namespace troupe::engine::local
