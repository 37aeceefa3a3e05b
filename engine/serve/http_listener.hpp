// HttpListener: runs a cpp-httplib server on a thread of its own — the
// start/stop code that `troupe serve` (OpenAIServer) and `troupe daemon`
// (daemon/http_api) share.
//
// Callers may rely on:
// - start() binds `host:port` (port 0: any free port), with SO_REUSEADDR
//   only (httplib's default SO_REUSEPORT would let a second server bind a
//   port in use), TCP_NODELAY, and a listen backlog of 512 (httplib's is 5);
//   it returns once the server accepts connections. A taken or unavailable
//   address is ErrorCode::network "<what>: cannot listen on host:port
//   (address in use or not available)", never an exception.
// - port() is the bound port after a successful start().
// - stop() stops the server (closing its connections) and joins the
//   listening thread; it does nothing before start() or a second time. The
//   destructor calls it. Whatever the caller must do first (cancel
//   requests, close event streams) it does before stop().
// - The server must outlive the listener's stop(). Not thread-safe: start
//   and stop from one thread (or under the caller's lock).
#pragma once

#include <httplib.h>

#include <string>
#include <thread>

#include "common/error.hpp"

namespace troupe::engine {

class HttpListener {
 public:
  HttpListener() = default;
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;
  ~HttpListener() { stop(); }

  // `what` names the server in errors ("openai server", "daemon server").
  Status start(httplib::Server& server, const std::string& host, int port, const std::string& what);
  void stop();
  int port() const { return port_; }

 private:
  httplib::Server* server_ = nullptr;
  std::thread thread_;
  socket_t listen_socket_ = -1;  // set by the socket-options callback during bind
  int port_ = 0;
};

}  // namespace troupe::engine
