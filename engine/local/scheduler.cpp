#include "engine/local/scheduler.hpp"
#include "common/hash.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "engine/local/sampler.hpp"
#include "engine/local/stop_matcher.hpp"
#include "engine/local/structured_output.hpp"

namespace troupe::engine::local {

struct Scheduler::Choice {
  int index = 0;
  KvCache::SeqId seq = 0;
  std::vector<int32_t> generated;  // sampled tokens; the last one is not in the KV cache yet
  std::string text;                // released text
  std::string utf8_hold;           // bytes of an incomplete UTF-8 character
  std::unique_ptr<StopMatcher> stop;
  SequenceRng rng;
  bool done = false;
  FinishReason finish = FinishReason::stop;
  std::string stop_string;
  std::string finish_detail;
  std::vector<TokenLogprob> logprobs;
  // After a preemption: tokens to put back into the cache before decoding.
  std::vector<int32_t> replay;
  size_t replayed = 0;
  std::unique_ptr<TokenConstraint> constraint;  // structured output / forced tool call
};

struct Scheduler::Request {
  RequestState state = RequestState::waiting;
  GenerateRequest req;
  GenerateCallback done;
  Stopwatch clock;
  std::vector<int32_t> prompt;
  std::string prompt_text;  // the text `prompt` was made from
  std::string token_info;   // GenerateResult::token_info
  int cached = 0;       // prompt tokens found in the cache at first admission
  KvCache::SeqId prompt_seq = 0;  // prefilling: the prompt's sequence
  size_t prefilled = 0;  // prompt tokens in the cache (prefilling)
  std::vector<Choice> choices;
  SamplerParams sampler;
  // Whether the choices own their sequences (the prompt phase is over).
  bool forked() const { return state == RequestState::decoding; }
  StructuredPlan structured;  // grammar and tool-call parsing for this request
};

namespace {

size_t complete_utf8_prefix(const std::string& s) {
  // Length of the longest prefix that does not end inside a UTF-8 sequence.
  size_t n = s.size();
  size_t i = n;
  int back = 0;
  while (i > 0 && back < 4) {
    unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {
      size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
      return (n - (i - 1) >= need) ? n : i - 1;
    }
    --i;
    ++back;
  }
  return n;
}


}  // namespace

Scheduler::Scheduler(std::shared_ptr<ModelRunner> model, std::shared_ptr<TextCodec> codec,
                     std::unique_ptr<KvCache> cache, SchedulerOptions options)
    : model_(std::move(model)), codec_(std::move(codec)), cache_(std::move(cache)), opt_(std::move(options)) {
  stats_.kv_blocks_total = cache_->n_blocks();
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

BackendInfo Scheduler::info() const { return {"local", opt_.model_name, "in-process"}; }

int Scheduler::context_length() const { return model_->context_length(); }

std::string Scheduler::chat_unavailable() const { return codec_->chat_unavailable(); }

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Scheduler::submit(GenerateRequest request, GenerateCallback done) {
  if (request.id.empty()) request.id = new_id("req");
  if (request.sampling.n < 1) {
    done(Error{ErrorCode::invalid_argument, "request " + request.id + ": n must be >= 1"});
    return;
  }
  if (request.sampling.max_tokens < 1) {
    done(Error{ErrorCode::invalid_argument, "request " + request.id + ": max_tokens must be >= 1"});
    return;
  }
  auto r = std::make_shared<Request>();
  r->req = std::move(request);
  r->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    incoming_.push_back(std::move(r));
    stats_.requests += 1;
  }
  cv_.notify_all();
}

void Scheduler::cancel(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancels_.push_back(request_id);
  }
  cv_.notify_all();
}

void Scheduler::loop() {
  for (;;) {
    std::vector<std::string> cancels;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || !incoming_.empty() || !cancels_.empty() || !running_.empty() || !waiting_.empty();
      });
      while (!incoming_.empty()) {
        waiting_.push_back(std::move(incoming_.front()));
        incoming_.pop_front();
      }
      cancels.swap(cancels_);
      stopping = stopping_;
    }
    if (stopping) {
      for (auto& r : std::vector<std::shared_ptr<Request>>(running_.begin(), running_.end()))
        drop_request(r, FinishReason::cancelled, "engine shutting down");
      for (auto& r : std::vector<std::shared_ptr<Request>>(waiting_.begin(), waiting_.end()))
        drop_request(r, FinishReason::cancelled, "engine shutting down");
      return;
    }
    for (const auto& id : cancels) {
      std::shared_ptr<Request> hit;
      for (auto& r : running_)
        if (r->req.id == id) hit = r;
      for (auto& r : waiting_)
        if (r->req.id == id) hit = r;
      if (hit) drop_request(hit, FinishReason::cancelled, "request " + id + " cancelled");
    }
    // Admit waiting requests in arrival order while there is room.
    while (!waiting_.empty()) {
      int running_choices = 0;
      for (auto& r : running_) running_choices += static_cast<int>(r->choices.size());
      auto r = waiting_.front();
      int n = r->req.sampling.n;
      if (!running_.empty() && running_choices + n > opt_.max_running) break;
      waiting_.pop_front();
      if (admit(*r)) running_.push_back(r);
    }
    if (!running_.empty()) step();
    publish_cache_stats();
  }
}

bool Scheduler::admit(Request& r) {
  if (r.state == RequestState::waiting) {
    std::string text;
    auto plan = plan_structured(r.req, codec_->chat_template());
    if (!plan.ok()) {
      auto done = std::move(r.done);
      r.state = RequestState::finished;
      done(plan.error().with_context("request " + r.req.id));
      return false;
    }
    r.structured = std::move(plan.value());
    if (r.req.kind == PromptKind::chat) {
      auto rendered = r.structured.rendered ? Result<std::string>(*r.structured.rendered)
                                            : codec_->render_chat(r.req.messages, r.req.continue_final_message);
      if (!rendered.ok()) {
        auto done = std::move(r.done);
        r.state = RequestState::finished;
        done(rendered.error().with_context("request " + r.req.id));
        return false;
      }
      text = *rendered;
    } else {
      text = r.req.prompt;
    }
    r.prompt = tokenize_prompt(r, text);
    if (r.prompt.empty()) r.prompt = codec_->encode(" ", true);
    if (static_cast<int>(r.prompt.size()) >= model_->context_length()) {
      r.state = RequestState::finished;
      auto done = std::move(r.done);
      done(Error{ErrorCode::invalid_argument,
                 "request " + r.req.id + ": the prompt has " + std::to_string(r.prompt.size()) +
                     " tokens but the model's context holds " + std::to_string(model_->context_length()) +
                     " (prompt + generated); no room is left to generate. Shorten the prompt or raise the "
                     "context (--context N, or `context:` in a local backend section)"});
      return false;
    }
    const SamplingParams& s = r.req.sampling;
    r.sampler.temperature = s.temperature.value_or(1.0);
    r.sampler.top_p = s.top_p.value_or(1.0);
    r.sampler.top_k = s.top_k;
    r.sampler.min_p = s.min_p;
    r.sampler.repetition_penalty = s.repetition_penalty;
    r.sampler.frequency_penalty = s.frequency_penalty;
    r.sampler.presence_penalty = s.presence_penalty;
    r.sampler.logprobs = s.logprobs;
    // Token-exact records want the sampled tokens' logprobs (chosen only).
    if (s.logprobs == 0 && r.req.return_token_ids) r.sampler.logprobs = -1;
    uint64_t seed = s.seed ? static_cast<uint64_t>(*s.seed) : hash::fnv1a64(r.req.id);
    for (int i = 0; i < s.n; ++i) {
      Choice c;
      c.index = i;
      c.stop = std::make_unique<StopMatcher>(s.stop);
      c.rng = SequenceRng(seed, static_cast<uint64_t>(i));
      if (r.structured.grammar) {
        if (!vocab_trie_) vocab_trie_ = build_vocab_trie(*codec_, model_->vocab_size());
        c.constraint = std::make_unique<TokenConstraint>(r.structured.grammar, vocab_trie_);
      }
      r.choices.push_back(std::move(c));
    }
  }
  // First admission, or a resume after preemption: the prompt phase runs
  // (again); choices that already generated tokens replay them after the
  // fork instead of sampling, so their shared prompt is computed once.
  const bool resumed = r.state == RequestState::preempted;
  auto opened = cache_->open(r.prompt);
  r.prompt_seq = opened.seq;
  r.prefilled = static_cast<size_t>(opened.cached_tokens);
  r.state = RequestState::prefilling;
  if (!resumed) {
    r.cached = opened.cached_tokens;
    std::lock_guard<std::mutex> lock(mu_);
    stats_.prompt_tokens += static_cast<int64_t>(r.prompt.size());
    stats_.cached_prompt_tokens += opened.cached_tokens;
  }
  return true;
}

void Scheduler::preempt_one() {
  auto victim = running_.back();
  running_.pop_back();
  if (!victim->forked() && victim->prompt_seq) cache_->release(victim->prompt_seq);
  victim->prompt_seq = 0;
  victim->state = RequestState::preempted;
  victim->prefilled = 0;
  for (auto& c : victim->choices) {
    if (c.seq) cache_->release(c.seq);
    c.seq = 0;
    c.replay.clear();
    c.replayed = 0;
  }
  waiting_.push_front(victim);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.preemptions += 1;
}

// One sequence's part of a step: what plan_step() decided, what execute()
// runs and what update() applies.
struct Scheduler::Planned {
  std::shared_ptr<Request> r;
  int choice = -1;  // -1: the prompt phase
  std::vector<int32_t> tokens;
  StepEntry entry;
};

void Scheduler::step() {
  std::vector<Planned> plan = plan_step();
  if (plan.empty()) return;
  std::vector<float> logits;
  Status ran = execute(plan, logits);
  if (!ran.ok()) {
    std::vector<std::shared_ptr<Request>> failed;
    for (auto& p : plan)
      if (std::find(failed.begin(), failed.end(), p.r) == failed.end()) failed.push_back(p.r);
    for (auto& r : failed) drop_request(r, FinishReason::error, "request " + r->req.id + ": " + ran.error().describe());
    return;
  }
  update(plan, logits);
}

// Plan: which sequences run this step and with which tokens (decodes
// first, one token per unfinished choice, then prefill and replay chunks
// within max_step_tokens). Reserves their cache room, preempting the
// newest requests when the cache is full. Changes no request but by
// preemption.
std::vector<Scheduler::Planned> Scheduler::plan_step() {
  std::vector<Planned> plan;
  int budget = opt_.max_step_tokens;

  // Reserves cache room for `n` tokens of `seq`, preempting later requests
  // when the cache is full. False: `owner` itself must wait (it was
  // preempted) or failed.
  auto reserve = [&](const std::shared_ptr<Request>& owner, KvCache::SeqId seq, int n) -> bool {
    while (!cache_->reserve(seq, n)) {
      if (running_.back() != owner) {
        auto victim = running_.back();
        plan.erase(std::remove_if(plan.begin(), plan.end(), [&](const Planned& p) { return p.r == victim; }), plan.end());
        preempt_one();
        continue;
      }
      if (running_.size() > 1) {
        // The owner is the newest: it waits for the others to finish.
        plan.erase(std::remove_if(plan.begin(), plan.end(), [&](const Planned& p) { return p.r == owner; }), plan.end());
        preempt_one();
        return false;
      }
      drop_request(owner, FinishReason::error,
                   "request " + owner->req.id + " needs more KV cache than the configured budget holds (" +
                       std::to_string(cache_->n_blocks()) + " blocks of " +
                       std::to_string(cache_->config().block_size) + " tokens; " +
                       std::to_string(cache_->free_blocks()) + " free while it holds " +
                       std::to_string(cache_->length(seq)) + " tokens in this sequence)");
      return false;
    }
    return true;
  };

  for (size_t ri = 0; ri < running_.size(); ++ri) {
    auto r = running_[ri];
    if (!r->forked()) continue;
    bool alive = true;
    for (auto& c : r->choices) {
      if (c.done || c.replayed < c.replay.size()) continue;
      Planned p;
      p.r = r;
      p.choice = c.index;
      p.tokens = {c.generated.back()};
      if (!reserve(r, c.seq, 1)) {
        alive = false;
        break;
      }
      p.entry = {c.seq, {}, cache_->length(c.seq), true};
      plan.push_back(std::move(p));
    }
    if (!alive) --ri;  // running_ shrank at or after ri; re-check the same slot
  }
  for (size_t ri = 0; ri < running_.size() && budget > 0; ++ri) {
    auto r = running_[ri];
    if (!r->forked()) {
      size_t k = std::min<size_t>(static_cast<size_t>(budget), r->prompt.size() - r->prefilled);
      if (k == 0) continue;
      if (!reserve(r, r->prompt_seq, static_cast<int>(k))) break;
      Planned p;
      p.r = r;
      p.tokens.assign(r->prompt.begin() + static_cast<std::ptrdiff_t>(r->prefilled),
                      r->prompt.begin() + static_cast<std::ptrdiff_t>(r->prefilled + k));
      p.entry = {r->prompt_seq, {}, static_cast<int>(r->prefilled), r->prefilled + k == r->prompt.size()};
      budget -= static_cast<int>(k);
      plan.push_back(std::move(p));
      continue;
    }
    bool alive = true;
    for (auto& c : r->choices) {
      if (c.done || c.replayed >= c.replay.size() || budget <= 0) continue;
      size_t k = std::min<size_t>(static_cast<size_t>(budget), c.replay.size() - c.replayed);
      if (!reserve(r, c.seq, static_cast<int>(k))) {
        alive = false;
        break;
      }
      Planned p;
      p.r = r;
      p.choice = c.index;
      p.tokens.assign(c.replay.begin() + static_cast<std::ptrdiff_t>(c.replayed),
                      c.replay.begin() + static_cast<std::ptrdiff_t>(c.replayed + k));
      p.entry = {c.seq, {}, cache_->length(c.seq), false};
      budget -= static_cast<int>(k);
      plan.push_back(std::move(p));
    }
    if (!alive) break;
  }
  for (auto& p : plan) p.entry.tokens = p.tokens;
  return plan;
}

// Execute: one forward pass over the planned entries; `logits` gets a row
// per entry that wants them, in plan order.
Status Scheduler::execute(const std::vector<Planned>& plan, std::vector<float>& logits) {
  std::vector<StepEntry> entries;
  entries.reserve(plan.size());
  for (const auto& p : plan) entries.push_back(p.entry);
  return model_->forward(entries, *cache_, logits);
}

// Update: records the computed rows in the cache, forks finished prompts,
// samples the next token of each decoding choice, checks stop conditions
// and completes requests whose choices are all done.
void Scheduler::update(std::vector<Planned>& plan, const std::vector<float>& logits) {
  const size_t vocab = static_cast<size_t>(model_->vocab_size());
  int computed_prompt = 0;
  size_t li = 0;
  for (auto& p : plan) {
    cache_->append(p.entry.seq, p.tokens);
    Request& r = *p.r;
    const float* row = nullptr;
    if (p.entry.want_logits) row = logits.data() + vocab * li++;
    if (p.choice < 0) {
      r.prefilled += p.tokens.size();
      computed_prompt += static_cast<int>(p.tokens.size());
      if (!row) continue;
      // The prompt is in the cache: fork one sequence per unfinished choice
      // and sample each one's first token from the shared logits (a resumed
      // choice replays the tokens it had instead).
      bool owned = false;
      for (auto& c : r.choices) {
        if (c.done) continue;
        c.seq = owned ? cache_->fork(r.prompt_seq) : r.prompt_seq;
        owned = true;
        if (!c.generated.empty()) {
          c.replay.assign(c.generated.begin(), c.generated.end() - 1);
          c.replayed = 0;
        }
      }
      r.state = RequestState::decoding;
      for (auto& c : r.choices) {
        if (c.done || !c.generated.empty()) continue;
        auto t = sample_constrained({row, vocab}, r.sampler, r.prompt, c.rng, c.constraint.get());
        c.generated.push_back(t.id);
        record_logprob(r, c, t);
        finish_choice(r, c, FinishReason::stop, "");  // checks stop conditions for the new token
      }
    } else {
      Choice& c = r.choices[static_cast<size_t>(p.choice)];
      if (c.replayed < c.replay.size()) {
        c.replayed += p.tokens.size();
        continue;
      }
      std::vector<int32_t> history = r.prompt;
      history.insert(history.end(), c.generated.begin(), c.generated.end());
      auto t = sample_constrained({row, vocab}, r.sampler, history, c.rng, c.constraint.get());
      c.generated.push_back(t.id);
      record_logprob(r, c, t);
      finish_choice(r, c, FinishReason::stop, "");
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.steps += 1;
    stats_.last_batch_size = static_cast<int>(plan.size());
    stats_.computed_prompt_tokens += computed_prompt;
  }
  // Complete requests whose choices are all done.
  std::vector<std::shared_ptr<Request>> done;
  for (auto& r : running_)
    if (std::all_of(r->choices.begin(), r->choices.end(), [](const Choice& c) { return c.done; })) done.push_back(r);
  for (auto& r : done) maybe_complete(r);
}

// Records the logprobs of a sampled token when the request asked for them
// (every sampled token, the first one from the prompt's logits included;
// not an end-of-generation token, which is not part of the output either)
// and reports them to on_logprobs.
void Scheduler::record_logprob(Request& r, Choice& c, const SampledToken& t) {
  if (r.sampler.logprobs == 0 || codec_->is_eos(t.id)) return;
  TokenLogprob lp;
  lp.token = codec_->piece(t.id);
  lp.logprob = t.logprob;
  for (auto [id, l] : t.top) lp.top.push_back({codec_->piece(id), l});
  if (r.req.on_logprobs) r.req.on_logprobs(c.index, lp);
  c.logprobs.push_back(std::move(lp));
}

// Handles the newest sampled token of `c`: detokenises, matches stop
// strings, checks EOS, max_tokens and the context length.
void Scheduler::finish_choice(Request& r, Choice& c, FinishReason, const std::string&) {
  if (c.done) return;
  check_token(r, c);
  if (c.done && c.seq) {
    // A finished choice gives its blocks back at once.
    cache_->release(c.seq);
    c.seq = 0;
  }
}

void Scheduler::check_token(Request& r, Choice& c) {
  int32_t tok = c.generated.back();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.generated_tokens += 1;
  }
  auto emit = [&](const std::string& s) {
    if (s.empty()) return;
    c.text += s;
    if (r.req.on_delta) r.req.on_delta(c.index, s);
  };
  if (codec_->is_eos(tok)) {
    c.generated.pop_back();
    emit(c.stop->flush() + c.utf8_hold);
    c.utf8_hold.clear();
    c.done = true;
    c.finish = FinishReason::stop;
    return;
  }
  c.utf8_hold += codec_->piece(tok);
  size_t ok = complete_utf8_prefix(c.utf8_hold);
  auto step = c.stop->push(c.utf8_hold.substr(0, ok));
  c.utf8_hold.erase(0, ok);
  emit(step.release);
  if (step.stopped) {
    c.done = true;
    c.finish = FinishReason::stop;
    c.stop_string = *step.stopped;
    return;
  }
  if (c.constraint && c.constraint->finished()) {  // the document is complete
    emit(c.stop->flush() + c.utf8_hold);
    c.utf8_hold.clear();
    c.done = true;
    c.finish = FinishReason::stop;
    return;
  }
  // The sequence is prompt + generated; the newest token is not in the
  // cache yet. It may hold at most context_length tokens.
  const int in_cache = c.seq ? cache_->length(c.seq) : 0;
  const int context = model_->context_length();
  const bool max_tokens_reached = static_cast<int>(c.generated.size()) >= r.req.sampling.max_tokens;
  if (max_tokens_reached || in_cache + 1 >= context) {
    emit(c.stop->flush() + c.utf8_hold);
    c.utf8_hold.clear();
    c.done = true;
    c.finish = FinishReason::length;
    if (!max_tokens_reached) {
      c.finish_detail = "the model's context of " + std::to_string(context) + " tokens is full (" +
                        std::to_string(r.prompt.size()) + " prompt + " + std::to_string(c.generated.size()) +
                        " generated) before max_tokens " + std::to_string(r.req.sampling.max_tokens) +
                        "; raise the context (--context N, or `context:` in a local backend section)";
      spdlog::info("request {}: choice {} stopped at the context length: {}", r.req.id, c.index, c.finish_detail);
    }
  }
}

// Releases everything a request holds and removes it from the queues.
void Scheduler::retire(Request& r) {
  const bool forked = r.forked();
  r.state = RequestState::finished;
  for (auto& c : r.choices)
    if (c.seq) {
      cache_->release(c.seq);
      c.seq = 0;
    }
  if (!forked && r.prompt_seq) cache_->release(r.prompt_seq);
  r.prompt_seq = 0;
  auto same = [&r](const std::shared_ptr<Request>& x) { return x.get() == &r; };
  running_.erase(std::remove_if(running_.begin(), running_.end(), same), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), same), waiting_.end());
  publish_cache_stats();
}

std::vector<int32_t> Scheduler::tokenize_prompt(Request& r, const std::string& text) {
  r.prompt_text = text;
  // The remembered sequence that covers the longest head of `text`: its
  // whole prompt text, then as many of its generated tokens as match.
  const RememberedSequence* best = nullptr;
  size_t best_tokens = 0, best_chars = 0;
  for (auto it = memo_.rbegin(); it != memo_.rend(); ++it) {
    const RememberedSequence& m = *it;
    if (m.kind != r.req.kind || m.prompt_text.size() > text.size() ||
        text.compare(0, m.prompt_text.size(), m.prompt_text) != 0)
      continue;
    size_t chars = m.prompt_text.size(), tokens = m.prompt_len;
    while (tokens < m.ids.size()) {
      std::string piece = codec_->prompt_text(m.ids[tokens]);
      if (piece.empty() || text.compare(chars, piece.size(), piece) != 0) break;
      chars += piece.size();
      ++tokens;
    }
    if (tokens > m.prompt_len && chars > best_chars) {
      best = &m;
      best_tokens = tokens;
      best_chars = chars;
    }
  }
  if (!best) {
    if (r.req.continue_final_message)
      r.token_info = "prompt_token_ids: tokenized from the text (no earlier sequence of this engine matched it)";
    // A rendered chat template carries its own BOS text; a raw prompt gets one.
    return codec_->encode(text, r.req.kind == PromptKind::text);
  }
  std::vector<int32_t> ids(best->ids.begin(), best->ids.begin() + static_cast<std::ptrdiff_t>(best_tokens));
  auto rest = codec_->encode_continuation(text.substr(best_chars));
  ids.insert(ids.end(), rest.begin(), rest.end());
  r.token_info = "prompt_token_ids: " + std::to_string(best_tokens) + " tokens continue request " +
                 best->request_id + " (" + std::to_string(best->prompt_len) + " prompt + " +
                 std::to_string(best_tokens - best->prompt_len) + " generated), " + std::to_string(rest.size()) +
                 " tokenized from the text after them";
  return ids;
}

// Remembers each choice's sequence (prompt + generated) for
// tokenize_prompt(); the oldest go first past kSequenceMemo.
void Scheduler::remember_sequences(const Request& r) {
  if (r.prompt.empty() || r.prompt_text.empty()) return;
  for (const auto& c : r.choices) {
    if (c.generated.empty()) continue;
    RememberedSequence m;
    m.kind = r.req.kind;
    m.request_id = r.req.id;
    m.prompt_text = r.prompt_text;
    m.ids = r.prompt;
    m.ids.insert(m.ids.end(), c.generated.begin(), c.generated.end());
    m.prompt_len = r.prompt.size();
    memo_.push_back(std::move(m));
    while (memo_.size() > kSequenceMemo) memo_.pop_front();
  }
}

// The result of a request's choices so far; unfinished ones are marked
// cancelled.
GenerateResult Scheduler::result_of(Request& r) {
  remember_sequences(r);
  GenerateResult out;
  out.request_id = r.req.id;
  out.prompt_token_ids = r.prompt;
  out.token_info = r.token_info;
  out.model = r.req.model.empty() ? opt_.model_name : r.req.model;
  out.usage.prompt_tokens = static_cast<int64_t>(r.prompt.size());
  out.usage.cached_prompt_tokens = r.cached;
  for (auto& c : r.choices) {
    engine::Choice ch;
    ch.index = c.index;
    ch.text = c.text;
    ch.token_ids = c.generated;
    ch.logprobs = std::move(c.logprobs);
    ch.finish = c.done ? c.finish : FinishReason::cancelled;
    ch.stop_string = c.stop_string;
    ch.finish_detail = c.finish_detail;
    r.structured.parse_calls(ch);
    out.usage.completion_tokens += static_cast<int64_t>(c.generated.size());
    out.choices.push_back(std::move(ch));
  }
  out.latency_ms = r.clock.elapsed_ms();
  return out;
}

void Scheduler::maybe_complete(std::shared_ptr<Request> r) {
  if (r->state == RequestState::finished) return;
  retire(*r);
  auto done = std::move(r->done);
  done(result_of(*r));
}

void Scheduler::publish_cache_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.kv_blocks_in_use = cache_->blocks_in_use();
  stats_.queue_depth = static_cast<int>(waiting_.size() + incoming_.size());
}

void Scheduler::drop_request(const std::shared_ptr<Request>& r, FinishReason why, const std::string& error) {
  if (r->state == RequestState::finished) return;
  retire(*r);
  auto done = std::move(r->done);
  bool any_text = false;
  for (auto& c : r->choices) any_text |= !c.text.empty() || !c.generated.empty();
  if (why == FinishReason::cancelled && any_text) {
    done(result_of(*r));
    return;
  }
  ErrorCode code = why == FinishReason::cancelled ? ErrorCode::cancelled : ErrorCode::internal;
  done(Error{code, error});
}

}  // namespace troupe::engine::local
