// The local engine's scheduler: continuous batching over a paged,
// prefix-sharing KV cache. It implements Backend for any model that can
// run a batched forward step (ModelRunner) and any text codec (TextCodec),
// so it is tested with a fake model and used with the real transformer.
//
// What callers may rely on (beyond Backend's contract):
// - n samples of one prompt prefill the prompt once: the prompt sequence is
//   forked n ways after its last prompt token, and every choice samples
//   from its own seeded stream (seed, choice index).
// - A prompt whose prefix is in the cache (an earlier request, a LeaP
//   continuation appending text) computes only the uncached tokens;
//   usage.cached_prompt_tokens says how many were reused.
// - Requests join and leave the running batch between steps. Prefill is
//   chunked (at most max_step_tokens tokens per step across all
//   sequences), so a long prompt does not stall running decodes.
// - When the cache is full, the most recently admitted request is
//   preempted (its blocks released, recomputed later from its prompt and
//   the tokens it already generated), so the oldest request always makes
//   progress and none starves; a request that cannot fit even alone fails
//   with a clear error.
// - cancel() takes effect at the next step boundary: blocks are freed at
//   once and the callback gets the text so far, marked cancelled.
// - A request's tokens do not depend on what else shares the batch (given a
//   batch-invariant ModelRunner).
// - A sequence (prompt + generated) holds at most model.context_length()
//   tokens: a choice that reaches it before max_tokens finishes with
//   FinishReason::length and a finish_detail naming the lengths (logged at
//   info); a prompt of context_length tokens or more is an invalid_argument
//   error naming both lengths.
// - Token-exact continuations: the scheduler remembers the token ids of
//   recent sequences (prompt + generated, up to kSequenceMemo of them) with
//   the text each stands for. A prompt whose text starts with such a
//   sequence's prompt text and goes on along its generated tokens (a LeaP
//   segment continuing the previous one, a SPOC turn after the model's
//   answer) reuses those ids up to the last whole token that matches and
//   tokenizes only the text after it, so prompt ids of turn k+1 = prompt
//   ids of turn k + its completion ids (+ the added text's tokens), with no
//   retokenization drift. GenerateResult::prompt_token_ids is the prompt as
//   run; token_info says which sequence it extended, or, for a
//   continue_final_message request that matched none, that it was
//   tokenized from text.
// - With logprobs asked, every generated token (Choice::token_ids) has one
//   entry in Choice::logprobs, the first (sampled from the prompt's
//   logits) included, and each is reported to GenerateRequest::on_logprobs before
//   the text it adds is reported to on_delta.
// All scheduling runs on one engine thread; submit/cancel only enqueue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.hpp"
#include "engine/local/kv_cache.hpp"

namespace troupe::engine::local {

class ChatTemplate;  // engine/local/chat_template.hpp
class VocabTrie;     // engine/local/token_constraint.hpp
struct SampledToken;

// One sequence's part of a forward step: `tokens` at positions pos0...;
// K/V rows for them are written into the sequence's cache blocks (already
// reserved); logits are returned for the last token when want_logits.
struct StepEntry {
  KvCache::SeqId seq = 0;
  std::span<const int32_t> tokens;
  int pos0 = 0;
  bool want_logits = false;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual int vocab_size() const = 0;
  virtual int context_length() const = 0;
  // Runs one step; `logits` receives vocab_size() floats per entry with
  // want_logits, in entry order. An error fails the requests in the step.
  virtual Status forward(std::span<const StepEntry> entries, KvCache& cache, std::vector<float>& logits) = 0;
};

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  // Special-token text in `text` is parsed as special tokens. add_bos is
  // true for raw prompts and false for rendered chat (whose template
  // writes its own BOS text).
  virtual std::vector<int32_t> encode(const std::string& text, bool add_bos) const = 0;
  // The bytes of one token (possibly part of a UTF-8 character).
  virtual std::string piece(int32_t id) const = 0;
  // The text a token stands for in a prompt: its piece, or for a special
  // token the text that encode() parses back into it ("<|im_end|>").
  virtual std::string prompt_text(int32_t id) const { return piece(id); }
  // Text that continues earlier tokens: like encode(text, false) but
  // without anything a tokenizer puts at the start of a text (SPM's
  // prefix space).
  virtual std::vector<int32_t> encode_continuation(const std::string& text) const { return encode(text, false); }
  virtual bool is_eos(int32_t id) const = 0;
  // Chat messages to prompt text (template applied). continue_final: the
  // last assistant message stays open.
  virtual Result<std::string> render_chat(const std::vector<engine::ChatMessage>& messages, bool continue_final) const = 0;
  // The chat template, for tool-aware rendering and tool-call parsing
  // (engine/local/tool_calls.hpp); null when there is none.
  virtual const ChatTemplate* chat_template() const { return nullptr; }
  // Why render_chat() fails for every request (no usable chat template),
  // or empty when chat works.
  virtual std::string chat_unavailable() const { return {}; }
};

inline constexpr size_t kSequenceMemo = 64;

struct SchedulerOptions {
  int max_step_tokens = 256;  // prefill chunk budget per step (decodes count 1 each)
  int max_running = 64;       // sequences (choices) in the running batch
  std::string model_name = "local";
};

struct SchedulerStats {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t computed_prompt_tokens = 0;  // prompt tokens actually run through the model
  int64_t generated_tokens = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  int last_batch_size = 0;
  int queue_depth = 0;
  int kv_blocks_in_use = 0;
  int kv_blocks_total = 0;
};

// Where a request is in its life: waiting (submitted, not yet tokenized),
// prefilling (admitted: its prompt is being computed into one sequence),
// decoding (the prompt sequence forked into one per choice), preempted
// (its blocks released; it waits to be admitted again and recomputes),
// finished (its callback has run or is running).
enum class RequestState { waiting, prefilling, decoding, preempted, finished };

class Scheduler : public Backend {
 public:
  Scheduler(std::shared_ptr<ModelRunner> model, std::shared_ptr<TextCodec> codec, std::unique_ptr<KvCache> cache,
            SchedulerOptions options);
  ~Scheduler() override;

  void submit(GenerateRequest request, GenerateCallback done) override;
  void cancel(const std::string& request_id) override;
  BackendInfo info() const override;
  SchedulerStats stats() const;
  // Tokens per sequence, prompt included (the model's context length).
  int context_length() const;
  // Why chat requests cannot be served (TextCodec::chat_unavailable), or empty.
  std::string chat_unavailable() const;

 private:
  struct Request;
  struct Choice;
  struct Planned;
  void loop();
  bool admit(Request& r);
  // One engine step in three parts: plan (decide and reserve; data only),
  // execute (the forward pass), update (append, sample, finish).
  void step();
  std::vector<Planned> plan_step();
  Status execute(const std::vector<Planned>& plan, std::vector<float>& logits);
  void update(std::vector<Planned>& plan, const std::vector<float>& logits);
  void finish_choice(Request& r, Choice& c, FinishReason why, const std::string& stop = "");
  void check_token(Request& r, Choice& c);
  // Prompt ids for `text` (see "Token-exact continuations" above).
  std::vector<int32_t> tokenize_prompt(Request& r, const std::string& text);
  void remember_sequences(const Request& r);
  void record_logprob(Request& r, Choice& c, const SampledToken& t);
  void maybe_complete(std::shared_ptr<Request> r);
  void preempt_one();
  void publish_cache_stats();
  void drop_request(const std::shared_ptr<Request>& r, FinishReason why, const std::string& error);
  void retire(Request& r);
  GenerateResult result_of(Request& r);

  std::shared_ptr<ModelRunner> model_;
  std::shared_ptr<TextCodec> codec_;
  std::unique_ptr<KvCache> cache_;
  SchedulerOptions opt_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> incoming_;
  std::vector<std::string> cancels_;
  bool stopping_ = false;
  SchedulerStats stats_;

  // Engine-thread state.
  std::shared_ptr<const VocabTrie> vocab_trie_;  // built at the first constrained request
  std::deque<std::shared_ptr<Request>> waiting_;
  struct RememberedSequence {
    PromptKind kind = PromptKind::chat;
    std::string request_id;
    std::string prompt_text;       // the text that gave the prompt ids
    std::vector<int32_t> ids;      // prompt, then generated
    size_t prompt_len = 0;         // how many of `ids` are the prompt
  };
  std::deque<RememberedSequence> memo_;
  std::vector<std::shared_ptr<Request>> running_;  // admission order
  std::thread thread_;
};

}  // namespace troupe::engine::local
