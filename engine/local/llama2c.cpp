// llama2.c legacy checkpoints and tokenizers.
#include "engine/local/llama2c.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/local/model_loader.hpp"

namespace troupe::engine::local {

namespace {

bool is_byte_piece(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

std::string spaces_to_marker(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ' ')
      out += "\xe2\x96\x81";  // U+2581
    else
      out += c;
  }
  return out;
}

}  // namespace

Result<SpmVocab> read_llama2c_tokenizer(const std::string& path, int vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::io, path + ": " + std::strerror(errno)};
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  auto read = [&](void* out, size_t n) {
    if (bytes.size() - pos < n) return false;
    std::memcpy(out, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  int32_t max_len = 0;
  if (!read(&max_len, 4)) return Error{ErrorCode::parse, path + ": too short for a llama2.c tokenizer"};
  if (vocab_size <= 0) return Error{ErrorCode::invalid_argument, path + ": vocabulary size must be positive"};
  SpmVocab v;
  for (int id = 0; id < vocab_size; ++id) {
    float score = 0;
    int32_t len = 0;
    if (!read(&score, 4) || !read(&len, 4))
      return Error{ErrorCode::parse, path + ": truncated at token " + std::to_string(id) + " of " + std::to_string(vocab_size)};
    if (len < 0 || static_cast<size_t>(len) > bytes.size() - pos)
      return Error{ErrorCode::parse, path + ": token " + std::to_string(id) + ": length " + std::to_string(len) +
                                         " does not fit in the file"};
    std::string text = bytes.substr(pos, static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
    TokenType type = TokenType::normal;
    if (id == 0) {
      text = "<unk>";
      type = TokenType::unknown;
    } else if (id == 1) {
      text = "<s>";
      type = TokenType::control;
    } else if (id == 2) {
      text = "</s>";
      type = TokenType::control;
    } else if (text.empty()) {
      type = TokenType::control;
    } else if (is_byte_piece(text)) {
      type = TokenType::byte;
    }
    v.tokens.push_back(spaces_to_marker(text));
    v.scores.push_back(score);
    v.types.push_back(static_cast<int32_t>(type));
  }
  return v;
}

Result<ModelWeights> load_llama2c(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{ErrorCode::io, path + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{ErrorCode::io, path + ": not a readable regular file"};
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 28) {
    ::close(fd);
    return Error{ErrorCode::parse, path + ": neither GGUF nor a llama2.c checkpoint (" + std::to_string(size) + " bytes)"};
  }
  void* addr = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);
  if (addr == MAP_FAILED) return Error{ErrorCode::io, path + ": mmap: " + std::strerror(e)};
  std::shared_ptr<void> storage(addr, [size](void* p) { ::munmap(p, static_cast<size_t>(size)); });
  const auto* base = static_cast<const uint8_t*>(addr);

  int32_t h[7];
  std::memcpy(h, base, sizeof(h));
  const int32_t dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv_heads = h[4], seq_len = h[6];
  const bool shared = h[5] > 0;
  const int64_t vocab = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  const std::string header = "header (dim " + std::to_string(dim) + ", hidden " + std::to_string(hidden) + ", layers " +
                             std::to_string(n_layers) + ", heads " + std::to_string(n_heads) + ", kv_heads " +
                             std::to_string(n_kv_heads) + ", vocab " + std::to_string(h[5]) + ", seq_len " +
                             std::to_string(seq_len) + ")";
  auto in_range = [](int64_t x, int64_t max) { return x >= 1 && x <= max; };
  if (!in_range(dim, 1 << 16) || !in_range(hidden, 1 << 18) || !in_range(n_layers, 1 << 10) ||
      !in_range(n_heads, dim) || !in_range(n_kv_heads, n_heads) || !in_range(vocab, 1 << 22) ||
      !in_range(seq_len, 1 << 22) || dim % n_heads != 0 || n_heads % n_kv_heads != 0 || (dim / n_heads) % 2 != 0)
    return Error{ErrorCode::parse, path + ": not a llama2.c checkpoint: implausible " + header};

  const int64_t hd = dim / n_heads, kv = n_kv_heads * hd, L = n_layers;
  // Offsets (in floats, after the header) of each section, in llama2.c's order.
  int64_t at = 0;
  auto take = [&](int64_t n) {
    const int64_t start = at;
    at += n;
    return start;
  };
  const int64_t o_embd = take(vocab * dim);
  const int64_t o_att_norm = take(L * dim);
  const int64_t o_wq = take(L * dim * dim);
  const int64_t o_wk = take(L * dim * kv);
  const int64_t o_wv = take(L * dim * kv);
  const int64_t o_wo = take(L * dim * dim);
  const int64_t o_ffn_norm = take(L * dim);
  const int64_t o_w1 = take(L * dim * hidden);
  const int64_t o_w2 = take(L * hidden * dim);
  const int64_t o_w3 = take(L * dim * hidden);
  const int64_t o_out_norm = take(dim);
  take(static_cast<int64_t>(seq_len) * hd);  // freq_cis_real and _imag (unused: RoPE is computed)
  const int64_t o_cls = shared ? -1 : take(vocab * dim);
  const uint64_t expected = 28 + static_cast<uint64_t>(at) * 4;
  if (size != expected)
    return Error{ErrorCode::parse, path + ": not a llama2.c checkpoint: " + header + " needs " + std::to_string(expected) +
                                       " bytes, the file has " + std::to_string(size)};

  const auto* f = reinterpret_cast<const float*>(base + 28);
  auto view = [&](std::string name, int64_t offset, std::vector<int64_t> shape) {
    return TensorView{std::move(name), TensorType::f32, std::move(shape), f + offset};
  };
  ModelWeights w;
  ModelConfig& c = w.config;
  c.arch = Arch::llama;
  c.dim = dim;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.ffn_dim = hidden;
  c.vocab_size = static_cast<int>(vocab);
  c.context_length = seq_len;
  c.rope_theta = 10000.0f;
  c.rms_eps = 1e-5f;
  c.rope_neox = false;
  w.tok_embd = view("token_embd.weight", o_embd, {dim, vocab});
  w.output_norm = view("output_norm.weight", o_out_norm, {dim});
  if (!shared) w.output = view("output.weight", o_cls, {dim, vocab});
  w.layers.resize(static_cast<size_t>(n_layers));
  for (int64_t i = 0; i < L; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    l.attn_norm = view(p + "attn_norm.weight", o_att_norm + i * dim, {dim});
    l.wq = view(p + "attn_q.weight", o_wq + i * dim * dim, {dim, dim});
    l.wk = view(p + "attn_k.weight", o_wk + i * dim * kv, {dim, kv});
    l.wv = view(p + "attn_v.weight", o_wv + i * dim * kv, {dim, kv});
    l.wo = view(p + "attn_output.weight", o_wo + i * dim * dim, {dim, dim});
    l.ffn_norm = view(p + "ffn_norm.weight", o_ffn_norm + i * dim, {dim});
    l.w_gate = view(p + "ffn_gate.weight", o_w1 + i * dim * hidden, {dim, hidden});
    l.w_down = view(p + "ffn_down.weight", o_w2 + i * hidden * dim, {hidden, dim});
    l.w_up = view(p + "ffn_up.weight", o_w3 + i * dim * hidden, {dim, hidden});
  }
  w.storage = std::move(storage);
  w.source = path;
  return w;
}

}  // namespace troupe::engine::local
