// Byte-level BPE (GGUF `tokenizer.ggml.model = gpt2`), as in GPT-2 and the
// Hugging Face tokenizers:
// 1. the pre-tokenizer splits the text into words (pretokenize.hpp);
// 2. each byte of a word becomes a printable character (GPT-2's
//    bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
//    others map to U+0100 onwards, so the space is "Ġ");
// 3. starting from one symbol per character, repeatedly merge the adjacent
//    pair with the lowest merge rank (ties: the leftmost pair);
// 4. every final symbol is a token (single byte characters always are).
// With the llama3 pre-tokenizer a word that is itself a token is taken
// whole (Hugging Face's ignore_merges).
#include <queue>

#include "engine/local/tokenizer.hpp"
#include "engine/local/unicode.hpp"

namespace troupe::engine::local {

namespace {

struct Symbol {
  int prev = -1, next = -1;
  size_t offset = 0, size = 0;  // bytes in the mapped word; size 0 = merged away
};

struct Bigram {
  int left = 0, right = 0;
  int32_t rank = 0;
  size_t size = 0;
};

struct BigramOrder {  // the priority queue's "less": higher rank, then further right
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

Status Tokenizer::init_bpe() {
  // GPT-2's bytes_to_unicode().
  char_bytes_.assign(512, -1);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? b : next++;
    byte_chars_[b].clear();
    utf8_append(byte_chars_[b], cp);
    char_bytes_[cp] = static_cast<int16_t>(b);
  }
  for (int b = 0; b < 256; ++b) byte_tokens_[b] = lookup(byte_chars_[b]);
  return {};
}

std::string Tokenizer::bpe_token_bytes(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Utf8Char c = utf8_decode(text, i);
    if (c.valid && c.cp < char_bytes_.size() && char_bytes_[c.cp] >= 0) {
      out += static_cast<char>(char_bytes_[c.cp]);
    } else {
      out.append(text.substr(i, c.len));  // not a byte character: keep as written
    }
    i += c.len;
  }
  return out;
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  for (std::string_view word : pretokenize(pre_, text)) encode_bpe_word(word, out);
}

void Tokenizer::encode_bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  std::string mapped;
  mapped.reserve(word.size() * 2);
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (unsigned char c : word) {
    Symbol s;
    s.prev = static_cast<int>(sym.size()) - 1;
    s.next = static_cast<int>(sym.size()) + 1;
    s.offset = mapped.size();
    s.size = byte_chars_[c].size();
    sym.push_back(s);
    mapped += byte_chars_[c];
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  if (sym.size() == 1 || ignore_merges_) {
    const int32_t id = lookup(mapped);
    if (id >= 0 && mergeable(id)) {
      out.push_back(id);
      return;
    }
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  std::string key;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    key.assign(mapped, sym[left].offset, sym[left].size);
    key += ' ';
    key.append(mapped, sym[right].offset, sym[right].size);
    auto it = merge_ranks_.find(key);
    if (it == merge_ranks_.end()) return;
    queue.push({left, right, it->second, sym[left].size + sym[right].size});
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
    const std::string_view piece(mapped.data() + sym[i].offset, sym[i].size);
    const int32_t id = lookup(piece);
    if (id >= 0 && mergeable(id)) {
      out.push_back(id);
      continue;
    }
    // A merge whose result is not in the vocabulary: fall back to the
    // byte characters (always tokens in a byte-level vocabulary).
    for (size_t k = 0; k < piece.size();) {
      const size_t len = utf8_decode(piece, k).len;
      const int32_t b = lookup(piece.substr(k, len));
      if (b >= 0) out.push_back(b);
      else if (unk_ >= 0) out.push_back(unk_);
      k += len;
    }
  }
}

}  // namespace troupe::engine::local
