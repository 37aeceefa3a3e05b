#include "support/fake_vllm.hpp"

#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

#include "common/json_writer.hpp"

namespace troupe::testing {

// State shared between the server's handler threads and the test thread.
struct FakeVllm::Shared {
  mutable std::mutex mu;
  mutable std::condition_variable cv;  // requests arrived / stopping
  std::deque<FakeReply> queue;
  FakeReply fallback;
  std::vector<ReceivedRequest> received;
  int active = 0;
  int peak = 0;
  int health_status = 200;
  int health_checks = 0;
  bool stopping = false;

  // Waits `d` unless the server stops first; false when stopping.
  bool wait(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu);
    return !cv.wait_for(lock, d, [&] { return stopping; });
  }
  void leave() {
    std::lock_guard<std::mutex> lock(mu);
    --active;
  }
};

namespace {

struct Asked {
  bool chat = true;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  std::string model = "fake-model";
};

Asked read_request(const std::string& path, const std::string& body) {
  Asked a;
  a.chat = path == "/v1/chat/completions";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) return a;
  int64_t n;
  if (doc["n"].get_int64().get(n) == simdjson::SUCCESS && n > 0 && n < 1000) a.n = static_cast<int>(n);
  bool b;
  if (doc["stream"].get_bool().get(b) == simdjson::SUCCESS) a.stream = b;
  if (doc["stream_options"]["include_usage"].get_bool().get(b) == simdjson::SUCCESS) a.include_usage = b;
  std::string_view m;
  if (doc["model"].get_string().get(m) == simdjson::SUCCESS) a.model = m;
  return a;
}

const std::string& text_for(const FakeReply& r, int i) {
  static const std::string empty;
  if (r.texts.empty()) return empty;
  return r.texts[static_cast<size_t>(i) % r.texts.size()];
}

void write_usage(JsonWriter& w, const FakeReply& r) {
  w.key("usage").begin_object()
      .field("prompt_tokens", static_cast<long long>(r.prompt_tokens))
      .field("total_tokens", static_cast<long long>(r.prompt_tokens + r.completion_tokens))
      .field("completion_tokens", static_cast<long long>(r.completion_tokens));
  if (r.cached_tokens > 0) {
    w.key("prompt_tokens_details").begin_object().field("cached_tokens", static_cast<long long>(r.cached_tokens)).end_object();
  }
  w.end_object();
}

std::string whole_reply(const Asked& a, const FakeReply& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", a.chat ? "chatcmpl-fake" : "cmpl-fake")
      .field("object", a.chat ? "chat.completion" : "text_completion")
      .field("created", 1733000000)
      .field("model", a.model)
      .key("choices")
      .begin_array();
  for (int i = 0; i < a.n; ++i) {
    w.begin_object().field("index", i);
    if (a.chat) {
      w.key("message").begin_object().field("role", "assistant").field("content", text_for(r, i));
      w.key("tool_calls").begin_array().end_array().end_object();
    } else {
      w.field("text", text_for(r, i));
    }
    w.key("logprobs").null().field("finish_reason", r.finish_reason).key("stop_reason");
    if (r.stop_reason.empty()) {
      w.null();
    } else {
      w.value(r.stop_reason);
    }
    w.end_object();
  }
  w.end_array();
  write_usage(w, r);
  w.end_object();
  return out;
}

// One chunk of choice `i`: role (chat's first), content piece, or finish.
std::string chunk(const Asked& a, int i, const std::string* piece, bool role, const FakeReply* finish) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", a.chat ? "chatcmpl-fake" : "cmpl-fake")
      .field("object", a.chat ? "chat.completion.chunk" : "text_completion")
      .field("created", 1733000000)
      .field("model", a.model)
      .key("choices")
      .begin_array()
      .begin_object()
      .field("index", i);
  if (a.chat) {
    w.key("delta").begin_object();
    if (role) w.field("role", "assistant").field("content", "");
    if (piece != nullptr) w.field("content", *piece);
    w.end_object();
  } else {
    w.field("text", piece != nullptr ? *piece : std::string());
  }
  w.key("logprobs").null().key("finish_reason");
  if (finish != nullptr) {
    w.value(finish->finish_reason);
  } else {
    w.null();
  }
  if (!a.chat || finish != nullptr) {
    w.key("stop_reason");
    if (finish != nullptr && !finish->stop_reason.empty()) {
      w.value(finish->stop_reason);
    } else {
      w.null();
    }
  }
  w.end_object().end_array().end_object();
  return "data: " + out + "\n\n";
}

// Words with their following space: "a b c" -> "a ", "b ", "c".
std::vector<std::string> pieces_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t sp = text.find(' ', start);
    size_t end = sp == std::string::npos ? text.size() : sp + 1;
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

struct StreamPlan {
  std::vector<std::string> role_frames;
  std::vector<std::string> content_frames;  // interleaved across choices
  std::vector<std::string> tail_frames;     // finishes, usage, [DONE]
};

StreamPlan plan_stream(const Asked& a, const FakeReply& r) {
  StreamPlan p;
  std::vector<std::vector<std::string>> pieces;
  size_t longest = 0;
  for (int i = 0; i < a.n; ++i) {
    if (a.chat) p.role_frames.push_back(chunk(a, i, nullptr, true, nullptr));
    pieces.push_back(pieces_of(text_for(r, i)));
    longest = std::max(longest, pieces.back().size());
  }
  for (size_t k = 0; k < longest; ++k) {
    for (int i = 0; i < a.n; ++i) {
      if (k < pieces[static_cast<size_t>(i)].size()) {
        p.content_frames.push_back(chunk(a, i, &pieces[static_cast<size_t>(i)][k], false, nullptr));
      }
    }
  }
  for (int i = 0; i < a.n; ++i) p.tail_frames.push_back(chunk(a, i, nullptr, false, &r));
  if (a.include_usage) {
    std::string out;
    JsonWriter w(out);
    w.begin_object()
        .field("id", a.chat ? "chatcmpl-fake" : "cmpl-fake")
        .field("object", a.chat ? "chat.completion.chunk" : "text_completion")
        .field("created", 1733000000)
        .field("model", a.model)
        .key("choices")
        .begin_array()
        .end_array();
    write_usage(w, r);
    w.end_object();
    p.tail_frames.push_back("data: " + out + "\n\n");
  }
  p.tail_frames.push_back("data: [DONE]\n\n");
  return p;
}

std::string error_json(int shape, int status, const std::string& message) {
  std::string out;
  JsonWriter w(out);
  if (shape == 0) {
    w.begin_object().key("error").begin_object().field("message", message).field("type", "invalid_request_error");
    w.key("param").null().field("code", status).end_object().end_object();
  } else if (shape == 1) {
    w.begin_object().field("object", "error").field("message", message).field("type", "BadRequestError");
    w.key("param").null().field("code", status).end_object();
  } else {
    w.begin_object().key("error").begin_object().field("code", status).field("message", message);
    w.field("type", "server_error").end_object().end_object();
  }
  return out;
}

}  // namespace

FakeReply FakeReply::text(std::vector<std::string> texts, std::string finish_reason) {
  FakeReply r;
  r.texts = std::move(texts);
  r.finish_reason = std::move(finish_reason);
  return r;
}

FakeReply FakeReply::http_status(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
  FakeReply r;
  r.kind = Kind::status;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

FakeReply FakeReply::rate_limited(int retry_after_s) {
  return http_status(429, error_json(0, 429, "rate limited, slow down"),
                     {{"Retry-After", std::to_string(retry_after_s)}});
}

FakeReply FakeReply::reset_mid_stream(int chunks_before) {
  FakeReply r;
  r.kind = Kind::reset_mid_stream;
  r.chunks_before_fault = chunks_before;
  return r;
}

FakeReply FakeReply::truncated_stream(int chunks_before) {
  FakeReply r;
  r.kind = Kind::truncated_stream;
  r.chunks_before_fault = chunks_before;
  return r;
}

FakeReply FakeReply::stall(std::chrono::milliseconds how_long) {
  FakeReply r;
  r.kind = Kind::stall;
  r.delay = how_long;
  return r;
}

FakeReply FakeReply::malformed_json() {
  FakeReply r;
  r.kind = Kind::malformed_json;
  r.body = "{\"id\":\"chatcmpl-fake\",\"choices\":[{\"index\":0,\"message\":{\"content\":\"trunc";
  return r;
}

FakeReply FakeReply::openai_error(int status, const std::string& message) {
  return http_status(status, error_json(0, status, message));
}
FakeReply FakeReply::flat_error(int status, const std::string& message) {
  return http_status(status, error_json(1, status, message));
}
FakeReply FakeReply::llamacpp_error(int status, const std::string& message) {
  return http_status(status, error_json(2, status, message));
}

FakeVllm::FakeVllm() : shared_(std::make_shared<Shared>()), server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  server_->set_keep_alive_timeout(1);
  server_->set_tcp_nodelay(true);
  auto listen_socket = std::make_shared<socket_t>(-1);
  server_->set_socket_options([listen_socket](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    *listen_socket = sock;
  });
  auto shared = shared_;
  auto handler = [shared](const httplib::Request& req, httplib::Response& res) {
    FakeReply plan;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->received.push_back(ReceivedRequest{req.path, req.body, req.get_header_value("Authorization")});
      if (shared->queue.empty()) {
        plan = shared->fallback;
      } else {
        plan = std::move(shared->queue.front());
        shared->queue.pop_front();
      }
      ++shared->active;
      shared->peak = std::max(shared->peak, shared->active);
    }
    shared->cv.notify_all();
    const Asked asked = read_request(req.path, req.body);

    if (plan.delay.count() > 0 && !shared->wait(plan.delay)) {
      res.status = 503;
      res.set_content(error_json(0, 503, "server stopping"), "application/json");
      shared->leave();
      return;
    }
    switch (plan.kind) {
      case FakeReply::Kind::status:
        res.status = plan.status;
        for (const auto& [k, v] : plan.headers) res.set_header(k, v);
        res.set_content(plan.body, plan.content_type);
        shared->leave();
        return;
      case FakeReply::Kind::malformed_json:
        res.status = 200;
        res.set_content(plan.body, "application/json");
        shared->leave();
        return;
      case FakeReply::Kind::stall:  // the wait above was the stall; then answer normally
      case FakeReply::Kind::reply:
        if (!asked.stream) {
          res.status = 200;
          res.set_content(whole_reply(asked, plan), "application/json");
          shared->leave();
          return;
        }
        break;
      case FakeReply::Kind::reset_mid_stream:
        if (!asked.stream) {  // half a body, then the connection goes
          auto body = std::make_shared<std::string>(whole_reply(asked, plan));
          res.set_content_provider(
              body->size(), "application/json",
              [body](size_t offset, size_t, httplib::DataSink& sink) {
                if (offset > 0) return false;
                sink.write(body->data(), body->size() / 2);
                return true;
              },
              [shared](bool) { shared->leave(); });
          return;
        }
        break;
      case FakeReply::Kind::truncated_stream:
        break;
    }

    // Streams.
    auto frames = std::make_shared<std::vector<std::string>>();
    StreamPlan sp = plan_stream(asked, plan);
    bool reset = false;
    frames->insert(frames->end(), sp.role_frames.begin(), sp.role_frames.end());
    if (plan.kind == FakeReply::Kind::reset_mid_stream || plan.kind == FakeReply::Kind::truncated_stream) {
      size_t k = std::min(sp.content_frames.size(), static_cast<size_t>(std::max(0, plan.chunks_before_fault)));
      frames->insert(frames->end(), sp.content_frames.begin(), sp.content_frames.begin() + static_cast<long>(k));
      reset = plan.kind == FakeReply::Kind::reset_mid_stream;
    } else {
      frames->insert(frames->end(), sp.content_frames.begin(), sp.content_frames.end());
      frames->insert(frames->end(), sp.tail_frames.begin(), sp.tail_frames.end());
    }
    auto next = std::make_shared<size_t>(0);
    const size_t first_pause = sp.role_frames.size() + 1;  // the first content chunk goes out at once
    auto chunk_delay = plan.chunk_delay;
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [frames, next, reset, chunk_delay, first_pause, shared](size_t, httplib::DataSink& sink) {
          if (*next >= frames->size()) {
            if (reset) return false;  // drop the connection without the last chunk
            sink.done();
            return true;
          }
          if (*next >= first_pause && chunk_delay.count() > 0 && !shared->wait(chunk_delay)) return false;
          const std::string& f = (*frames)[(*next)++];
          return sink.write(f.data(), f.size());
        },
        [shared](bool) { shared->leave(); });
  };
  server_->Post("/v1/chat/completions", handler);
  server_->Post("/v1/completions", handler);
  server_->Get("/health", [shared](const httplib::Request&, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->health_checks += 1;
      res.status = shared->health_status;
    }
    shared->cv.notify_all();
  });

  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("FakeVllm: cannot bind a port on 127.0.0.1");
  if (*listen_socket >= 0) ::listen(*listen_socket, 512);  // httplib's backlog of 5 drops bursts
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeVllm::~FakeVllm() { stop(); }

void FakeVllm::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->cv.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void FakeVllm::push(FakeReply reply) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->queue.push_back(std::move(reply));
}

void FakeVllm::set_health_status(int status) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->health_status = status;
}

int FakeVllm::health_checks() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->health_checks;
}

bool FakeVllm::wait_for_health_checks(int count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(shared_->mu);
  return shared_->cv.wait_for(lock, timeout, [&] { return shared_->health_checks >= count; });
}

void FakeVllm::set_default(FakeReply reply) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->fallback = std::move(reply);
}

std::string FakeVllm::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

int FakeVllm::request_count() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return static_cast<int>(shared_->received.size());
}

std::vector<ReceivedRequest> FakeVllm::requests() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->received;
}

std::vector<std::string> FakeVllm::bodies() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  std::vector<std::string> out;
  for (const auto& r : shared_->received) out.push_back(r.body);
  return out;
}

int FakeVllm::peak_concurrency() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->peak;
}

bool FakeVllm::wait_for_requests(int count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(shared_->mu);
  return shared_->cv.wait_for(lock, timeout, [&] { return static_cast<int>(shared_->received.size()) >= count; });
}

}  // namespace troupe::testing
