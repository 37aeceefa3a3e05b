#include "engine/local/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/local/kv_cache.hpp"
#include "engine/local/quant.hpp"

namespace troupe::engine::local {
namespace {

std::string label(const TensorView& t, const std::string& role) { return t.name.empty() ? role : t.name; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "{";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "}";
}

bool supported(TensorType t) {
  switch (t) {
    case TensorType::f32:
    case TensorType::f16:
    case TensorType::bf16:
    case TensorType::q8_0:
    case TensorType::q4_0: return true;
  }
  return false;
}

Status check_tensor(const TensorView& t, const std::string& role, std::vector<int64_t> shape) {
  const std::string name = label(t, role);
  if (t.empty()) return Error{ErrorCode::invalid_argument, "tensor " + name + " is missing"};
  if (!supported(t.type))
    return Error{ErrorCode::unsupported, "tensor " + name + ": unsupported type " + std::to_string(static_cast<uint32_t>(t.type))};
  if (t.shape != shape)
    return Error{ErrorCode::invalid_argument,
                 "tensor " + name + ": shape " + shape_str(t.shape) + ", expected " + shape_str(shape)};
  if ((block_size(t.type) > 1) && shape[0] % block_size(t.type) != 0)
    return Error{ErrorCode::invalid_argument, "tensor " + name + ": rows of " + std::to_string(shape[0]) +
                                                  " elements are not whole blocks of 32"};
  return {};
}

}  // namespace

KvLayerView KvPool::view(int layer, std::span<const int32_t> block_table, int n_tokens) const {
  KvLayerView v;
  v.k = k[layer];
  v.v = this->v[layer];
  v.block_size = block_size;
  v.block_stride = block_stride;
  v.row_stride = row_stride;
  v.block_table = block_table.data();
  v.n_blocks = static_cast<int>(block_table.size());
  v.n_tokens = n_tokens;
  v.type = type;
  return v;
}

Result<std::unique_ptr<Transformer>> Transformer::create(ModelWeights w, std::shared_ptr<Kernels> kernels) {
  const ModelConfig& c = w.config;
  if (c.dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.ffn_dim <= 0 || c.vocab_size <= 0 ||
      c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0 || c.head_dim() % 2 != 0)
    return Error{ErrorCode::invalid_argument,
                 "model config: dim " + std::to_string(c.dim) + ", heads " + std::to_string(c.n_heads) + ", kv heads " +
                     std::to_string(c.n_kv_heads) + ", layers " + std::to_string(c.n_layers) +
                     " do not make a transformer (dim % heads, heads % kv heads, even head_dim)"};
  if (static_cast<int>(w.layers.size()) != c.n_layers)
    return Error{ErrorCode::invalid_argument, "model has " + std::to_string(w.layers.size()) + " layers, config says " +
                                                  std::to_string(c.n_layers)};
  const int64_t dim = c.dim, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim(), ffn = c.ffn_dim,
                vocab = c.vocab_size;
  if (auto s = check_tensor(w.tok_embd, "token_embd.weight", {dim, vocab}); !s) return s.error();
  if (auto s = check_tensor(w.output_norm, "output_norm.weight", {dim}); !s) return s.error();
  if (!w.output.empty())
    if (auto s = check_tensor(w.output, "output.weight", {dim, vocab}); !s) return s.error();
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    const std::pair<const TensorView*, std::pair<std::string, std::vector<int64_t>>> checks[] = {
        {&L.attn_norm, {p + "attn_norm.weight", {dim}}},   {&L.wq, {p + "attn_q.weight", {dim, dim}}},
        {&L.wk, {p + "attn_k.weight", {dim, kv}}},         {&L.wv, {p + "attn_v.weight", {dim, kv}}},
        {&L.wo, {p + "attn_output.weight", {dim, dim}}},   {&L.ffn_norm, {p + "ffn_norm.weight", {dim}}},
        {&L.w_gate, {p + "ffn_gate.weight", {dim, ffn}}}, {&L.w_up, {p + "ffn_up.weight", {dim, ffn}}},
        {&L.w_down, {p + "ffn_down.weight", {ffn, dim}}},
    };
    for (const auto& [t, role] : checks)
      if (auto s = check_tensor(*t, role.first, role.second); !s) return s.error();
    const std::pair<const TensorView*, std::pair<std::string, int64_t>> biases[] = {
        {&L.bq, {p + "attn_q.bias", dim}}, {&L.bk, {p + "attn_k.bias", kv}}, {&L.bv, {p + "attn_v.bias", kv}}};
    for (const auto& [t, role] : biases)
      if (!t->empty())
        if (auto s = check_tensor(*t, role.first, {role.second}); !s) return s.error();
  }

  std::unique_ptr<Transformer> tr(new Transformer(std::move(w), std::move(kernels)));
  for (const LayerWeights& L : tr->w_.layers) {
    LayerVectors v;
    v.attn_norm = tr->upload_vector(L.attn_norm);
    v.ffn_norm = tr->upload_vector(L.ffn_norm);
    v.bq = tr->upload_vector(L.bq);
    v.bk = tr->upload_vector(L.bk);
    v.bv = tr->upload_vector(L.bv);
    tr->layer_vec_.push_back(std::move(v));
  }
  tr->output_norm_ = tr->upload_vector(tr->w_.output_norm);
  if (auto s = tr->k_->upload_weights(tr->w_); !s) return s.error();
  return tr;
}

std::shared_ptr<float[]> Transformer::upload_vector(const TensorView& t) {
  if (t.empty()) return nullptr;
  const int64_t n = t.elements();
  std::vector<float> host(static_cast<size_t>(n));
  dequantize_row(t.type, t.data, host.data(), n);
  auto buf = k_->alloc(static_cast<size_t>(n));
  k_->from_host(host.data(), buf.get(), static_cast<size_t>(n));
  return buf;
}

void Transformer::reserve(int n_tokens, int n_rows) {
  const ModelConfig& c = w_.config;
  if (n_tokens > cap_tokens_) {
    const size_t t = static_cast<size_t>(n_tokens);
    x_ = k_->alloc(t * c.dim);
    xb_ = k_->alloc(t * c.dim);
    xb2_ = k_->alloc(t * c.dim);
    q_ = k_->alloc(t * c.dim);
    kk_ = k_->alloc(t * kv_dim());
    vv_ = k_->alloc(t * kv_dim());
    hb_ = k_->alloc(t * c.ffn_dim);
    hb2_ = k_->alloc(t * c.ffn_dim);
    cap_tokens_ = n_tokens;
  }
  if (n_rows > cap_rows_) {
    xr_ = k_->alloc(static_cast<size_t>(n_rows) * c.dim);
    logits_ = k_->alloc(static_cast<size_t>(n_rows) * c.vocab_size);
    cap_rows_ = n_rows;
  }
}

Result<Logits> Transformer::forward(std::span<const BatchEntry> batch) {
  const ModelConfig& c = w_.config;
  const int dim = c.dim, kvd = kv_dim(), hd = c.head_dim();

  // Validate and lay out the batch: token t of entry e is row row0[e] + t.
  std::vector<int32_t> ids, pos;
  std::vector<int> row0;
  Logits result;
  result.vocab = c.vocab_size;
  int n_rows = 0;
  for (size_t e = 0; e < batch.size(); ++e) {
    const BatchEntry& b = batch[e];
    const std::string where = "batch entry " + std::to_string(e);
    if (b.tokens.empty()) return Error{ErrorCode::invalid_argument, where + ": no tokens"};
    if (!b.kv || b.kv->block_size <= 0 || static_cast<int>(b.kv->k.size()) != c.n_layers ||
        static_cast<int>(b.kv->v.size()) != c.n_layers)
      return Error{ErrorCode::invalid_argument, where + ": no KV pool, or one without a K and V pointer per layer"};
    const int end = b.pos0 + static_cast<int>(b.tokens.size());
    if (b.pos0 < 0 || (c.context_length > 0 && end > c.context_length))
      return Error{ErrorCode::invalid_argument, where + ": positions " + std::to_string(b.pos0) + ".." +
                                                    std::to_string(end - 1) + " outside the context of " +
                                                    std::to_string(c.context_length)};
    const int64_t blocks_needed = (static_cast<int64_t>(end) + b.kv->block_size - 1) / b.kv->block_size;
    if (static_cast<int64_t>(b.block_table.size()) < blocks_needed)
      return Error{ErrorCode::invalid_argument, where + ": block table has " + std::to_string(b.block_table.size()) +
                                                    " blocks, positions up to " + std::to_string(end - 1) +
                                                    " need " + std::to_string(blocks_needed)};
    row0.push_back(static_cast<int>(ids.size()));
    for (size_t t = 0; t < b.tokens.size(); ++t) {
      if (b.tokens[t] < 0 || b.tokens[t] >= c.vocab_size)
        return Error{ErrorCode::invalid_argument, where + ": token " + std::to_string(b.tokens[t]) +
                                                      " outside the vocabulary of " + std::to_string(c.vocab_size)};
      ids.push_back(b.tokens[t]);
      pos.push_back(b.pos0 + static_cast<int>(t));
    }
    const int rows = !b.want_logits ? 0 : b.all_logits ? static_cast<int>(b.tokens.size()) : 1;
    result.first_row.push_back(n_rows);
    result.n_rows.push_back(rows);
    n_rows += rows;
  }
  if (ids.empty()) return result;
  Kernels& K = *k_;
  // A decode step (one token per entry, each entry's logits wanted) runs
  // with the backend's row count for it (Kernels::decode_rows): padding
  // rows repeat row 0 after the real rows and are dropped at the end.
  const int real_rows = static_cast<int>(ids.size());
  const bool decode = n_rows == real_rows && real_rows == static_cast<int>(batch.size());
  const int padded = decode ? std::max(real_rows, K.decode_rows(real_rows)) : real_rows;
  for (int i = real_rows; i < padded; ++i) {
    ids.push_back(ids[0]);
    pos.push_back(pos[0]);
  }
  const int T = padded;
  reserve(T, n_rows + (padded - real_rows));
  float *x = x_.get(), *xb = xb_.get(), *xb2 = xb2_.get(), *q = q_.get(), *kk = kk_.get(), *vv = vv_.get(),
        *hb = hb_.get(), *hb2 = hb2_.get();

  // The step's integer arrays, named once so a device backend uploads them
  // once for every op of every layer.
  Kernels::StepArrays arrays{ids, pos, {}};
  for (const BatchEntry& b : batch) arrays.block_tables.push_back(b.block_table);
  K.begin_step(arrays);
  K.get_rows(w_.tok_embd, ids.data(), T, x);
  const AttentionShape shape{c.n_heads, c.n_kv_heads, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  std::vector<AttentionSeq> seqs(batch.size());
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w_.layers[l];
    const LayerVectors& V = layer_vec_[l];
    // Attention block.
    K.rmsnorm(x, V.attn_norm.get(), T, dim, c.rms_eps, xb);
    const Kernels::MatmulOut qkv[] = {{&L.wq, V.bq.get(), q}, {&L.wk, V.bk.get(), kk}, {&L.wv, V.bv.get(), vv}};
    K.matmuls(qkv, xb, T);
    K.rope(q, T, c.n_heads, hd, pos.data(), c.rope_theta, c.rope_neox);
    K.rope(kk, T, c.n_kv_heads, hd, pos.data(), c.rope_theta, c.rope_neox);
    for (size_t e = 0; e < batch.size(); ++e) {
      const BatchEntry& b = batch[e];
      const int n = static_cast<int>(b.tokens.size());
      const KvLayerView view = b.kv->view(l, b.block_table, b.pos0 + n);
      K.write_kv(view, b.pos0, n, kvd, kk + static_cast<int64_t>(row0[e]) * kvd,
                 vv + static_cast<int64_t>(row0[e]) * kvd);
      seqs[e] = AttentionSeq{row0[e], n, b.pos0, view};
    }
    K.attention(q, shape, seqs, xb2);
    K.matmul(L.wo, nullptr, xb2, T, xb);
    K.add(x, xb, static_cast<size_t>(T) * dim);
    // Feed-forward block (SwiGLU).
    K.rmsnorm(x, V.ffn_norm.get(), T, dim, c.rms_eps, xb);
    const Kernels::MatmulOut gate_up[] = {{&L.w_gate, nullptr, hb}, {&L.w_up, nullptr, hb2}};
    K.matmuls(gate_up, xb, T);
    K.silu_mul(hb, hb2, static_cast<size_t>(T) * c.ffn_dim);
    K.matmul(L.w_down, nullptr, hb, T, xb);
    K.add(x, xb, static_cast<size_t>(T) * dim);
  }

  // Final norm of the rows whose logits are wanted, then the output projection.
  float* xr = xr_.get();
  for (size_t e = 0; e < batch.size(); ++e) {
    const int n = static_cast<int>(batch[e].tokens.size());
    const int first_token = batch[e].all_logits ? 0 : n - 1;
    for (int r = 0; r < result.n_rows[e]; ++r)
      K.rmsnorm(x + static_cast<int64_t>(row0[e] + first_token + r) * dim, output_norm_.get(), 1, dim, c.rms_eps,
                xr + static_cast<int64_t>(result.first_row[e] + r) * dim);
  }
  for (int i = real_rows; i < padded; ++i)  // padding rows: the same launches whatever the real rows
    K.rmsnorm(x + static_cast<int64_t>(i) * dim, output_norm_.get(), 1, dim, c.rms_eps,
              xr + static_cast<int64_t>(n_rows + i - real_rows) * dim);
  if (n_rows == 0) {
    K.synchronize();
    if (auto s = K.take_error(); !s) return s.error();
    return result;
  }
  const TensorView& out_w = w_.output.empty() ? w_.tok_embd : w_.output;
  K.matmul(out_w, nullptr, xr, n_rows + (padded - real_rows), logits_.get());
  result.values.resize(static_cast<size_t>(n_rows) * c.vocab_size);
  K.to_host(logits_.get(), result.values.data(), result.values.size());
  if (auto s = K.take_error(); !s) return s.error();
  return result;
}

ContiguousKvCache::ContiguousKvCache(const ModelConfig& c, Kernels& kernels, int n_seqs, int max_len, KvType type) {
  const int64_t kvd = static_cast<int64_t>(c.n_kv_heads) * c.head_dim();
  pool_.block_size = max_len;
  pool_.row_stride = kvd;
  pool_.block_stride = kvd * max_len;
  pool_.type = type;
  const size_t elements = static_cast<size_t>(n_seqs) * max_len * kvd;
  const size_t per_layer = (elements * kv_element_bytes(type) + sizeof(float) - 1) / sizeof(float);
  for (int l = 0; l < c.n_layers; ++l) {
    buffers_.push_back(kernels.alloc(per_layer));
    pool_.k.push_back(buffers_.back().get());
    buffers_.push_back(kernels.alloc(per_layer));
    pool_.v.push_back(buffers_.back().get());
  }
  for (int s = 0; s < n_seqs; ++s) tables_.push_back(s);
}

KvPool kv_pool_of(KvCache& cache) {
  const KvCacheConfig& c = cache.config();
  KvPool pool;
  pool.block_size = c.block_size;
  pool.row_stride = c.kv_dim;
  pool.block_stride = static_cast<int64_t>(c.block_size) * c.kv_dim;
  pool.type = c.type;
  for (int l = 0; l < c.n_layers; ++l) {
    pool.k.push_back(cache.k_base(l));
    pool.v.push_back(cache.v_base(l));
  }
  return pool;
}

}  // namespace troupe::engine::local
