// The local engine's scheduler with a fake model whose logits depend on the
// whole history it reads back from the KV cache.
#include <catch2/catch.hpp>

#include <future>
#include <mutex>

#include "fake_model.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;
using troupe::testing::ByteCodec;
using troupe::testing::FakeModel;

namespace {

struct Engine {
  std::shared_ptr<FakeModel> model = std::make_shared<FakeModel>();
  std::unique_ptr<Scheduler> sched;
  explicit Engine(int blocks = 256, int block_size = 16, int max_step_tokens = 64) {
    KvCacheConfig c;
    c.n_layers = 1;
    c.kv_dim = 1;
    c.block_size = block_size;
    c.budget_bytes = static_cast<size_t>(blocks) * 2 * static_cast<size_t>(block_size) * sizeof(float);
    auto kv = KvCache::create(c);
    REQUIRE(kv.ok());
    SchedulerOptions o;
    o.max_step_tokens = max_step_tokens;
    sched = std::make_unique<Scheduler>(model, std::make_shared<ByteCodec>(), std::move(kv.value()), o);
  }
};

GenerateRequest text_request(const std::string& prompt, int max_tokens = 12, std::optional<int64_t> seed = std::nullopt,
                             double temperature = 0.0, int n = 1) {
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = prompt;
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.sampling.n = n;
  return r;
}

std::future<Result<GenerateResult>> submit(Scheduler& s, GenerateRequest r) {
  auto p = std::make_shared<std::promise<Result<GenerateResult>>>();
  auto f = p->get_future();
  s.submit(std::move(r), [p](Result<GenerateResult> res) { p->set_value(std::move(res)); });
  return f;
}

GenerateResult run_one(Scheduler& s, GenerateRequest r) {
  auto res = submit(s, std::move(r)).get();
  REQUIRE(res.ok());
  return *res;
}

std::vector<std::string> texts(const GenerateResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.choices) out.push_back(c.text);
  return out;
}

const std::string kLong = std::string(200, 'x') + " the shared context of every path " + std::string(100, 'y');

}  // namespace

TEST_CASE("n samples of one prompt compute the prompt once", "[scheduler]") {
  Engine e;
  auto res = run_one(*e.sched, text_request(kLong, 8, 7, 1.0, 4));
  REQUIRE(res.choices.size() == 4);
  CHECK(e.sched->stats().computed_prompt_tokens == static_cast<int64_t>(kLong.size() + 1));
  CHECK(res.usage.prompt_tokens == static_cast<int64_t>(kLong.size() + 1));
  CHECK(res.usage.completion_tokens == 32);
  // Different streams per choice.
  auto t = texts(res);
  CHECK((t[0] != t[1] || t[1] != t[2] || t[2] != t[3]));
}

TEST_CASE("a prompt seen before reuses its cached prefix, continuing pays for the new tokens only", "[scheduler]") {
  Engine e;
  auto first = run_one(*e.sched, text_request(kLong, 8));
  CHECK(first.usage.cached_prompt_tokens == 0);
  int64_t computed_before = e.sched->stats().computed_prompt_tokens;
  std::string continued = kLong + first.choices[0].text + " appended text";
  auto second = run_one(*e.sched, text_request(continued, 8));
  int64_t computed = e.sched->stats().computed_prompt_tokens - computed_before;
  int64_t prompt = static_cast<int64_t>(continued.size() + 1);
  CHECK(second.usage.cached_prompt_tokens + computed == prompt);
  // Everything the first request left in the cache (its prompt and all but
  // its last generated token) is reused: only the new tokens are computed.
  CHECK(second.usage.cached_prompt_tokens == static_cast<int64_t>(kLong.size() + 1 + first.choices[0].token_ids.size() - 1));
  CHECK(computed == static_cast<int64_t>(std::string(" appended text").size()) + 1);
}

TEST_CASE("a request's output is the same alone, in a busy batch, and after its prefix was cached", "[scheduler][property]") {
  for (double temperature : {0.0, 0.9}) {
    GenerateRequest probe = text_request(kLong + " probe", 16, 1234, temperature, 2);
    std::vector<std::string> alone;
    {
      Engine e;
      alone = texts(run_one(*e.sched, probe));
    }
    {
      Engine e;
      std::vector<std::future<Result<GenerateResult>>> others;
      for (int i = 0; i < 16; ++i)
        others.push_back(submit(*e.sched, text_request("other " + std::to_string(i) + kLong.substr(0, 50 + 7 * i), 20,
                                                       i, 0.8, 1 + i % 3)));
      auto mine = submit(*e.sched, probe);
      auto res = mine.get();
      REQUIRE(res.ok());
      CHECK(texts(*res) == alone);
      for (auto& f : others) CHECK(f.get().ok());
    }
    {
      Engine e;
      run_one(*e.sched, text_request(kLong + " probe", 3));  // caches the prefix
      auto res = run_one(*e.sched, probe);
      CHECK(res.usage.cached_prompt_tokens > 0);
      CHECK(texts(res) == alone);
    }
  }
}

TEST_CASE("when the cache is full, requests are preempted, recomputed and still give the same text", "[scheduler]") {
  std::vector<std::vector<std::string>> expected;
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 6; ++i) reqs.push_back(text_request(std::string(40 + 10 * i, static_cast<char>('a' + i)), 40, i, 0.7, 1 + i % 2));
  {
    Engine big;
    for (auto& r : reqs) expected.push_back(texts(run_one(*big.sched, r)));
  }
  Engine tight(/*blocks=*/24, /*block_size=*/8, /*max_step_tokens=*/32);
  std::vector<std::future<Result<GenerateResult>>> fs;
  for (auto& r : reqs) fs.push_back(submit(*tight.sched, r));
  for (size_t i = 0; i < fs.size(); ++i) {
    auto res = fs[i].get();
    INFO((res.ok() ? std::string() : res.error().describe()));
    REQUIRE(res.ok());
    CHECK(texts(*res) == expected[i]);
  }
  CHECK(tight.sched->stats().preemptions > 0);
  CHECK(tight.sched->stats().kv_blocks_in_use == 0);
}

TEST_CASE("a request larger than the whole cache fails with a clear error", "[scheduler]") {
  Engine tiny(/*blocks=*/2, /*block_size=*/4);
  auto res = submit(*tiny.sched, text_request(std::string(20, 'z'), 4)).get();
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().message.find("KV cache") != std::string::npos);
  // The engine keeps serving.
  CHECK(submit(*tiny.sched, text_request("ok", 2)).get().ok());
}

TEST_CASE("cancel stops generation at once, frees its blocks and returns the text so far", "[scheduler]") {
  Engine e(/*blocks=*/8, /*block_size=*/16);
  // The first delta holds the engine thread until the cancel is queued, so
  // the cancel lands at the very next step boundary.
  std::promise<void> first_delta, cancel_sent;
  auto cancel_sent_f = cancel_sent.get_future().share();
  std::atomic<bool> signalled{false};
  GenerateRequest r = text_request("cancel me", 110);
  r.id = "req-cancel";
  r.on_delta = [&, cancel_sent_f](int, const std::string&) {
    if (signalled.exchange(true)) return;
    first_delta.set_value();
    cancel_sent_f.wait();
  };
  auto f = submit(*e.sched, r);
  first_delta.get_future().wait();
  e.sched->cancel("req-cancel");
  cancel_sent.set_value();
  auto res = f.get();
  REQUIRE(res.ok());
  CHECK(res->choices[0].finish == FinishReason::cancelled);
  CHECK(res->choices[0].token_ids.size() == 1);
  // Its blocks are free again: a request needing the whole cache fits.
  auto whole = submit(*e.sched, text_request(std::string(120, 'w'), 4)).get();
  CHECK(whole.ok());
}

TEST_CASE("stop strings, max_tokens and EOS end a choice with the right reason", "[scheduler]") {
  Engine e;
  auto base = run_one(*e.sched, text_request("stop test", 30));
  std::string full = base.choices[0].text;
  REQUIRE(full.size() >= 10);
  CHECK(base.choices[0].finish == FinishReason::length);
  std::string stop = full.substr(5, 3);
  auto req = text_request("stop test", 30);
  req.sampling.stop = {stop};
  auto stopped = run_one(*e.sched, req);
  CHECK(stopped.choices[0].finish == FinishReason::stop);
  CHECK(stopped.choices[0].stop_string == stop);
  CHECK(stopped.choices[0].text == full.substr(0, full.find(stop)));
  e.model->eos_after = static_cast<int>(std::string("stop test").size()) + 1 + 3;  // BOS + prompt + 3 tokens
  auto eos = run_one(*e.sched, text_request("stop test", 30));
  CHECK(eos.choices[0].finish == FinishReason::stop);
  CHECK(eos.choices[0].stop_string.empty());
  CHECK(eos.choices[0].token_ids.size() == 3);
}

TEST_CASE("chat requests are rendered with the template, continuation leaves the last message open", "[scheduler]") {
  Engine e;
  GenerateRequest a;
  a.messages = {{"user", "hi"}, {"assistant", "partial answer"}};
  a.continue_final_message = true;
  a.sampling.max_tokens = 4;
  a.sampling.temperature = 0.0;
  auto ra = run_one(*e.sched, a);
  CHECK(ra.usage.prompt_tokens == static_cast<int64_t>(std::string("<user>hi</><assistant>partial answer").size()));
  GenerateRequest b = a;
  b.messages = {{"user", "hi"}};
  b.continue_final_message = false;
  auto rb = run_one(*e.sched, b);
  CHECK(rb.usage.prompt_tokens == static_cast<int64_t>(std::string("<user>hi</><assistant>").size()));
  // Raw text gets a BOS token in front.
  GenerateRequest c;
  c.kind = PromptKind::text;
  c.prompt = "<user>hi</><assistant>";
  c.sampling = a.sampling;
  CHECK(run_one(*e.sched, c).usage.prompt_tokens == rb.usage.prompt_tokens + 1);
}

TEST_CASE("logprobs cover every generated token, the first one sampled from the prompt's logits included",
          "[scheduler][logprobs]") {
  Engine e;
  for (int n : {1, 3}) {
    for (int asked : {-1, 2}) {
      auto req = text_request("logprob test", 6, 7, n == 1 ? 0.0 : 1.0, n);
      req.sampling.logprobs = asked;
      std::mutex mu;
      std::vector<std::vector<TokenLogprob>> streamed(static_cast<size_t>(n));
      std::vector<std::string> deltas(static_cast<size_t>(n));
      std::vector<size_t> logprobs_before_text(static_cast<size_t>(n), 0);
      req.on_logprobs = [&](int i, const TokenLogprob& lp) {
        std::lock_guard<std::mutex> lock(mu);
        streamed[static_cast<size_t>(i)].push_back(lp);
      };
      req.on_delta = [&](int i, const std::string& d) {
        std::lock_guard<std::mutex> lock(mu);
        if (deltas[static_cast<size_t>(i)].empty()) logprobs_before_text[static_cast<size_t>(i)] = streamed[static_cast<size_t>(i)].size();
        deltas[static_cast<size_t>(i)] += d;
      };
      auto r = run_one(*e.sched, req);
      REQUIRE(r.choices.size() == static_cast<size_t>(n));
      for (const auto& c : r.choices) {
        INFO("n " << n << ", logprobs " << asked << ", choice " << c.index);
        REQUIRE(c.token_ids.size() == 6);
        REQUIRE(c.logprobs.size() == c.token_ids.size());
        std::string joined;
        for (size_t k = 0; k < c.logprobs.size(); ++k) {
          CHECK(c.logprobs[k].logprob <= 0.0);
          CHECK(c.logprobs[k].top.size() == static_cast<size_t>(asked > 0 ? asked : 0));
          joined += c.logprobs[k].token;
        }
        // The tokens' text is the choice's text, from its first byte.
        CHECK(joined == c.text);
        const auto& s = streamed[static_cast<size_t>(c.index)];
        REQUIRE(s.size() == c.logprobs.size());
        for (size_t k = 0; k < s.size(); ++k) CHECK(s[k].token == c.logprobs[k].token);
        CHECK(deltas[static_cast<size_t>(c.index)] == c.text);
        CHECK(logprobs_before_text[static_cast<size_t>(c.index)] >= 1);
      }
    }
  }
  // Without logprobs asked, none are recorded or reported.
  auto plain = text_request("logprob test", 4);
  bool called = false;
  plain.on_logprobs = [&](int, const TokenLogprob&) { called = true; };
  auto r = run_one(*e.sched, plain);
  CHECK(r.choices[0].logprobs.empty());
  CHECK_FALSE(called);
}
