// Test-only readers for llama2.c files, so the forward-pass tests run on
// real weights without depending on the model loader:
// - load_llama2c_fixture(path): a legacy llama2.c checkpoint (7×int32
//   header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
//   (negative: untied output), seq_len; then float32 weights in llama2.c's
//   order) as ModelWeights with F32 TensorViews into an owned buffer.
// - Piece table of tok512.bin (int32 max_len; per token float score,
//   int32 len, bytes) and llama2.c's decode rule (a leading space is dropped
//   after BOS; "<0xHH>" pieces are raw bytes).
// - shared_dir(): TROUPE_SHARED_DIR, or "" when the folder is absent.
#pragma once

#include <cstdint>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/local/model.hpp"

namespace troupe::testing {

inline std::string shared_dir() {
#ifdef TROUPE_SHARED_DIR
  if (std::filesystem::exists(std::string(TROUPE_SHARED_DIR) + "/models/stories260K/stories260K.bin"))
    return TROUPE_SHARED_DIR;
#endif
  return "";
}

inline std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Empty ModelWeights (layers empty) when the file cannot be read or is short.
inline engine::local::ModelWeights load_llama2c_fixture(const std::string& path) {
  using namespace engine::local;
  ModelWeights w;
  const std::vector<char> bytes = read_bytes(path);
  if (bytes.size() < 28) return w;
  int32_t h[7];
  std::memcpy(h, bytes.data(), sizeof h);
  ModelConfig& c = w.config;
  c.arch = Arch::llama;
  c.dim = h[0];
  c.ffn_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  const bool shared = h[5] > 0;
  c.vocab_size = shared ? h[5] : -h[5];
  c.context_length = h[6];
  c.rope_theta = 10000.0f;
  c.rms_eps = 1e-5f;
  const int64_t dim = c.dim, ffn = c.ffn_dim, L = c.n_layers, hd = c.head_dim(), kv = c.n_kv_heads * hd,
                V = c.vocab_size, seq = c.context_length;
  auto buf = std::make_shared<std::vector<float>>((bytes.size() - 28) / 4);
  std::memcpy(buf->data(), bytes.data() + 28, buf->size() * 4);
  const float* p = buf->data();
  size_t used = 0;
  auto take = [&](int64_t n) {
    const float* at = p + used;
    used += static_cast<size_t>(n);
    return at;
  };
  auto view = [](std::string name, const float* data, std::vector<int64_t> shape) {
    return TensorView{std::move(name), TensorType::f32, std::move(shape), data};
  };
  const size_t needed = static_cast<size_t>(V * dim + L * dim * 2 + L * dim * dim * 2 + L * dim * kv * 2 +
                                            L * ffn * dim * 3 + dim + seq * hd + (shared ? 0 : V * dim));
  if (buf->size() < needed) return ModelWeights{};
  w.tok_embd = view("token_embd.weight", take(V * dim), {dim, V});
  w.layers.resize(static_cast<size_t>(L));
  auto per_layer = [&](auto member, const char* name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    for (int64_t l = 0; l < L; ++l)
      w.layers[l].*member = view("blk." + std::to_string(l) + "." + name, take(n), shape);
  };
  per_layer(&LayerWeights::attn_norm, "attn_norm.weight", {dim});
  per_layer(&LayerWeights::wq, "attn_q.weight", {dim, dim});
  per_layer(&LayerWeights::wk, "attn_k.weight", {dim, kv});
  per_layer(&LayerWeights::wv, "attn_v.weight", {dim, kv});
  per_layer(&LayerWeights::wo, "attn_output.weight", {dim, dim});
  per_layer(&LayerWeights::ffn_norm, "ffn_norm.weight", {dim});
  per_layer(&LayerWeights::w_gate, "ffn_gate.weight", {dim, ffn});
  per_layer(&LayerWeights::w_down, "ffn_down.weight", {ffn, dim});
  per_layer(&LayerWeights::w_up, "ffn_up.weight", {dim, ffn});
  w.output_norm = view("output_norm.weight", take(dim), {dim});
  take(seq * hd / 2);  // legacy freq_cis_real
  take(seq * hd / 2);  // legacy freq_cis_imag
  if (!shared) w.output = view("output.weight", take(V * dim), {dim, V});
  w.storage = buf;
  w.source = path;
  return w;
}

struct PieceTable {
  std::vector<std::string> pieces;
  bool ok() const { return !pieces.empty(); }

  static PieceTable load(const std::string& path, int vocab) {
    PieceTable t;
    std::ifstream in(path, std::ios::binary);
    int32_t max_len = 0;
    if (!in.read(reinterpret_cast<char*>(&max_len), 4)) return t;
    for (int i = 0; i < vocab; ++i) {
      float score;
      int32_t len;
      if (!in.read(reinterpret_cast<char*>(&score), 4) || !in.read(reinterpret_cast<char*>(&len), 4) || len < 0)
        return PieceTable{};
      std::string s(static_cast<size_t>(len), '\0');
      if (!in.read(s.data(), len)) return PieceTable{};
      t.pieces.push_back(std::move(s));
    }
    return t;
  }

  // llama2.c run.c decode() + safe_printf(): the text printed for `token`
  // following `prev`.
  std::string decode(int prev, int token) const {
    std::string piece = pieces[static_cast<size_t>(token)];
    if (prev == 1 && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    unsigned byte = 0;
    if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%02X>", &byte) == 1) piece = std::string(1, static_cast<char>(byte));
    if (piece.size() == 1) {
      const unsigned char ch = static_cast<unsigned char>(piece[0]);
      if (!(std::isprint(ch) || std::isspace(ch))) return "";
    }
    return piece;
  }
};

}  // namespace troupe::testing
