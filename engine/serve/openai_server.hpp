// OpenAIServer: serves any Backend as an OpenAI-compatible HTTP server
// (cpp-httplib), so troupe can stand in for a vLLM endpoint.
//
// Routes: POST /v1/chat/completions and POST /v1/completions (SSE streams
// when "stream":true, JSON otherwise; a completions request may hold a
// list of prompts, answered as choices prompt * n + k), POST /v1/responses
// (the Responses API's text subset, engine/wire_responses.hpp), GET
// /v1/models (the configured model name) and GET /v1/models/{id}, GET /metrics (server counters, then the backend's text when
// Options::metrics is set), GET /health (200, no auth). Errors use OpenAI's
// shape {"error":{"message","type","param","code"}}: 400 for bad JSON or
// fields (the message and "param" name the field), 401 for a missing or
// wrong bearer token (when one is configured; compared in constant time;
// with WWW-Authenticate: Bearer), error.code is a string (or null),
// 404 "The model `x` does not exist." for a model name other than the
// served one (as vLLM; an absent or empty model means the served one), 413
// for a body over max_body_bytes, 415 naming the Content-Type for a body
// that is not JSON, 404 for unknown routes; a backend error maps to 400
// (invalid/unsupported), the upstream 4xx status, 502 (upstream/network),
// 504 (timeout) or 500. Messages are taken as vLLM takes them: any role
// string goes to the chat template (which may refuse it), a null or absent
// content is empty text.
//
// Connections are guarded by GuardedHttpServer (engine/serve/http_guard.hpp,
// Options::limits): headers are read without holding a worker, with
// timeouts and a connection cap; /health, /v1/models and /metrics have
// their own threads, so they answer while every worker generates.
// Each request waits on its backend callback in a worker thread. A
// non-streamed request whose client closes the connection is cancelled in
// the backend (counted in troupe_serve_client_disconnects_total). A stream
// sends deltas as the backend reports them (or the whole text at the end
// for backends that do not stream), a finish chunk per choice, a usage
// chunk when stream_options.include_usage, then [DONE]; with logprobs
// asked, each chunk carries the logprobs of the tokens since the previous
// one (backends that do not report them as they go: all in the last
// chunk); every reply and chunk has a system_fingerprint; a backend error
// mid-stream is sent as an error payload before [DONE]. An idle stream
// sends an SSE comment every keepalive_ms, so a client that went away is
// noticed; the backend request is then cancelled.
//
// start() binds and returns once the server accepts connections (port 0 =
// a free port, see port()). stop() cancels requests in progress, stops
// listening and joins; it is idempotent and the destructor calls it. A
// stopped server cannot be started again.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "engine/backend.hpp"
#include "engine/serve/http_guard.hpp"

namespace troupe::engine {

class OpenAIServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;                       // 0 = pick a free one
    std::string model = "troupe";       // reported by /v1/models and in replies that name no model
    size_t max_body_bytes = 8u << 20;   // larger request bodies get 413
    std::string bearer_token;           // non-empty: required as "Authorization: Bearer <token>"
    HttpLimits limits;                  // connection cap, workers, timeouts (max_streams unused)
    int keepalive_ms = 1000;            // SSE comment interval on an idle stream
    // GET /metrics answers with this text (Prometheus exposition format);
    // unset: /metrics is 404.
    std::function<std::string()> metrics;
    // max_tokens of a request that sends neither max_tokens nor
    // max_completion_tokens (nor max_output_tokens); 0 = SamplingParams'
    // default. troupe serve sets the model's context length, so such a
    // request generates until it stops or the context is full.
    int default_max_tokens = 0;
    // Non-empty: chat requests (chat completions and responses) are
    // answered 400 with this message before anything else (the backend
    // has no chat template); text completions still work.
    std::string chat_unavailable;
  };

  OpenAIServer(std::shared_ptr<Backend> backend, Options options);
  ~OpenAIServer();
  OpenAIServer(const OpenAIServer&) = delete;
  OpenAIServer& operator=(const OpenAIServer&) = delete;

  // Errors: the address cannot be bound (in use, bad host), or already started.
  Status start();
  void stop();

  // The bound port after start(); 0 before.
  int port() const;
  // "http://<host>:<port>".
  std::string base_url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::engine
