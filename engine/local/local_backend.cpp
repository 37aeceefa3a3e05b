#include "engine/local/local_backend.hpp"

#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/local/chat_template.hpp"
#include "engine/local/gguf.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/model_loader.hpp"
#include "engine/local/tokenizer.hpp"
#include "engine/local/transformer.hpp"

namespace troupe::engine::local {
namespace {

// Runs the scheduler's steps through the transformer, reading and writing
// K/V rows in the paged cache's blocks.
class TransformerRunner : public ModelRunner {
 public:
  explicit TransformerRunner(std::unique_ptr<Transformer> t) : t_(std::move(t)) {}
  int vocab_size() const override { return t_->config().vocab_size; }
  int context_length() const override { return t_->config().context_length; }

  Status forward(std::span<const StepEntry> entries, KvCache& cache, std::vector<float>& logits) override {
    if (pool_.k.empty()) pool_ = kv_pool_of(cache);
    std::vector<BatchEntry> batch;
    batch.reserve(entries.size());
    for (const auto& e : entries) {
      BatchEntry b;
      b.tokens = e.tokens;
      b.pos0 = e.pos0;
      b.kv = &pool_;
      b.block_table = cache.block_table(e.seq);
      b.want_logits = e.want_logits;
      batch.push_back(b);
    }
    auto out = t_->forward(batch);
    if (!out.ok()) return out.error();
    logits.clear();
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!entries[i].want_logits) continue;
      auto row = out->last(static_cast<int>(i));
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return {};
  }

 private:
  std::unique_ptr<Transformer> t_;
  KvPool pool_;
};

class TokenizerCodec : public TextCodec {
 public:
  TokenizerCodec(Tokenizer tok, std::optional<ChatTemplate> tmpl, std::string template_error)
      : tok_(std::move(tok)), tmpl_(std::move(tmpl)), template_error_(std::move(template_error)) {}
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override {
    return tok_.encode(text, add_bos && tok_.bos() >= 0, true);
  }
  std::string piece(int32_t id) const override { return tok_.token_to_piece(id); }
  std::string prompt_text(int32_t id) const override {
    return tok_.is_control(id) ? tok_.token_text(id) : tok_.token_to_piece(id);
  }
  std::vector<int32_t> encode_continuation(const std::string& text) const override {
    return tok_.encode_continuation(text, true);
  }
  std::string chat_unavailable() const override { return tmpl_ ? std::string() : template_error_; }
  bool is_eos(int32_t id) const override { return tok_.is_end_of_generation(id); }
  Result<std::string> render_chat(const std::vector<engine::ChatMessage>& messages, bool continue_final) const override {
    if (!tmpl_) return Error{ErrorCode::unsupported, template_error_};
    std::vector<local::ChatMessage> msgs;
    for (const auto& m : messages) msgs.push_back({m.role, m.content});
    ChatRenderOptions o;
    o.add_generation_prompt = !continue_final;
    o.continue_final_message = continue_final;
    return tmpl_->render(msgs, o);
  }
  const ChatTemplate* chat_template() const override { return tmpl_ ? &*tmpl_ : nullptr; }

 private:
  Tokenizer tok_;
  std::optional<ChatTemplate> tmpl_;
  std::string template_error_;
};

}  // namespace

Result<std::unique_ptr<Scheduler>> make_local_backend(const LocalEngineOptions& o) {
  if (o.context_length < 0)
    return Error{ErrorCode::invalid_argument,
                 "context length " + std::to_string(o.context_length) + " must be positive (0 = the model's own)"};
  // The device first: asking for a GPU that is not there fails before a
  // large model file is read.
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto made = make_kernels(o.device, threads);
  if (!made.ok()) return made.error().with_context(o.model_path);
  std::shared_ptr<Kernels> kernels = std::move(made.value());
  auto weights = load_model(o.model_path);
  if (!weights.ok()) return weights.error();
  if (o.context_length > 0) {
    const int trained = weights->config.context_length;
    if (o.context_length > trained)
      spdlog::warn("{}: context length {} is above the {} tokens the model was trained with; positions past {} "
                   "may give poor output",
                   o.model_path, o.context_length, trained, trained);
    weights->config.context_length = o.context_length;
  }
  const ModelConfig cfg = weights->config;

  std::optional<Tokenizer> tok;
  std::string jinja;
  auto gguf = GgufFile::open(o.model_path);
  if (gguf.ok()) {
    auto t = Tokenizer::from_gguf(*gguf);
    if (!t.ok()) return t.error();  // names the file already
    jinja = t->chat_template();
    tok.emplace(std::move(t.value()));
  } else {
    if (o.tokenizer_path.empty())
      return Error{ErrorCode::invalid_argument,
                   o.model_path + ": a llama2.c checkpoint needs its tokenizer file (--tokenizer tok512.bin)"};
    auto t = Tokenizer::from_llama2c(o.tokenizer_path, cfg.vocab_size);
    if (!t.ok()) return t.error();
    tok.emplace(std::move(t.value()));
  }
  std::optional<ChatTemplate> tmpl;
  std::string template_error;
  auto resolved = ChatTemplate::resolve(jinja, o.chat_template);
  if (resolved.ok()) tmpl.emplace(std::move(resolved.value()));
  else template_error = o.model_path + ": " + resolved.error().message;

  auto transformer = Transformer::create(std::move(weights.value()), kernels);
  if (!transformer.ok()) return transformer.error();

  KvCacheConfig kc;
  kc.n_layers = cfg.n_layers;
  kc.kv_dim = cfg.n_kv_heads * cfg.head_dim();
  kc.block_size = o.block_size;
  kc.budget_bytes = o.kv_budget_bytes;
  kc.type = o.kv_type;
  auto kv = KvCache::create(kc, kernels);
  if (!kv.ok()) return kv.error();
  const int64_t kv_tokens = static_cast<int64_t>((*kv)->n_blocks()) * kc.block_size;
  if (kv_tokens < cfg.context_length)
    spdlog::warn("{}: the KV cache budget ({} MiB) holds {} tokens, fewer than the context length {}; a request "
                 "longer than that fails for lack of KV cache",
                 o.model_path, o.kv_budget_bytes >> 20, kv_tokens, cfg.context_length);

  SchedulerOptions so;
  so.max_step_tokens = o.max_step_tokens;
  so.max_running = o.max_running;
  so.model_name = o.model_name.empty() ? std::filesystem::path(o.model_path).stem().string() : o.model_name;
  auto runner = std::make_shared<TransformerRunner>(std::move(transformer.value()));
  auto codec = std::make_shared<TokenizerCodec>(std::move(*tok), std::move(tmpl), template_error);
  return std::make_unique<Scheduler>(runner, codec, std::move(kv.value()), so);
}

}  // namespace troupe::engine::local
