#include "engine/serve/openai_server.hpp"

#include <httplib.h>

#include <algorithm>
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
#include "engine/serve/http_listener.hpp"
#include "engine/wire_responses.hpp"

namespace troupe::engine {
namespace {

void send_error(httplib::Response& res, int status, std::string_view message, std::string_view type,
                std::string_view param = {}) {
  res.status = status;
  if (status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_content(wire::write_error_body(message, type, param, wire::error_code_for_status(status)),
                  "application/json");
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

// One piece a backend reported while streaming: text, or one token's logprobs.
struct StreamEvent {
  int index = 0;  // the choice, across all prompts of the request
  std::string text;
  std::optional<TokenLogprob> logprob;
};

// What the backend reported for one streamed request (all its prompts);
// filled on backend threads, drained by the connection's content provider.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<StreamEvent> events;
  std::vector<std::optional<Result<GenerateResult>>> parts;  // one per prompt
  size_t parts_left = 0;
  std::optional<Result<GenerateResult>> final;  // all parts, merged
  // Provider-thread only.
  std::vector<bool> role_sent;
  std::vector<size_t> streamed;        // text bytes sent per choice
  std::vector<size_t> logprobs_sent;   // logprob entries sent per choice
  std::vector<std::vector<TokenLogprob>> pending;  // logprobs not sent yet
  std::optional<wire::ResponsesStream> responses;  // set for /v1/responses
  bool finished = false;
  bool cancel_sent = false;  // cancelled because the server is stopping
};

// The results of a request's prompts as one: choice k of prompt p becomes
// index p * n + k, usage is summed; the first error wins.
Result<GenerateResult> merge_parts(std::vector<std::optional<Result<GenerateResult>>>& parts, int n) {
  if (parts.size() == 1) return std::move(*parts[0]);
  GenerateResult out;
  for (size_t p = 0; p < parts.size(); ++p) {
    if (!parts[p]->ok()) return parts[p]->error();
    GenerateResult& r = parts[p]->value();
    if (p == 0) {
      out.request_id = r.request_id;
      out.model = r.model;
    }
    for (auto& c : r.choices) {
      c.index += static_cast<int>(p) * n;
      out.choices.push_back(std::move(c));
    }
    out.usage.prompt_tokens += r.usage.prompt_tokens;
    out.usage.cached_prompt_tokens += r.usage.cached_prompt_tokens;
    out.usage.completion_tokens += r.usage.completion_tokens;
    out.latency_ms = std::max(out.latency_ms, r.latency_ms);
  }
  return out;
}

// The backend requests of one HTTP request: one per prompt (completions
// may send several); ids are the reply's id, then id-1, id-2, ...
std::vector<GenerateRequest> split_prompts(const GenerateRequest& request, const std::vector<std::string>& prompts) {
  std::vector<GenerateRequest> out;
  if (prompts.size() <= 1) {
    out.push_back(request);
    return out;
  }
  for (size_t p = 0; p < prompts.size(); ++p) {
    GenerateRequest r = request;
    r.prompt = prompts[p];
    if (p > 0) r.id = request.id + "-" + std::to_string(p);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

struct OpenAIServer::Impl {
  std::shared_ptr<Backend> backend;
  Options opts;
  std::unique_ptr<GuardedHttpServer> guarded;  // made by install()
  std::atomic<int64_t> client_disconnects{0};
  HttpListener listener;
  bool started = false;
  bool stopped = false;
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards `active`
  std::unordered_set<std::string> active;
  int64_t started_at = now_unix_ms() / 1000;

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
      return method == "GET" && (path == "/health" || path == "/v1/models" || path.rfind("/v1/models/", 0) == 0 ||
                                 path == "/metrics");
    });
    httplib::Server& server = *guarded;
    server.set_payload_max_length(opts.max_body_bytes);
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
    server.Post("/v1/responses", [this](const httplib::Request& req, httplib::Response& res) { respond(req, res); });
    server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      std::string out;
      JsonWriter w(out);
      w.begin_object().field("object", "list").key("data").begin_array();
      write_model(w);
      w.end_array().end_object();
      res.set_content(out, "application/json");
    });
    server.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] != opts.model)
        return send_error(res, 404, "The model `" + sanitize_utf8(std::string(req.matches[1])) + "` does not exist.",
                          "invalid_request_error", "model");
      std::string out;
      JsonWriter w(out);
      write_model(w);
      res.set_content(out, "application/json");
    });
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });
  }

  void write_model(JsonWriter& w) const {
    w.begin_object().field("id", opts.model).field("object", "model").field("created", static_cast<long long>(started_at));
    w.field("owned_by", "troupe").end_object();
  }

  // Checks shared by every generating route; false: `res` holds the error.
  bool admissible(httplib::Response& res, const GenerateRequest& request) {
    if (stopping) {
      send_error(res, 503, "server is stopping", "server_error");
      return false;
    }
    // As vLLM: a model name other than the served one is 404.
    if (!request.model.empty() && request.model != opts.model) {
      send_error(res, 404, "The model `" + request.model + "` does not exist.", "invalid_request_error", "model");
      return false;
    }
    if (request.kind == PromptKind::chat && !opts.chat_unavailable.empty()) {
      send_error(res, 400, opts.chat_unavailable, "invalid_request_error", "messages");
      return false;
    }
    return true;
  }

  void complete(const httplib::Request& req, httplib::Response& res, wire::Api api) {
    auto in = wire::parse_request_body(req.body, api);
    if (!in.ok()) {
      return send_error(res, 400, in.error().message, "invalid_request_error", wire::error_param(in.error()));
    }
    GenerateRequest request = std::move(in->request);
    if (!admissible(res, request)) return;
    if (!in->max_tokens_set && opts.default_max_tokens > 0) request.sampling.max_tokens = opts.default_max_tokens;
    request.id = new_id(api == wire::Api::chat ? "chatcmpl" : "cmpl");
    wire::ReplyMeta meta{request.id, request.model.empty() ? opts.model : request.model, now_unix_ms() / 1000};
    // One prompt's ids per reply: a list of prompts would need ids per prompt.
    if (request.return_token_ids && in->prompts.size() > 1) {
      return send_error(res, 400, "return_token_ids: takes one prompt, not a list of " +
                                      std::to_string(in->prompts.size()), "invalid_request_error", "return_token_ids");
    }
    meta.token_ids = request.return_token_ids && !in->stream;
    auto parts = split_prompts(request, in->prompts);
    if (in->stream) return stream(res, api, std::move(parts), meta, in->include_usage, std::nullopt);
    Result<GenerateResult> result = run(std::move(parts), request.sampling.n);
    if (!result.ok()) return send_failure(res, result.error());
    res.set_content(wire::write_response_body(*result, api, meta), "application/json");
  }

  void respond(const httplib::Request& req, httplib::Response& res) {
    auto in = wire::parse_responses_request(req.body);
    if (!in.ok()) {
      return send_error(res, 400, in.error().message, "invalid_request_error", wire::error_param(in.error()));
    }
    GenerateRequest request = std::move(in->chat.request);
    if (!admissible(res, request)) return;
    if (!in->chat.max_tokens_set && opts.default_max_tokens > 0) request.sampling.max_tokens = opts.default_max_tokens;
    request.id = new_id("resp");
    wire::ResponsesMeta meta;
    meta.id = request.id;
    meta.item_id = new_id("msg");
    meta.model = request.model.empty() ? opts.model : request.model;
    meta.created = now_unix_ms() / 1000;
    meta.instructions = in->instructions;
    meta.max_output_tokens = in->max_output_tokens;
    meta.temperature = request.sampling.temperature;
    meta.top_p = request.sampling.top_p;
    std::vector<GenerateRequest> parts;
    parts.push_back(std::move(request));
    if (in->chat.stream) {
      wire::ReplyMeta reply{meta.id, meta.model, meta.created};
      return stream(res, wire::Api::chat, std::move(parts), reply, false, std::move(meta));
    }
    Result<GenerateResult> result = run(std::move(parts), 1);
    if (!result.ok()) return send_failure(res, result.error());
    res.set_content(wire::write_response_object(meta, &*result, nullptr), "application/json");
  }

  void send_failure(httplib::Response& res, const Error& e) {
    if (e.code == ErrorCode::cancelled && e.message == kClientGone) {
      GuardedHttpServer::close_after_reply();
      return send_error(res, 499, "client closed the connection; request cancelled", "invalid_request_error");
    }
    int status = status_for(e);
    send_error(res, status, e.message, type_for(status));
  }

  static constexpr const char* kClientGone = "client closed the connection";

  // Runs a non-streamed request (one backend request per prompt) and waits
  // for it, cancelling it when the client closes the connection.
  Result<GenerateResult> run(std::vector<GenerateRequest> parts, int n) {
    struct Gather {
      std::mutex mu;
      std::vector<std::optional<Result<GenerateResult>>> parts;
      size_t left = 0;
      std::promise<void> all;
    };
    auto g = std::make_shared<Gather>();
    g->parts.resize(parts.size());
    g->left = parts.size();
    std::vector<std::string> ids;
    for (const auto& p : parts) ids.push_back(p.id);
    for (const auto& id : ids) track(id);
    for (size_t p = 0; p < parts.size(); ++p) {
      backend->submit(std::move(parts[p]), [g, p](Result<GenerateResult> r) {
        std::lock_guard<std::mutex> lock(g->mu);
        g->parts[p].emplace(std::move(r));
        if (--g->left == 0) g->all.set_value();
      });
    }
    auto future = g->all.get_future();
    // Nobody reads a reply whose client left: watch the connection while
    // the backend works and cancel the request when it closes.
    bool gone = false;
    while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (!gone && GuardedHttpServer::client_gone()) {
        gone = true;
        client_disconnects.fetch_add(1);  // counted before the cancel, so a cancel seen means a count seen
        for (const auto& id : ids) backend->cancel(id);
      }
    }
    for (const auto& id : ids) untrack(id);
    if (gone) return Error{ErrorCode::cancelled, kClientGone};
    std::lock_guard<std::mutex> lock(g->mu);
    return merge_parts(g->parts, n);
  }

  void stream(httplib::Response& res, wire::Api api, std::vector<GenerateRequest> parts, const wire::ReplyMeta& meta,
              bool include_usage, std::optional<wire::ResponsesMeta> responses) {
    auto state = std::make_shared<StreamState>();
    const int n = parts.front().sampling.n;
    const size_t choices = parts.size() * static_cast<size_t>(n);
    state->role_sent.assign(choices, false);
    state->streamed.assign(choices, 0);
    state->logprobs_sent.assign(choices, 0);
    state->pending.assign(choices, {});
    state->parts.resize(parts.size());
    state->parts_left = parts.size();
    if (responses) state->responses.emplace(std::move(*responses));
    std::vector<std::string> ids;
    for (const auto& p : parts) ids.push_back(p.id);
    for (const auto& id : ids) track(id);
    for (size_t p = 0; p < parts.size(); ++p) {
      const int base = static_cast<int>(p) * n;
      // With tools the text may turn out to be a call: it is sent whole at
      // the end (content and delta.tool_calls), not as it is generated.
      const bool hold_text = !parts[p].tools.empty() && parts[p].tool_choice != ToolChoice::none;
      if (!hold_text)
        parts[p].on_delta = [state, base](int index, const std::string& text) {
          {
            std::lock_guard<std::mutex> lock(state->mu);
            state->events.push_back({base + index, text, std::nullopt});
          }
          state->cv.notify_all();
        };
      parts[p].on_logprobs = [state, base](int index, const TokenLogprob& lp) {
        std::lock_guard<std::mutex> lock(state->mu);
        state->events.push_back({base + index, {}, lp});  // sent with the next text of this choice
      };
      backend->submit(std::move(parts[p]), [state, p, n](Result<GenerateResult> r) {
        {
          std::lock_guard<std::mutex> lock(state->mu);
          state->parts[p].emplace(std::move(r));
          if (--state->parts_left == 0) state->final.emplace(merge_parts(state->parts, n));
        }
        state->cv.notify_all();
      });
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, state, api, meta, include_usage, ids](size_t, httplib::DataSink& sink) {
          return pump(*state, sink, api, meta, include_usage, ids);
        },
        [this, state, ids](bool) {
          for (const auto& id : ids) {
            if (!state->finished) backend->cancel(id);
            untrack(id);
          }
        });
  }

  // One step of a stream: waits for deltas or the end and writes them.
  bool pump(StreamState& st, httplib::DataSink& sink, wire::Api api, const wire::ReplyMeta& meta, bool include_usage,
            const std::vector<std::string>& ids) {
    auto cancel_all = [&] {
      for (const auto& id : ids) backend->cancel(id);
    };
    std::deque<StreamEvent> events;
    std::optional<Result<GenerateResult>> final;
    std::string out;
    if (st.responses && !st.role_sent[0]) {
      st.role_sent[0] = true;
      out += st.responses->begin();
    }
    {
      std::unique_lock<std::mutex> lock(st.mu);
      bool ready = !out.empty() ||
                   st.cv.wait_for(lock, std::chrono::milliseconds(opts.keepalive_ms), [&] {
                     return !st.events.empty() || st.final.has_value() || (stopping.load() && !st.cancel_sent);
                   });
      if (!ready) {
        lock.unlock();
        static constexpr char kComment[] = ": keep-alive\n\n";
        if (!sink.write(kComment, sizeof(kComment) - 1)) {
          cancel_all();
          return false;
        }
        return true;
      }
      events.swap(st.events);
      if (st.final) final.emplace(std::move(*st.final));
      if (!final && events.empty() && out.empty()) {  // stopping, and the backend has not answered yet
        st.cancel_sent = true;
        lock.unlock();
        cancel_all();
        return true;  // the cancellation's callback ends the stream
      }
    }
    auto in_range = [&](int i) { return i >= 0 && static_cast<size_t>(i) < st.streamed.size(); };
    // A choice's chunk: its text and the logprobs of the tokens since its last chunk.
    // A choice's tool calls (chat) come in a chunk of their own, with the
    // text, before the finish chunk, whose finish_reason is "tool_calls".
    auto chunk = [&](int index, std::string_view text, std::optional<FinishReason> finish,
                     std::string_view stop_string, const std::vector<ToolCall>* tool_calls = nullptr) {
      auto i = static_cast<size_t>(index);
      wire::StreamPiece piece;
      piece.index = index;
      piece.text = text;
      piece.with_role = api == wire::Api::chat && !st.role_sent[i];
      piece.finish = finish;
      piece.stop_string = stop_string;
      piece.logprobs = st.pending[i].empty() ? nullptr : &st.pending[i];
      piece.text_offset = st.streamed[i];
      st.role_sent[i] = true;
      st.streamed[i] += text.size();
      st.logprobs_sent[i] += st.pending[i].size();
      if (tool_calls && !tool_calls->empty()) {
        wire::StreamPiece calls = piece;
        calls.finish.reset();
        calls.stop_string = {};
        calls.logprobs = nullptr;
        calls.tool_calls = tool_calls;
        out += wire::sse_frame(wire::write_stream_chunk(api, meta, calls));
        piece.text = {};
        piece.with_role = false;
        piece.text_offset = st.streamed[i];
        piece.finish_tool_calls = true;
      }
      out += wire::sse_frame(wire::write_stream_chunk(api, meta, piece));
      st.pending[i].clear();
    };
    for (auto& e : events) {
      if (!in_range(e.index)) continue;
      if (e.logprob) {
        st.pending[static_cast<size_t>(e.index)].push_back(std::move(*e.logprob));
        continue;
      }
      if (st.responses) {
        st.streamed[0] += e.text.size();
        out += st.responses->delta(e.text);
        continue;
      }
      chunk(e.index, e.text, std::nullopt, {});
    }
    if (final) {
      if (final->ok() && st.responses) {
        const auto& cs = (*final)->choices;
        if (!cs.empty() && st.streamed[0] < cs[0].text.size())
          out += st.responses->delta(std::string_view(cs[0].text).substr(st.streamed[0]));
        out += st.responses->finish(**final);
      } else if (final->ok()) {
        for (const Choice& c : (*final)->choices) {
          if (!in_range(c.index)) continue;
          auto i = static_cast<size_t>(c.index);
          size_t done = st.streamed[i];
          // Logprobs a backend did not stream come with the last chunk.
          for (size_t k = st.logprobs_sent[i] + st.pending[i].size(); k < c.logprobs.size(); ++k)
            st.pending[i].push_back(c.logprobs[k]);
          chunk(c.index, done <= c.text.size() ? std::string_view(c.text).substr(done) : std::string_view(),
                c.finish, c.stop_string, &c.tool_calls);
        }
        if (include_usage) out += wire::sse_frame(wire::write_usage_chunk(api, meta, (*final)->usage));
      } else {
        int status = status_for(final->error());
        if (st.responses) {
          out += st.responses->fail(final->error(), status);
        } else {
          out += wire::sse_frame(wire::write_error_body(final->error().message, type_for(status), "",
                                                        wire::error_code_for_status(status)));
        }
      }
      if (!st.responses) out += "data: [DONE]\n\n";
      st.finished = true;
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      if (!st.finished) cancel_all();
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
  // HttpListener: SO_REUSEADDR only (a port in use is an error), TCP_NODELAY, backlog 512.
  if (Status st = s.listener.start(*s.guarded, s.opts.host, s.opts.port, "openai server"); !st) return st;
  s.started = true;
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
  s.listener.stop();
}

int OpenAIServer::port() const { return impl_->listener.port(); }

std::string OpenAIServer::base_url() const {
  return "http://" + impl_->opts.host + ":" + std::to_string(impl_->listener.port());
}

}  // namespace troupe::engine
