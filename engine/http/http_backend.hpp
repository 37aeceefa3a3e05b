// HttpBackend: a Backend that talks to a vLLM or other OpenAI-compatible
// server over HTTP (libcurl's multi interface, one thread of its own).
//
// What callers may rely on, beyond the Backend contract (engine/backend.hpp):
// - Connections are reused (one multi handle and its connection cache); at
//   most max_in_flight transfers run at once, further requests queue in
//   submit order.
// - Retries: a request is sent at most max_retries + 1 times. Retried: 408,
//   429, 5xx, timeouts, and connection errors (refused, reset, partial
//   transfer, empty reply). Delays use exponential backoff with full jitter:
//   uniform in [0, min(backoff_max_ms, backoff_ms * 2^(attempt-1))]. A 429
//   with "Retry-After: <seconds>" waits exactly that long, capped at
//   backoff_max_ms. Not retried: other 4xx (the Error carries the server's
//   message and status), a 200 body that does not parse (ErrorCode::parse;
//   a server that sends malformed JSON is not expected to do better next
//   time), an unexpected choice count. The Error of a request that failed
//   after retries ends with "(after N attempts)".
// - A stream that ends before every choice finished (no finish_reason for
//   some index, with or without [DONE]) is retried like a reset connection
//   when nothing has gone to on_delta yet; once text was delivered it is not
//   retried: the reply is returned with the finished choices as they are
//   and each unfinished one marked FinishReason::error (text so far kept,
//   Choice::error says why). The same holds for an error payload or a
//   dropped connection mid-stream.
// - A streamed request whose server replies with plain JSON is read as a
//   non-stream reply.
// - Parameters listed in Config::unsupported are never sent to be silently
//   ignored: n > 1 is emulated (on_unsupported == "emulate": n requests with
//   n=1 and seeds seed+i, or seeds derived from the request id when no seed
//   is set; merged into indices 0..n-1 with usage summed, attempts = the
//   most any part needed) or refused ("refuse"); any other unsupported
//   parameter that a request sets (seed, logprobs, top_k, min_p,
//   temperature, top_p, stop, continue_final_message) is refused with
//   ErrorCode::unsupported naming it. With emulation, one part failing fails
//   the whole request (the other parts are cancelled).
// - cancel() takes effect at once for a queued request, one in flight or
//   one waiting to be retried.
// - Callbacks (`done` and on_delta) run on the backend's thread, never
//   under its locks; they may call submit() and cancel() but must not
//   destroy the backend. `done` runs inside submit() only for requests
//   rejected up front (invalid or unsupported parameters).
// - GenerateResult.attempts and latency_ms (submit to callback) are filled.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "common/error.hpp"
#include "engine/backend.hpp"

namespace troupe::engine {

class HttpBackend : public Backend {
 public:
  struct Config {
    // "http://host:port" or "https://host:port[/prefix]"; "/v1/..." is
    // appended unless the URL already ends in "/v1".
    std::string base_url;
    std::string model;          // sent when a request names none
    std::string api = "chat";   // "chat" (/v1/chat/completions) | "completions" (/v1/completions)
    std::string api_key;        // sent as "Authorization: Bearer <key>"; empty = none
    bool stream = false;        // ask for SSE streams (needed for on_delta)
    double timeout_s = 600;     // whole transfer, per attempt
    double connect_timeout_s = 10;
    int max_in_flight = 64;     // concurrent transfers; more queue
    int max_retries = 3;        // retries after the first attempt
    int backoff_ms = 250;       // first retry delay bound
    int backoff_max_ms = 10'000;
    // Parameter names the server cannot honour: "n", "seed", "logprobs",
    // "top_k", "min_p", "temperature", "top_p", "stop",
    // "continue_final_message", "return_token_ids" (then the flag is not
    // sent and replies carry no token ids).
    std::set<std::string> unsupported;
    std::string on_unsupported = "emulate";  // "emulate" | "refuse"
  };

  // Validates `config` (URL scheme http/https, api name, positive limits,
  // known unsupported names, on_unsupported value) and starts the thread.
  static Result<std::unique_ptr<HttpBackend>> create(Config config);

  // Cancels everything queued or in flight, delivers every callback, joins
  // the thread.
  ~HttpBackend() override;

  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  void submit(GenerateRequest request, GenerateCallback done) override;
  void cancel(const std::string& request_id) override;
  BackendInfo info() const override;

  const Config& config() const;

 private:
  class Impl;
  explicit HttpBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::engine
