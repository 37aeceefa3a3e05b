// The daemon's HTTP server (cpp-httplib): the run API, live events, health,
// metrics, the OpenAI-compatible front and the trajectory viewer, over a
// RunService. Routes and
// shapes are documented in docs/daemon.md.
//
// Callers may rely on:
// - Every route but GET /health and the viewer's static files (GET/HEAD of
//   a path in daemon/web_files.hpp's table, served with their content type
//   and a strict CSP) requires "Authorization: Bearer <token>" when the
//   config has a token; without it (or with a wrong one) the reply is 401
//   before any body is read further.
// - Request bodies over config.max_body_bytes are refused with 413; a body
//   whose Content-Type is not JSON with 415 naming the type.
// - Connections go through engine::GuardedHttpServer with the config's
//   limits (max_connections, http_threads, max_event_streams, header/read/
//   write timeouts): slow clients cannot hold workers, past the caps the
//   reply is 503, and GET /health, /metrics, /v1/models and /v1/runs/{id}
//   have threads of their own. Event streams and OpenAI completions hold
//   at most max_event_streams workers (503 past it).
// - Every error reply has one shape, OpenAI's:
//   {"error":{"message":...,"type":...,"param":...|null,"code":<http status>}}.
// - start() binds and returns once connections are accepted (port 0 = a
//   free port, see port()). stop() closes open event streams, stops
//   listening and joins; idempotent; the destructor calls it.
#pragma once

#include <memory>
#include <string>

#include "common/error.hpp"
#include "daemon/run_service.hpp"

namespace troupe::daemon {

class ApiServer {
 public:
  explicit ApiServer(RunService& service);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status start();
  void stop();
  int port() const;
  std::string base_url() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::daemon
