// GGUF -> ModelWeights (llama, qwen2) and the format dispatch of load_model.
#include "engine/local/model_loader.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "engine/local/quant.hpp"

namespace troupe::engine::local {

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "{";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "}";
}

// Keeps the file mapping alive plus any 1-D tensors converted to F32.
struct GgufStorage {
  std::shared_ptr<void> mapping;
  std::vector<std::vector<float>> owned;
};

class TensorBinder {
 public:
  TensorBinder(const GgufFile& file, GgufStorage& storage) : file_(file), storage_(storage) {}

  // The tensor `name` with exactly `shape`; `why` explains the expected
  // shape in terms of hyper-parameters. Absent + optional -> empty view.
  Result<TensorView> get(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                         bool required = true) {
    const GgufTensorInfo* t = file_.find_tensor(name);
    if (!t) {
      if (!required) return TensorView{};
      return Error{ErrorCode::parse, file_.path() + ": missing tensor " + name};
    }
    if (t->shape != shape)
      return Error{ErrorCode::parse, file_.path() + ": " + name + ": shape " + shape_string(t->shape) + " but " + why +
                                         " needs " + shape_string(shape)};
    TensorView v = t->view();
    if (shape.size() == 1 && v.type != TensorType::f32) {
      std::vector<float> f(static_cast<size_t>(shape[0]));
      dequantize_row(v.type, v.data, f.data(), shape[0]);
      storage_.owned.push_back(std::move(f));
      v.type = TensorType::f32;
      v.data = storage_.owned.back().data();
    }
    return v;
  }

 private:
  const GgufFile& file_;
  GgufStorage& storage_;
};

Result<int> hparam(const GgufFile& f, const std::string& key, int max, std::optional<int> fallback = std::nullopt) {
  Result<uint32_t> v = fallback && !f.has(key) ? Result<uint32_t>(static_cast<uint32_t>(*fallback)) : f.get_u32(key);
  if (!v) return v.error();
  if (*v == 0 || *v > static_cast<uint32_t>(max))
    return Error{ErrorCode::parse, f.path() + ": key " + key + ": " + std::to_string(*v) + " is out of range (1.." +
                                       std::to_string(max) + ")"};
  return static_cast<int>(*v);
}

}  // namespace

Result<Arch> parse_arch(const std::string& name) {
  if (name == "llama") return Arch::llama;
  if (name == "qwen2") return Arch::qwen2;
  return Error{ErrorCode::unsupported, "unsupported architecture '" + name + "' (supported: llama, qwen2)"};
}

Result<ModelWeights> load_gguf_model(const GgufFile& f) {
  auto arch_name = f.get_string("general.architecture");
  if (!arch_name) return arch_name.error();
  auto arch = parse_arch(*arch_name);
  if (!arch) return arch.error().with_context(f.path());
  const std::string a = *arch_name + ".";

  ModelWeights w;
  ModelConfig& c = w.config;
  c.arch = *arch;
  c.rope_neox = *arch == Arch::qwen2;
  auto dim = hparam(f, a + "embedding_length", 1 << 20);
  if (!dim) return dim.error();
  auto layers = hparam(f, a + "block_count", 1 << 14);
  if (!layers) return layers.error();
  auto ffn = hparam(f, a + "feed_forward_length", 1 << 22);
  if (!ffn) return ffn.error();
  auto ctx = hparam(f, a + "context_length", 1 << 30);
  if (!ctx) return ctx.error();
  auto heads = hparam(f, a + "attention.head_count", *dim);
  if (!heads) return heads.error();
  auto kv_heads = hparam(f, a + "attention.head_count_kv", *heads, *heads);
  if (!kv_heads) return kv_heads.error();
  auto eps = f.get_f32(a + "attention.layer_norm_rms_epsilon");
  if (!eps) return eps.error();
  auto theta = f.get_f32_or(a + "rope.freq_base", 10000.0f);
  if (!theta) return theta.error();
  c.dim = *dim;
  c.n_layers = *layers;
  c.ffn_dim = *ffn;
  c.context_length = *ctx;
  c.n_heads = *heads;
  c.n_kv_heads = *kv_heads;
  c.rms_eps = *eps;
  c.rope_theta = *theta;
  if (c.dim % c.n_heads != 0 || c.head_dim() % 2 != 0)
    return Error{ErrorCode::parse, f.path() + ": n_embd=" + std::to_string(c.dim) + " is not n_head=" +
                                       std::to_string(c.n_heads) + " times an even head_dim"};
  if (c.n_heads % c.n_kv_heads != 0)
    return Error{ErrorCode::parse, f.path() + ": n_head=" + std::to_string(c.n_heads) + " is not a multiple of n_head_kv=" +
                                       std::to_string(c.n_kv_heads)};
  if (!(c.rms_eps > 0.0f) || !(c.rope_theta > 0.0f))
    return Error{ErrorCode::parse, f.path() + ": rms epsilon and rope.freq_base must be positive"};
  if (f.has(a + "rope.dimension_count")) {
    auto rot = f.get_u32(a + "rope.dimension_count");
    if (!rot) return rot.error();
    if (static_cast<int>(*rot) != c.head_dim())
      return Error{ErrorCode::unsupported, f.path() + ": key " + a + "rope.dimension_count: " + std::to_string(*rot) +
                                               " (partial rotary) but head_dim is " + std::to_string(c.head_dim())};
  }
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) return Error{ErrorCode::parse, f.path() + ": missing tensor token_embd.weight"};
  if (embd->shape.size() != 2 || embd->shape[0] != c.dim || embd->shape[1] > (1 << 24))
    return Error{ErrorCode::parse, f.path() + ": token_embd.weight: shape " + shape_string(embd->shape) + " but n_embd=" +
                                       std::to_string(c.dim) + " needs {" + std::to_string(c.dim) + ",n_vocab}"};
  c.vocab_size = static_cast<int>(embd->shape[1]);

  auto storage = std::make_shared<GgufStorage>();
  storage->mapping = f.storage();
  TensorBinder bind(f, *storage);
  const int64_t d = c.dim, hd = c.head_dim(), kv = static_cast<int64_t>(c.n_kv_heads) * hd, ff = c.ffn_dim,
                nv = c.vocab_size;
  const std::string n_embd = "n_embd=" + std::to_string(d);
  const std::string n_vocab = "n_vocab=" + std::to_string(nv);
  const std::string kv_why = n_embd + ", n_head_kv=" + std::to_string(c.n_kv_heads) + ", head_dim=" + std::to_string(hd);
  const std::string ff_why = n_embd + ", n_ff=" + std::to_string(ff);


  TROUPE_TRY_ASSIGN(w.tok_embd, bind.get("token_embd.weight", {d, nv}, n_embd + ", " + n_vocab));
  TROUPE_TRY_ASSIGN(w.output_norm, bind.get("output_norm.weight", {d}, n_embd));
  TROUPE_TRY_ASSIGN(w.output, bind.get("output.weight", {d, nv}, n_embd + ", " + n_vocab, false));
  w.layers.resize(static_cast<size_t>(c.n_layers));
  const bool biases_required = c.arch == Arch::qwen2;
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    TROUPE_TRY_ASSIGN(l.attn_norm, bind.get(p + "attn_norm.weight", {d}, n_embd));
    TROUPE_TRY_ASSIGN(l.wq, bind.get(p + "attn_q.weight", {d, d}, n_embd));
    TROUPE_TRY_ASSIGN(l.wk, bind.get(p + "attn_k.weight", {d, kv}, kv_why));
    TROUPE_TRY_ASSIGN(l.wv, bind.get(p + "attn_v.weight", {d, kv}, kv_why));
    TROUPE_TRY_ASSIGN(l.wo, bind.get(p + "attn_output.weight", {d, d}, n_embd));
    TROUPE_TRY_ASSIGN(l.bq, bind.get(p + "attn_q.bias", {d}, n_embd, biases_required));
    TROUPE_TRY_ASSIGN(l.bk, bind.get(p + "attn_k.bias", {kv}, kv_why, biases_required));
    TROUPE_TRY_ASSIGN(l.bv, bind.get(p + "attn_v.bias", {kv}, kv_why, biases_required));
    TROUPE_TRY_ASSIGN(l.ffn_norm, bind.get(p + "ffn_norm.weight", {d}, n_embd));
    TROUPE_TRY_ASSIGN(l.w_gate, bind.get(p + "ffn_gate.weight", {d, ff}, ff_why));
    TROUPE_TRY_ASSIGN(l.w_up, bind.get(p + "ffn_up.weight", {d, ff}, ff_why));
    TROUPE_TRY_ASSIGN(l.w_down, bind.get(p + "ffn_down.weight", {ff, d}, ff_why));
  }
  w.storage = std::move(storage);
  w.source = f.path();
  return w;
}

Result<ModelWeights> load_model(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return Error{ErrorCode::io, path + ": " + std::strerror(errno)};
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, 4, fp);
  std::fclose(fp);
  if (n == 4 && std::memcmp(magic, "GGUF", 4) == 0) {
    auto file = GgufFile::open(path);
    if (!file) return file.error();
    return load_gguf_model(*file);
  }
  return load_llama2c(path);
}

}  // namespace troupe::engine::local
