// FakeVllm: a test-only HTTP server on 127.0.0.1 (a free port) that speaks
// vLLM's exact OpenAI-compatible shapes (docs formats.md §2.3) and answers
// from a script, to test HTTP clients against real sockets.
//
// Each POST to /v1/chat/completions or /v1/completions takes the next
// planned FakeReply from the queue (push()), or the default when the queue
// is empty. A reply honours the request's "n" and "stream"; faults: any
// status + body (with headers, e.g. Retry-After), a connection reset after
// some stream chunks, a stream that ends cleanly but without finish_reason
// or [DONE], a stall (returns early when the server stops), malformed JSON
// with status 200, and the three error-body shapes.
//
// Every request is counted and recorded (path, body, Authorization header);
// peak_concurrency() is the most requests handled at once. All accessors
// are thread-safe. stop() is idempotent, wakes stalled handlers and returns
// once the server thread has ended; the destructor calls it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace troupe::testing {

struct FakeReply {
  enum class Kind { reply, status, reset_mid_stream, truncated_stream, stall, malformed_json };
  Kind kind = Kind::reply;

  // Kind::reply (and the part of a stream sent before a fault): choice i
  // answers texts[i % texts.size()].
  std::vector<std::string> texts = {"Hello from fake vLLM"};
  std::string finish_reason = "stop";
  std::string stop_reason;  // vLLM's stop_reason (the matched stop string) when non-empty
  int64_t prompt_tokens = 7;
  int64_t completion_tokens = 4;
  int64_t cached_tokens = 0;  // > 0: usage.prompt_tokens_details.cached_tokens
  std::chrono::milliseconds delay{0};        // wait before answering; the stall length for Kind::stall
  std::chrono::milliseconds chunk_delay{0};  // wait between content chunks (the first goes at once)

  // Kind::status: the reply as is.
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  // reset_mid_stream / truncated_stream: content chunks sent before the fault.
  int chunks_before_fault = 2;

  static FakeReply text(std::vector<std::string> texts, std::string finish_reason = "stop");
  static FakeReply http_status(int status, std::string body,
                               std::vector<std::pair<std::string, std::string>> headers = {});
  static FakeReply rate_limited(int retry_after_s);
  static FakeReply reset_mid_stream(int chunks_before);
  static FakeReply truncated_stream(int chunks_before);
  static FakeReply stall(std::chrono::milliseconds how_long);
  static FakeReply malformed_json();
  // {"error":{"message":...,"type":...,"param":null,"code":status}}
  static FakeReply openai_error(int status, const std::string& message);
  // {"object":"error","message":...,"type":"BadRequestError","param":null,"code":status}
  static FakeReply flat_error(int status, const std::string& message);
  // {"error":{"code":status,"message":...,"type":"server_error"}}
  static FakeReply llamacpp_error(int status, const std::string& message);
};

struct ReceivedRequest {
  std::string path;
  std::string body;
  std::string authorization;
};

class FakeVllm {
 public:
  FakeVllm();
  ~FakeVllm();
  FakeVllm(const FakeVllm&) = delete;
  FakeVllm& operator=(const FakeVllm&) = delete;

  void push(FakeReply reply);
  void set_default(FakeReply reply);
  // What GET /health answers (200 until set); health_checks() counts them.
  void set_health_status(int status);
  int health_checks() const;
  bool wait_for_health_checks(int count, std::chrono::milliseconds timeout) const;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:<port>"

  int request_count() const;
  std::vector<ReceivedRequest> requests() const;
  std::vector<std::string> bodies() const;
  int peak_concurrency() const;
  // Blocks until at least `count` requests have arrived or `timeout` passed.
  bool wait_for_requests(int count, std::chrono::milliseconds timeout) const;

  void stop();

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace troupe::testing
