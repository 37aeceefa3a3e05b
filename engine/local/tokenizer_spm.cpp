// SentencePiece-style encoding (GGUF `tokenizer.ggml.model = llama`), as
// llama.cpp's llm_tokenizer_spm and llama2.c's encoder do it:
// 1. spaces become U+2581 ("▁"); the caller has already put the one prefix
//    space in front (add_space_prefix);
// 2. the text starts as one symbol per UTF-8 character;
// 3. repeatedly merge the adjacent pair whose concatenation is a token with
//    the highest score (ties: the leftmost pair);
// 4. a final symbol that is not a token falls back to its bytes' <0xNN>
//    tokens (or the unknown token when the vocabulary has no byte tokens).
// Only normal and user-defined tokens can be formed by merging, so text
// never turns into a control token ("<s>").
#include <queue>

#include "engine/local/tokenizer.hpp"
#include "engine/local/unicode.hpp"

namespace troupe::engine::local {

namespace {

struct Symbol {
  int prev = -1, next = -1;
  size_t offset = 0, size = 0;  // bytes in the escaped text; size 0 = merged away
};

struct Bigram {
  int left = 0, right = 0;
  float score = 0;
  size_t size = 0;  // bytes of the merged text, to spot stale entries
};

struct BigramOrder {  // the priority queue's "less": lower score, then further right
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void Tokenizer::encode_spm(std::string_view raw, std::vector<int32_t>& out) const {
  std::string text;
  text.reserve(raw.size() + raw.size() / 4);
  for (char c : raw) {
    if (c == ' ') text += "\xe2\x96\x81";
    else text += c;
  }

  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_decode(text, i).len;
    Symbol s;
    s.prev = static_cast<int>(sym.size()) - 1;
    s.next = i + len < text.size() ? static_cast<int>(sym.size()) + 1 : -1;
    s.offset = i;
    s.size = len;
    sym.push_back(s);
    i += len;
  }
  if (sym.empty()) return;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view merged(text.data() + sym[left].offset, sym[left].size + sym[right].size);
    const int32_t id = lookup(merged);
    if (id < 0 || !mergeable(id)) return;
    queue.push({left, right, scores_.empty() ? 0.0f : scores_[id], merged.size()});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.size == 0 || r.size == 0 || l.size + r.size != b.size) continue;  // stale
    l.size += r.size;
    r.size = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string_view piece(text.data() + sym[i].offset, sym[i].size);
    const int32_t id = lookup(piece);
    if (id >= 0 && mergeable(id)) {
      out.push_back(id);
      continue;
    }
    bool have_bytes = true;
    for (unsigned char c : piece) have_bytes = have_bytes && byte_tokens_[c] >= 0;
    if (have_bytes) {
      for (unsigned char c : piece) out.push_back(byte_tokens_[c]);
    } else if (unk_ >= 0) {
      out.push_back(unk_);  // one unknown token per character, as SentencePiece does
    }
  }
}

}  // namespace troupe::engine::local
