// OpenAIServer: serves any Backend as an OpenAI-compatible HTTP server
// (cpp-httplib), so troupe can stand in for a vLLM endpoint.
//
// Routes: POST /v1/chat/completions and POST /v1/completions (SSE streams
// when "stream":true, JSON otherwise), GET /v1/models (the configured model
// name), GET /health (200, no auth). Errors use OpenAI's shape
// {"error":{"message","type","param","code"}}: 400 for bad JSON or fields
// (the message and "param" name the field), 401 for a missing or wrong
// bearer token (when one is configured), 413 for a body over
// max_body_bytes, 404 for unknown routes; a backend error maps to 400
// (invalid/unsupported), the upstream 4xx status, 502 (upstream/network),
// 504 (timeout) or 500.
//
// Each request waits on its backend callback in the connection's thread.
// A stream sends deltas as the backend reports them (or the whole text at
// the end for backends that do not stream), a finish chunk per choice, a
// usage chunk when stream_options.include_usage, then [DONE]; a backend
// error mid-stream is sent as an error payload before [DONE]. An idle
// stream sends an SSE comment every keepalive_ms, so a client that went
// away is noticed; the backend request is then cancelled.
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

namespace troupe::engine {

class OpenAIServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;                       // 0 = pick a free one
    std::string model = "troupe";       // reported by /v1/models and in replies that name no model
    size_t max_body_bytes = 8u << 20;   // larger request bodies get 413
    std::string bearer_token;           // non-empty: required as "Authorization: Bearer <token>"
    int threads = 32;                   // connections served at once
    int keepalive_ms = 1000;            // SSE comment interval on an idle stream
    // GET /metrics answers with this text (Prometheus exposition format);
    // unset: /metrics is 404.
    std::function<std::string()> metrics;
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
