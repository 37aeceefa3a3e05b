// `troupe mkmodel`: random weights, a synthetic SPM vocabulary, ChatML.
#include "engine/local/model_random.hpp"
#include "common/hash.hpp"

#include <cmath>
#include <set>
#include <vector>

#include "engine/local/gguf.hpp"
#include "engine/local/model_convert.hpp"
#include "engine/local/quant.hpp"

namespace troupe::engine::local {

const char* const kChatmlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

namespace {

constexpr int kSpecialTokens = 261;  // <unk> <s> </s>, 256 bytes, <|im_start|> <|im_end|>

// The seed of one tensor: FNV-1a of its name, mixed with the model's seed.
uint64_t seed_for(uint64_t seed, const std::string& name) { return hash::splitmix64(seed ^ hash::fnv1a64(name)); }

// n values ~ N(0, stddev): Box-Muller on splitmix64 uniforms.
void gaussian_fill(float* out, int64_t n, uint64_t state, float stddev) {
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(hash::splitmix64_next(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(hash::splitmix64_next(state) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(2.0 * M_PI * u2) * stddev);
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(2.0 * M_PI * u2) * stddev);
  }
}

}  // namespace

Status validate(const RandomModelOptions& o) {
  auto bad = [](const std::string& m) { return Error{ErrorCode::invalid_argument, m}; };
  if (o.dim <= 0 || o.n_layers <= 0 || o.n_heads <= 0 || o.n_kv_heads <= 0 || o.ffn_dim <= 0 || o.context_length <= 0)
    return bad("--dim, --layers, --heads, --kv-heads, --ffn and --context must be positive");
  if (o.dim % o.n_heads != 0)
    return bad("--heads " + std::to_string(o.n_heads) + " does not divide --dim " + std::to_string(o.dim));
  if ((o.dim / o.n_heads) % 2 != 0)
    return bad("head_dim = --dim / --heads = " + std::to_string(o.dim / o.n_heads) + " must be even (RoPE pairs)");
  if (o.n_heads % o.n_kv_heads != 0)
    return bad("--kv-heads " + std::to_string(o.n_kv_heads) + " does not divide --heads " + std::to_string(o.n_heads));
  if (o.vocab_size < kSpecialTokens)
    return bad("--vocab " + std::to_string(o.vocab_size) + " is below " + std::to_string(kSpecialTokens) +
               " (3 special + 256 byte + 2 ChatML tokens)");
  if (o.dim > (1 << 16) || o.ffn_dim > (1 << 18) || o.n_layers > 1024 || o.vocab_size > (1 << 22))
    return bad("model shape too large");
  return {};
}

SpmVocab synthetic_vocab(int vocab_size) {
  SpmVocab v;
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0.0f, TokenType::unknown);
  add("<s>", 0.0f, TokenType::control);
  add("</s>", 0.0f, TokenType::control);
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0.0f, TokenType::byte);
  add("<|im_start|>", 0.0f, TokenType::control);
  add("<|im_end|>", 0.0f, TokenType::control);

  // Normal pieces, most useful first; every piece of length > 1 is a shorter
  // piece already present plus one character, so SPM merges can reach it.
  const std::string space = "\xe2\x96\x81";
  const std::string lower = "etaoinshrdlcumwfgypbvkjxqz";
  std::vector<std::string> pieces = {space};
  for (char c : lower) pieces.push_back(space + c);
  for (char c : lower) pieces.push_back(std::string(1, c));
  for (char c : std::string("ETAOINSHRDLCUMWFGYPBVKJXQZ")) {
    pieces.push_back(space + c);
    pieces.push_back(std::string(1, c));
  }
  for (char c : std::string("0123456789.,!?'\";:-()")) pieces.push_back(std::string(1, c));
  std::vector<std::string> level;  // letter strings of the current length
  for (char c : lower) level.push_back(std::string(1, c));
  std::set<std::string> seen(pieces.begin(), pieces.end());
  const auto want = static_cast<size_t>(vocab_size - kSpecialTokens);
  while (pieces.size() < want) {
    std::vector<std::string> next;
    for (const auto& s : level)
      for (char c : lower) next.push_back(s + c);
    for (const auto& s : next) {
      if (pieces.size() >= want * 2) break;
      pieces.push_back(space + s);
      pieces.push_back(s);
    }
    level = std::move(next);
  }
  for (size_t i = 0; i < want; ++i) add(pieces[i], -static_cast<float>(i), TokenType::normal);
  return v;
}

Status write_random_model(const RandomModelOptions& o, const std::string& path) {
  if (auto st = validate(o); !st) return st;
  ModelConfig c;
  c.arch = o.arch;
  c.dim = o.dim;
  c.n_layers = o.n_layers;
  c.n_heads = o.n_heads;
  c.n_kv_heads = o.n_kv_heads;
  c.ffn_dim = o.ffn_dim;
  c.vocab_size = o.vocab_size;
  c.context_length = o.context_length;
  c.rope_theta = o.rope_theta;
  c.rms_eps = o.rms_eps;
  c.rope_neox = o.arch == Arch::qwen2;
  const bool tied = o.tied.value_or(o.arch == Arch::qwen2);

  GgufWriter out;
  GgufModelOptions go;
  go.arch = o.arch;
  go.type = o.type;
  go.name = "troupe-random";
  add_model_hparams(out, c, go);
  const SpmVocab vocab = synthetic_vocab(o.vocab_size);
  add_spm_vocab(out, vocab);
  out.set_u32("tokenizer.ggml.eot_token_id", 260);
  if (o.chat_template) out.set_string("tokenizer.chat_template", kChatmlTemplate);
  out.set_u64("troupe.random_seed", o.seed);

  // Weights: N(0, stddev) encoded as `type` (F16 fallback for rows that do not fill 32-blocks).
  auto weight = [&](const std::string& name, int64_t in, int64_t rows) {
    TensorType t = o.type;
    if (block_size(t) > 1 && in % block_size(t) != 0) t = TensorType::f16;
    const uint64_t s = seed_for(o.seed, name);
    const float sd = o.stddev;
    return out.add_tensor_lazy(name, t, {in, rows}, [in, rows, t, s, sd](uint8_t* bytes) {
      std::vector<float> f(static_cast<size_t>(in * rows));
      gaussian_fill(f.data(), in * rows, s, sd);
      for (int64_t r = 0; r < rows; ++r) quantize_row(t, f.data() + r * in, bytes + tensor_bytes(t, r * in), in);
    });
  };
  auto norm = [&](const std::string& name, int64_t n) {
    return out.add_tensor_f32(name, TensorType::f32, {n}, std::vector<float>(static_cast<size_t>(n), 1.0f));
  };
  auto bias = [&](const std::string& name, int64_t n) {
    std::vector<float> f(static_cast<size_t>(n));
    gaussian_fill(f.data(), n, seed_for(o.seed, name), o.stddev);
    return out.add_tensor_f32(name, TensorType::f32, {n}, f);
  };
  const int64_t d = o.dim, kv = static_cast<int64_t>(o.n_kv_heads) * (o.dim / o.n_heads), ff = o.ffn_dim,
                nv = o.vocab_size;
  TROUPE_TRY(weight("token_embd.weight", d, nv));
  TROUPE_TRY(norm("output_norm.weight", d));
  if (!tied) TROUPE_TRY(weight("output.weight", d, nv));
  for (int i = 0; i < o.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    TROUPE_TRY(norm(p + "attn_norm.weight", d));
    TROUPE_TRY(weight(p + "attn_q.weight", d, d));
    TROUPE_TRY(weight(p + "attn_k.weight", d, kv));
    TROUPE_TRY(weight(p + "attn_v.weight", d, kv));
    TROUPE_TRY(weight(p + "attn_output.weight", d, d));
    if (o.arch == Arch::qwen2) {
      TROUPE_TRY(bias(p + "attn_q.bias", d));
      TROUPE_TRY(bias(p + "attn_k.bias", kv));
      TROUPE_TRY(bias(p + "attn_v.bias", kv));
    }
    TROUPE_TRY(norm(p + "ffn_norm.weight", d));
    TROUPE_TRY(weight(p + "ffn_gate.weight", d, ff));
    TROUPE_TRY(weight(p + "ffn_up.weight", d, ff));
    TROUPE_TRY(weight(p + "ffn_down.weight", ff, d));
  }
  return out.write(path);
}

}  // namespace troupe::engine::local
