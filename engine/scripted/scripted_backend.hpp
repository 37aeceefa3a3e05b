// ScriptedBackend: a deterministic Backend that answers from a fixture of
// rules (a pattern on the prompt -> a reply). It exists to test pipeline
// logic without a model, and is named so everywhere it appears; it never
// pretends to be a language model.
//
// Fixture (YAML):
//   rules:                      # tried in order; the first match answers
//     - match: "Verdict"        # substring of the prompt text ...
//       regex: false            # ... or an ECMAScript regex when true
//                               # (std::regex: its matcher recurses per
//                               # character, so `.*` over a long prompt can
//                               # overflow the stack; prefer substrings)
//       where: last             # last = the last message only; all = every message (default)
//       replies: ["a", "b"]     # the k-th call with the same prompt gets replies[k % size]
//       reply: "text"           # shorthand for one reply
//       finish: stop            # stop | length (default stop)
//       model: "name"           # only requests for this model (the backend's when unset in the request)
//       error: {status: 500, message: "boom"}   # answer with an error instead
//       hold: true              # never answer: the request waits until it is
//                               # cancelled (or the backend destroyed), then
//                               # gets a cancelled error (tests of cancellation)
//   default: "text"             # when no rule matches; without it, no match is an error
//   request_log: "/path/log"    # optional: one line per request received,
//                               # "<request id>\t<sha256 of the prompt text>\n",
//                               # appended (O_APPEND) and fsynced before the
//                               # request is answered; survives a crash of the
//                               # process, so a harness can count what the
//                               # backend really received across restarts
//   delay_ms: 20                # optional: each request is answered this long
//                               # after the previous one (a slow backend, so a
//                               # crash harness can kill a process mid-run)
//
// Determinism: the reply depends only on the rule, the prompt text and how
// many times that same prompt was asked before, never on how concurrent
// requests interleave. For n > 1, choice i takes the (k+i)-th reply. The
// prompt text is "role: content" per message joined by newlines (chat) or
// the raw prompt (text); continuations see the partial assistant message.
// Stop strings and max_tokens are applied (a token is a whitespace-separated
// word, for usage and length limits). Replies are delivered on the
// backend's own thread, in submission order. calls() counts submits that
// reached the backend, for tests that assert a call was (not) made.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.hpp"

namespace troupe::engine {

struct ScriptedRule {
  std::string match;
  bool regex = false;
  bool last_message_only = false;
  std::string model;  // "" = any model
  std::vector<std::string> replies;
  FinishReason finish = FinishReason::stop;
  int error_status = 0;  // != 0: answer with an error
  std::string error_message;
  bool hold = false;     // wait for cancel() instead of answering
};

struct ScriptedFixture {
  std::vector<ScriptedRule> rules;
  std::optional<std::string> default_reply;
  std::string request_log;  // "" = none
  int delay_ms = 0;
};

class ScriptedBackend : public Backend {
 public:
  static Result<ScriptedFixture> load_fixture(const std::string& path);
  static Result<ScriptedFixture> parse_fixture(const std::string& yaml_text, const std::string& name);

  explicit ScriptedBackend(ScriptedFixture fixture, std::string model = "scripted");
  ~ScriptedBackend() override;

  void submit(GenerateRequest request, GenerateCallback done) override;
  void cancel(const std::string& request_id) override;
  BackendInfo info() const override;

  int64_t calls() const { return calls_.load(); }
  // Requests held by a `hold` rule right now, and how many held requests
  // were released by cancel() so far.
  int64_t held() const;
  int64_t released_by_cancel() const { return released_.load(); }
  // Blocks until at least `n` requests are held (tests; no sleeping).
  void wait_held(int64_t n) const;
  // The prompt text a request is matched against.
  static std::string prompt_text(const GenerateRequest& request, bool last_only);

 private:
  struct Pending {
    GenerateRequest request;
    GenerateCallback done;
    bool cancelled = false;
  };
  void loop();
  void log_request(const GenerateRequest& request);
  Result<GenerateResult> answer(const GenerateRequest& request);
  bool holds(const GenerateRequest& request) const;  // the first matching rule holds

  ScriptedFixture fixture_;
  std::vector<std::optional<std::regex>> compiled_;
  std::string model_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> released_{0};

  std::mutex log_mu_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<std::shared_ptr<Pending>> queue_;
  std::vector<std::shared_ptr<Pending>> held_;
  std::map<std::string, int> asked_;  // rule index + prompt -> times asked
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace troupe::engine
