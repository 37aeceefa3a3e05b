#include "engine/serve/http_listener.hpp"

#include <sys/socket.h>

#include <chrono>

namespace troupe::engine {

Status HttpListener::start(httplib::Server& server, const std::string& host, int port, const std::string& what) {
  if (server_) return Error{ErrorCode::invalid_argument, what + ": already started"};
  server.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    listen_socket_ = sock;
  });
  // Without it, a reply's header and body writes meet Nagle + delayed ACK
  // (40 ms per request).
  server.set_tcp_nodelay(true);
  int bound = -1;
  if (port == 0) bound = server.bind_to_any_port(host);
  else if (server.bind_to_port(host, port)) bound = port;
  if (bound <= 0)
    return Error{ErrorCode::network, what + ": cannot listen on " + host + ":" + std::to_string(port) +
                                         " (address in use or not available)"};
  // httplib 0.11 listens with a backlog of 5: a burst of new connections
  // overflows it and clients wait a second for SYN retransmission. Linux
  // lets listen() on a listening socket raise the backlog.
  if (listen_socket_ >= 0) ::listen(listen_socket_, 512);
  port_ = bound;
  server_ = &server;
  thread_ = std::thread([&server] { server.listen_after_bind(); });
  // listen_after_bind() marks the server running before accepting; a stop()
  // before that point would be missed, so wait for it (at most 5 s).
  for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server.is_running()) {
    stop();
    return Error{ErrorCode::internal, what + ": did not start listening"};
  }
  return {};
}

void HttpListener::stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_ = nullptr;
}

}  // namespace troupe::engine
