// GuardedHttpServer: the cpp-httplib server that `troupe serve` and
// `troupe daemon` listen with, kept available under slow, many or hostile
// clients (docs/engine.md "troupe serve: limits", docs/daemon.md "Limits").
//
// Callers may rely on:
// - A connection's request header is read by one poller thread (epoll,
//   MSG_PEEK) without holding a worker: a client that sends its header
//   slowly never blocks another. The whole header must arrive within
//   header_timeout_s (408 and closed otherwise); a header over 16 KiB is
//   431 and closed. An idle kept-alive connection is closed after
//   keep_alive_s.
// - At most max_connections connections are open at once. A new one past
//   the cap evicts the connection that has waited longest for its header
//   (it gets 503); when none is waiting for its header, the new one gets 503
//   at once ("Retry-After: 1"). Nothing queues without bound.
// - Requests whose header is complete run on `workers` threads; those
//   that `quick` names (health, metrics, ...) run on their own
//   quick_workers threads, so they answer while every worker is busy. A
//   request body must arrive within read_timeout_s after its header; a reply
//   write that makes no progress for write_timeout_s ends the connection.
// - Handlers that hold their thread for long (event streams, waits on a
//   run) take a StreamSlot; at most max_streams are granted at once, so
//   workers - max_streams threads stay for everything else.
// - client_gone() tells a handler, on its own thread, that its client has
//   closed the connection (e.g. to cancel work nobody waits for).
// - stop() (httplib's) closes every open connection, lets handlers that
//   are running return, and joins every thread before listen returns.
// The free functions below are the pieces of request checking that both
// servers share.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::engine {

struct HttpLimits {
  int max_connections = 256;
  int workers = 64;
  int quick_workers = 4;
  int max_streams = 0;  // 0 = no cap on StreamSlots
  double header_timeout_s = 10;
  double read_timeout_s = 30;
  double write_timeout_s = 30;
  double keep_alive_s = 5;
};

class GuardedHttpServer : public httplib::Server {
 public:
  // `quick(method, path)` (path without the query) picks the quick lane.
  GuardedHttpServer(HttpLimits limits, std::function<bool(std::string_view, std::string_view)> quick);
  ~GuardedHttpServer() override;

  // A granted slot counts against max_streams until destroyed; an empty one
  // (operator bool false) means the cap is reached. Move-only.
  class StreamSlot {
   public:
    StreamSlot() = default;
    StreamSlot(StreamSlot&& o) noexcept : count_(o.count_) { o.count_ = nullptr; }
    StreamSlot& operator=(StreamSlot&& o) noexcept;
    StreamSlot(const StreamSlot&) = delete;
    StreamSlot& operator=(const StreamSlot&) = delete;
    ~StreamSlot();
    explicit operator bool() const { return count_ != nullptr; }

   private:
    friend class GuardedHttpServer;
    explicit StreamSlot(std::atomic<int>* c) : count_(c) {}
    std::atomic<int>* count_ = nullptr;
  };
  StreamSlot try_stream_slot();

  // On a handler's thread: whether the client closed the connection of the
  // request being handled. False outside a handler.
  static bool client_gone();
  // On a handler's thread: close the connection after this reply (for a
  // reply sent before the request body was read).
  static void close_after_reply();

  struct Counts {
    int64_t rejected = 0;         // 503 at the connection cap
    int64_t evicted = 0;          // waited longest for its header when the cap was reached
    int64_t header_timeouts = 0;  // 408
    int64_t streams_refused = 0;  // try_stream_slot() found the cap reached
  };
  Counts counts() const;

  const HttpLimits& limits() const { return limits_; }

  struct Core;

 private:
  bool process_and_close_socket(socket_t sock) override;
  void serve_one(Core& core, int fd, size_t header_len);

  HttpLimits limits_;
  std::function<bool(std::string_view, std::string_view)> quick_;
  std::atomic<int> streams_{0};
  std::atomic<int64_t> streams_refused_{0};
  mutable std::mutex core_mu_;  // guards core_
  std::shared_ptr<Core> core_;  // the current listen's poller and pools
};

// Constant-time comparison of a presented secret with the expected one:
// the time depends only on expected.size(), never on where they differ or
// on the presented length.
bool tokens_equal(std::string_view presented, std::string_view expected);

// Whether `host` (as given to listen on) is a loopback address: "localhost",
// an IPv4 address in 127.0.0.0/8 or the IPv6 ::1 (also ::ffff:127.x.y.z),
// parsed with inet_pton, never by prefix.
bool is_loopback_host(std::string_view host);

// For a request that carries a body: its Content-Type when that is not JSON
// (application/json or +json, any parameters); nullopt when JSON or absent
// (as FastAPI/vLLM, a body without a type is read as JSON).
std::optional<std::string> non_json_content_type(const httplib::Request& req);

}  // namespace troupe::engine
