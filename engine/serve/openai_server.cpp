#include "engine/serve/openai_server.hpp"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/json_writer.hpp"
#include "engine/wire.hpp"

namespace troupe::engine {
namespace {

void send_error(httplib::Response& res, int status, std::string_view message, std::string_view type,
                std::string_view param = {}) {
  res.status = status;
  res.set_content(wire::write_error_body(message, type, param, status), "application/json");
}

int status_for(const Error& e) {
  switch (e.code) {
    case ErrorCode::invalid_argument:
    case ErrorCode::unsupported:
      return 400;
    case ErrorCode::http:
      return (e.http_status >= 400 && e.http_status < 500) ? e.http_status : 502;
    case ErrorCode::network:
      return 502;
    case ErrorCode::timeout:
      return 504;
    case ErrorCode::cancelled:
      return 503;
    default:
      return 500;
  }
}

const char* type_for(int status) {
  if (status == 401) return "authentication_error";
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "server_error";
}

// What a backend reported for one streamed request; filled on backend
// threads, drained by the connection's content provider.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<int, std::string>> deltas;
  std::optional<Result<GenerateResult>> final;
  // Provider-thread only.
  std::vector<bool> role_sent;
  std::vector<size_t> streamed;
  bool finished = false;
  bool cancel_sent = false;  // cancelled because the server is stopping
};

}  // namespace

struct OpenAIServer::Impl {
  std::shared_ptr<Backend> backend;
  Options opts;
  std::unique_ptr<GuardedHttpServer> guarded;  // made by install()
  std::atomic<int64_t> client_disconnects{0};
  std::thread thread;
  int port = 0;
  socket_t listen_socket = -1;
  bool started = false;
  bool stopped = false;
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards `active`
  std::unordered_set<std::string> active;

  void track(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    active.insert(id);
  }
  void untrack(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    active.erase(id);
  }

  bool authorized(const httplib::Request& req) const {
    if (opts.bearer_token.empty()) return true;
    return tokens_equal(req.get_header_value("Authorization"), "Bearer " + opts.bearer_token);
  }

  std::string metrics_text() {
    std::string out =
        "# HELP troupe_serve_client_disconnects_total Non-streamed requests cancelled because the client closed the "
        "connection.\n# TYPE troupe_serve_client_disconnects_total counter\ntroupe_serve_client_disconnects_total " +
        std::to_string(client_disconnects.load()) + "\n";
    GuardedHttpServer::Counts c = guarded->counts();
    out += "# HELP troupe_serve_connections_refused_total Connections answered 503 at the connection cap (new or "
           "evicted while sending their header).\n# TYPE troupe_serve_connections_refused_total counter\n"
           "troupe_serve_connections_refused_total " + std::to_string(c.rejected + c.evicted) + "\n";
    out += "# HELP troupe_serve_header_timeouts_total Connections closed with 408: no complete header in time.\n"
           "# TYPE troupe_serve_header_timeouts_total counter\ntroupe_serve_header_timeouts_total " +
           std::to_string(c.header_timeouts) + "\n";
    size_t in_flight = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      in_flight = active.size();
    }
    out += "# HELP troupe_serve_requests_in_flight Requests submitted to the backend and not yet answered.\n"
           "# TYPE troupe_serve_requests_in_flight gauge\ntroupe_serve_requests_in_flight " +
           std::to_string(in_flight) + "\n";
    if (opts.metrics) out += opts.metrics();
    return out;
  }

  void install() {
    guarded = std::make_unique<GuardedHttpServer>(opts.limits, [](std::string_view method, std::string_view path) {
      return method == "GET" && (path == "/health" || path == "/v1/models" || path == "/metrics");
    });
    httplib::Server& server = *guarded;
    server.set_payload_max_length(opts.max_body_bytes);
    // httplib's default adds SO_REUSEPORT, which lets a second server bind a
    // port in use; keep SO_REUSEADDR only, so "port in use" is an error.
    server.set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
      listen_socket = sock;
    });
    // Without it, a reply's header and body writes meet Nagle + delayed ACK
    // (40 ms per request).
    server.set_tcp_nodelay(true);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
      if (!authorized(req)) {
        GuardedHttpServer::close_after_reply();  // the body, if any, is not read
        send_error(res, 401, "invalid or missing API key", "authentication_error");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (auto type = non_json_content_type(req)) {
        GuardedHttpServer::close_after_reply();
        send_error(res, 415, "Content-Type '" + *type + "' is not supported: send the body as application/json",
                   "invalid_request_error", "Content-Type");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.status == 413) GuardedHttpServer::close_after_reply();  // the body was not read
      if (!res.body.empty()) return;
      if (res.status == 413) {
        send_error(res, 413, "request body too large", "invalid_request_error");
      } else if (res.status == 404) {
        send_error(res, 404, "no such route", "invalid_request_error");
      } else {
        send_error(res, res.status, "request failed", type_for(res.status));
      }
    });
    server.Post("/v1/chat/completions",
                [this](const httplib::Request& req, httplib::Response& res) { complete(req, res, wire::Api::chat); });
    server.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      complete(req, res, wire::Api::completions);
    });
    server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      std::string out;
      JsonWriter w(out);
      w.begin_object().field("object", "list").key("data").begin_array().begin_object();
      w.field("id", opts.model).field("object", "model").field("created", static_cast<long long>(now_unix_ms() / 1000));
      w.field("owned_by", "troupe").end_object().end_array().end_object();
      res.set_content(out, "application/json");
    });
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });
  }

  void complete(const httplib::Request& req, httplib::Response& res, wire::Api api) {
    if (stopping) return send_error(res, 503, "server is stopping", "server_error");
    auto in = wire::parse_request_body(req.body, api);
    if (!in.ok()) {
      return send_error(res, 400, in.error().message, "invalid_request_error", wire::error_param(in.error()));
    }
    GenerateRequest request = std::move(in->request);
    // As vLLM: a model name other than the served one is 404.
    if (!request.model.empty() && request.model != opts.model)
      return send_error(res, 404, "The model `" + request.model + "` does not exist.", "NotFoundError", "model");
    request.id = new_id(api == wire::Api::chat ? "chatcmpl" : "cmpl");
    wire::ReplyMeta meta{request.id, request.model.empty() ? opts.model : request.model, now_unix_ms() / 1000};
    if (in->stream) return stream(res, api, std::move(request), meta, in->include_usage);

    auto promise = std::make_shared<std::promise<Result<GenerateResult>>>();
    auto future = promise->get_future();
    const std::string id = request.id;
    track(id);
    backend->submit(std::move(request), [promise](Result<GenerateResult> r) { promise->set_value(std::move(r)); });
    // Nobody reads a reply whose client left: watch the connection while
    // the backend works and cancel the request when it closes.
    bool gone = false;
    while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (!gone && GuardedHttpServer::client_gone()) {
        gone = true;
        client_disconnects.fetch_add(1);  // counted before the cancel, so a cancel seen means a count seen
        backend->cancel(id);
      }
    }
    Result<GenerateResult> result = future.get();
    untrack(id);
    if (gone) {
      GuardedHttpServer::close_after_reply();
      return send_error(res, 499, "client closed the connection; request cancelled", "invalid_request_error");
    }
    if (!result.ok()) {
      int status = status_for(result.error());
      return send_error(res, status, result.error().message, type_for(status));
    }
    res.set_content(wire::write_response_body(*result, api, meta), "application/json");
  }

  void stream(httplib::Response& res, wire::Api api, GenerateRequest request, const wire::ReplyMeta& meta,
              bool include_usage) {
    auto state = std::make_shared<StreamState>();
    const int n = request.sampling.n;
    state->role_sent.assign(static_cast<size_t>(n), false);
    state->streamed.assign(static_cast<size_t>(n), 0);
    // With tools the text may turn out to be a call: it is sent whole at
    // the end (content and delta.tool_calls), not as it is generated.
    const bool hold_text = !request.tools.empty() && request.tool_choice != ToolChoice::none;
    if (!hold_text) request.on_delta = [state](int index, const std::string& text) {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->deltas.emplace_back(index, text);
      }
      state->cv.notify_all();
    };
    const std::string id = request.id;
    track(id);
    backend->submit(std::move(request), [state](Result<GenerateResult> r) {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->final.emplace(std::move(r));
      }
      state->cv.notify_all();
    });
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, state, api, meta, include_usage, id](size_t, httplib::DataSink& sink) {
          return pump(*state, sink, api, meta, include_usage, id);
        },
        [this, state, id](bool) {
          if (!state->finished) backend->cancel(id);
          untrack(id);
        });
  }

  // One step of a stream: waits for deltas or the end and writes them.
  bool pump(StreamState& st, httplib::DataSink& sink, wire::Api api, const wire::ReplyMeta& meta, bool include_usage,
            const std::string& id) {
    std::deque<std::pair<int, std::string>> deltas;
    std::optional<Result<GenerateResult>> final;
    {
      std::unique_lock<std::mutex> lock(st.mu);
      bool ready = st.cv.wait_for(lock, std::chrono::milliseconds(opts.keepalive_ms),
                                  [&] { return !st.deltas.empty() || st.final.has_value() || (stopping.load() && !st.cancel_sent); });
      if (!ready) {
        lock.unlock();
        static constexpr char kComment[] = ": keep-alive\n\n";
        if (!sink.write(kComment, sizeof(kComment) - 1)) {
          backend->cancel(id);
          return false;
        }
        return true;
      }
      deltas.swap(st.deltas);
      if (st.final) final.emplace(std::move(*st.final));
      if (!final && deltas.empty()) {  // stopping, and the backend has not answered yet
        st.cancel_sent = true;
        lock.unlock();
        backend->cancel(id);
        return true;  // the cancellation's callback ends the stream
      }
    }
    std::string out;
    auto in_range = [&](int i) { return i >= 0 && static_cast<size_t>(i) < st.streamed.size(); };
    for (const auto& [index, text] : deltas) {
      if (!in_range(index)) continue;
      wire::StreamPiece piece;
      piece.index = index;
      piece.text = text;
      piece.with_role = api == wire::Api::chat && !st.role_sent[static_cast<size_t>(index)];
      st.role_sent[static_cast<size_t>(index)] = true;
      st.streamed[static_cast<size_t>(index)] += text.size();
      out += wire::sse_frame(wire::write_stream_chunk(api, meta, piece));
    }
    if (final) {
      if (final->ok()) {
        for (const Choice& c : (*final)->choices) {
          if (!in_range(c.index)) continue;
          size_t done = st.streamed[static_cast<size_t>(c.index)];
          wire::StreamPiece piece;
          piece.index = c.index;
          if (done <= c.text.size()) piece.text = std::string_view(c.text).substr(done);
          piece.with_role = api == wire::Api::chat && !st.role_sent[static_cast<size_t>(c.index)];
          piece.finish = c.finish;
          piece.stop_string = c.stop_string;
          piece.logprobs = &c.logprobs;
          if (!c.tool_calls.empty()) {
            // The calls in a chunk of their own, then the finish.
            wire::StreamPiece calls = piece;
            calls.finish.reset();
            calls.tool_calls = &c.tool_calls;
            calls.logprobs = nullptr;
            out += wire::sse_frame(wire::write_stream_chunk(api, meta, calls));
            piece.text = {};
            piece.with_role = false;
            piece.finish_tool_calls = true;
          }
          out += wire::sse_frame(wire::write_stream_chunk(api, meta, piece));
        }
        if (include_usage) out += wire::sse_frame(wire::write_usage_chunk(api, meta, (*final)->usage));
      } else {
        int status = status_for(final->error());
        out += wire::sse_frame(wire::write_error_body(final->error().message, type_for(status), "", status));
      }
      out += "data: [DONE]\n\n";
      st.finished = true;
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      if (!st.finished) backend->cancel(id);
      return false;
    }
    if (st.finished) sink.done();
    return true;
  }
};

OpenAIServer::OpenAIServer(std::shared_ptr<Backend> backend, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->backend = std::move(backend);
  impl_->opts = std::move(options);
}

OpenAIServer::~OpenAIServer() { stop(); }

Status OpenAIServer::start() {
  Impl& s = *impl_;
  if (s.started) return Error{ErrorCode::invalid_argument, "openai server: already started"};
  if (!s.backend) return Error{ErrorCode::invalid_argument, "openai server: no backend"};
  s.install();
  int port = -1;
  if (s.opts.port == 0) {
    port = s.guarded->bind_to_any_port(s.opts.host);
  } else if (s.guarded->bind_to_port(s.opts.host, s.opts.port)) {
    port = s.opts.port;
  }
  if (port <= 0) {
    return Error{ErrorCode::network, "openai server: cannot listen on " + s.opts.host + ":" +
                                         std::to_string(s.opts.port) + " (address in use or not available)"};
  }
  // httplib 0.11 listens with a backlog of 5: a burst of new connections
  // overflows it and clients wait a second for SYN retransmission. Linux
  // lets listen() on a listening socket raise the backlog.
  if (s.listen_socket >= 0) ::listen(s.listen_socket, 512);
  s.port = port;
  s.started = true;
  s.thread = std::thread([&s] { s.guarded->listen_after_bind(); });
  // listen_after_bind() marks the server running before accepting; stop()
  // before that point would be missed.
  for (int i = 0; i < 5000 && !s.guarded->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!s.guarded->is_running()) {
    s.guarded->stop();
    return Error{ErrorCode::internal, "openai server: did not start listening"};
  }
  return {};
}

void OpenAIServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    ids.assign(s.active.begin(), s.active.end());
  }
  for (const auto& id : ids) s.backend->cancel(id);
  s.guarded->stop();
  if (s.thread.joinable()) s.thread.join();
}

int OpenAIServer::port() const { return impl_->port; }

std::string OpenAIServer::base_url() const {
  return "http://" + impl_->opts.host + ":" + std::to_string(impl_->port);
}

}  // namespace troupe::engine
