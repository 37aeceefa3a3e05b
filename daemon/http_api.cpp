#include "daemon/http_api.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "common/json_writer.hpp"
#include "daemon/http_common.hpp"
#include "engine/json_read.hpp"
#include "engine/serve/http_listener.hpp"
#include "engine/wire.hpp"
#include "memory/export.hpp"
#include "memory/step_json.hpp"
#include "daemon/web_files.hpp"
#include "workflows/inputs.hpp"

namespace troupe::daemon {

namespace json = engine::json;

void send_error(httplib::Response& res, int status, std::string_view message, std::string_view param) {
  const char* type = status == 401   ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status < 500  ? "invalid_request_error"
                                     : "server_error";
  res.status = status;
  res.set_content(engine::wire::write_error_body(message, type, param, engine::wire::error_code_for_status(status)), "application/json");
}

int status_for(const Error& e) {
  switch (e.code) {
    case ErrorCode::invalid_argument:
    case ErrorCode::parse:
    case ErrorCode::unsupported:
      return 400;
    case ErrorCode::not_found:
      return 404;
    case ErrorCode::cancelled:
      return 503;
    default:
      return 500;
  }
}

std::string run_json(const memory::RunRecord& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("id", r.id)
      .field("status", memory::to_string(r.status))
      .field("workflow", r.workflow)
      .field("workflow_hash", r.workflow_hash)
      .field("pipeline", r.pipeline)
      .field("item_id", r.item_id);
  w.key("input");
  if (r.input_json.empty()) w.null();
  else w.raw(r.input_json);
  w.field("answer", r.answer);
  w.key("correct");
  if (r.correct) w.value(*r.correct);
  else w.null();
  w.field("error", r.error);
  w.key("metrics");
  if (r.metrics_json.empty()) w.null();
  else w.raw(r.metrics_json);
  w.field("created_ms", static_cast<long long>(r.created_ms)).field("updated_ms", static_cast<long long>(r.updated_ms));
  w.end_object();
  return out;
}

namespace {

std::string sse_event(const RunEvent& e) {
  return "id: " + std::to_string(e.id) + "\nevent: " + e.type + "\ndata: " + e.data + "\n\n";
}

// POST /v1/runs body -> SubmitRequest.
Result<SubmitRequest> parse_submit(const std::string& body) {
  simdjson::dom::parser parser;
  auto root = json::parse(parser, body, "request body");
  if (!root.ok()) return Error{ErrorCode::invalid_argument, root.error().message};
  auto obj = json::as_object(*root, "");
  if (!obj.ok()) return Error{ErrorCode::invalid_argument, "request body: expected a JSON object"};
  SubmitRequest req;
  for (auto [key, value] : *obj) {
    std::string k(key);
    if (k == "workflow" || k == "workflow_yaml" || k == "backend" || k == "idempotency_key") {
      auto s = json::as_string(value, k);
      if (!s.ok()) return Error{ErrorCode::invalid_argument, s.error().message};
      (k == "workflow"        ? req.workflow
       : k == "workflow_yaml" ? req.workflow_yaml
       : k == "backend"       ? req.backend
                              : req.idempotency_key) = std::string(*s);
    } else if (k == "inputs" || k == "input") {
      std::vector<simdjson::dom::element> items;
      if (k == "inputs") {
        auto arr = json::as_array(value, k);
        if (!arr.ok()) return Error{ErrorCode::invalid_argument, arr.error().message};
        for (auto e : *arr) items.push_back(e);
      } else {
        items.push_back(value);
      }
      for (size_t i = 0; i < items.size(); ++i) {
        // Errors read "inputs:N: ..." with N the 1-based position (also the
        // default item id, as for a JSONL line).
        if (!items[i].is_object())
          return Error{ErrorCode::invalid_argument, k + ":" + std::to_string(i + 1) + ": expected an object"};
        std::string line = simdjson::minify(items[i]);
        auto in = workflows::JsonlInputs::parse_line(line, k, static_cast<int64_t>(i + 1));
        if (!in.ok()) return Error{ErrorCode::invalid_argument, in.error().message};
        req.inputs.push_back(std::move(in.value()));
      }
    } else {
      return Error{ErrorCode::invalid_argument,
                   k + ": unknown field (expected workflow or workflow_yaml, backend, inputs or input, idempotency_key)"};
    }
  }
  return req;
}

// The seqs of the steps a resumed run replayed from its journal: the
// receipt in the run's metrics marks replayed calls by key, and the
// journal maps each key to the steps it recorded.
std::set<uint64_t> replayed_seqs(memory::Store& store, const memory::RunRecord& run) {
  std::set<uint64_t> out;
  if (run.metrics_json.empty()) return out;
  simdjson::dom::parser parser;
  simdjson::dom::element metrics;
  if (parser.parse(run.metrics_json).get(metrics)) return out;
  int64_t replayed = 0;
  if (metrics["replayed_calls"].get(replayed) || replayed <= 0) return out;
  std::set<std::string> keys;
  simdjson::dom::array receipt;
  if (metrics["receipt"].get(receipt)) return out;
  for (auto e : receipt) {
    bool was_replayed = false;
    std::string_view key;
    if (!e["replayed"].get(was_replayed) && was_replayed && !e["key"].get(key)) keys.insert(std::string(key));
  }
  if (keys.empty()) return out;
  auto calls = store.read_calls(run.id);
  if (!calls.ok()) return out;
  for (const auto& c : *calls)
    if (keys.count(c.key)) out.insert(c.step_seqs.begin(), c.step_seqs.end());
  return out;
}

// GET /v1/runs/{id}/steps: the run, every step in full (memory's api shape:
// prompt, usage, sampling, meta, token ids and logprobs), the run's
// preference pairs and which steps were replayed.
std::string trajectory_json(const memory::RunRecord& run, const std::vector<memory::StepRecord>& steps,
                            const std::vector<memory::PairRecord>& pairs, const std::set<uint64_t>& replayed) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("run").raw(run_json(run)).key("steps").begin_array();
  for (const auto& s : steps) {
    w.begin_object();
    memory::write_step_fields(w, s, memory::StepShape::api);
    w.field("replayed", replayed.count(s.seq) > 0);
    w.end_object();
  }
  w.end_array().key("pairs").begin_array();
  for (const auto& p : pairs) {
    w.begin_object().field("id", p.id).key("prompt").begin_array();
    for (const auto& m : p.prompt) w.begin_object().field("role", m.role).field("content", m.content).end_object();
    w.end_array().field("chosen", p.chosen).field("rejected", p.rejected).key("source_steps").begin_array();
    for (uint64_t seq : p.source_steps) w.value(static_cast<unsigned long long>(seq));
    w.end_array().field("reason", p.reason).field("margin", p.margin).field("created_ms",
                                                                           static_cast<long long>(p.created_ms));
    w.end_object();
  }
  w.end_array().end_object();
  return out;
}

// A viewer file with its headers (see web_files.hpp).
void serve_web_file(const WebFile& f, httplib::Response& res) {
  res.set_header("Content-Security-Policy", std::string(kViewerCsp));
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-cache");
  res.set_content(f.body.data(), f.body.size(), std::string(f.content_type));
}

// Routes answered on the guard's quick threads: they only read.
bool quick_route(std::string_view method, std::string_view path) {
  if (method != "GET") return false;
  if (path == "/health" || path == "/metrics" || path == "/v1/models") return true;
  if (find_web_file(path)) return true;
  constexpr std::string_view runs = "/v1/runs/";
  return path.size() > runs.size() && path.substr(0, runs.size()) == runs &&
         path.find('/', runs.size()) == std::string_view::npos;
}

engine::HttpLimits limits_of(const DaemonConfig& cfg) {
  engine::HttpLimits l;
  l.max_connections = cfg.max_connections;
  l.workers = cfg.http_threads;
  l.max_streams = cfg.max_event_streams;
  l.header_timeout_s = cfg.header_timeout_s;
  l.read_timeout_s = cfg.read_timeout_s;
  l.write_timeout_s = cfg.write_timeout_s;
  return l;
}

}  // namespace

struct ApiServer::Impl {
  RunService& svc;
  std::unique_ptr<engine::GuardedHttpServer> guarded;  // made by install()
  engine::HttpListener listener;
  bool started = false, stopped = false;
  std::atomic<bool> stopping{false};

  explicit Impl(RunService& s) : svc(s) {}

  void install() {
    const DaemonConfig& cfg = svc.config();
    guarded = std::make_unique<engine::GuardedHttpServer>(limits_of(cfg), quick_route);
    httplib::Server& server = *guarded;
    server.set_payload_max_length(cfg.max_body_bytes);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      svc.metrics().http_request();
      if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
      // The viewer's files are public (they hold no data); every API call
      // the page makes carries the token.
      if (req.method == "GET" || req.method == "HEAD") {
        if (const WebFile* f = find_web_file(req.path)) {
          serve_web_file(*f, res);
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      const std::string& token = svc.config().token;
      if (!token.empty() && !engine::tokens_equal(req.get_header_value("Authorization"), "Bearer " + token)) {
        engine::GuardedHttpServer::close_after_reply();  // the body, if any, is not read
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, 401, "missing or wrong bearer token (Authorization: Bearer <token>)");
        return httplib::Server::HandlerResponse::Handled;
      }
      // httplib would parse a form body itself (with an 8 KiB limit): every
      // body here is JSON.
      if (auto type = engine::non_json_content_type(req)) {
        engine::GuardedHttpServer::close_after_reply();
        send_error(res, 415, "Content-Type '" + *type + "' is not supported: send the body as application/json",
                   "Content-Type");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.status == 413) engine::GuardedHttpServer::close_after_reply();  // the body was not read
      if (!res.body.empty()) return;
      if (res.status == 413) send_error(res, 413, "request body too large");
      else if (res.status == 404) send_error(res, 404, "no such route");
      else send_error(res, res.status, "request failed");
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what += std::string(": ") + e.what();
      } catch (...) {
      }
      send_error(res, 500, what);
    });

    server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(svc.metrics_text(), "text/plain; version=0.0.4");
    });
    server.Post("/v1/runs", [this](const httplib::Request& req, httplib::Response& res) { submit(req, res); });
    server.Get("/v1/runs", [this](const httplib::Request& req, httplib::Response& res) { list(req, res); });
    server.Get(R"(/v1/runs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto r = svc.get(req.matches[1]);
      if (!r.ok()) return send_error(res, status_for(r.error()), r.error().message);
      if (!*r) return send_error(res, 404, no_run(std::string(req.matches[1])));
      res.set_content(run_json(**r), "application/json");
    });
    server.Delete(R"(/v1/runs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::string id = req.matches[1];
      auto c = svc.cancel(id);
      if (!c.ok()) return send_error(res, status_for(c.error()), c.error().message);
      switch (*c) {
        case CancelResult::not_found:
          return send_error(res, 404, no_run(id));
        case CancelResult::already_finished:
          return send_error(res, 409, "run '" + id + "' has already finished");
        case CancelResult::cancelled:
          res.status = 200;
          res.set_content("{\"id\":" + json_quote(id) + ",\"status\":\"cancelled\"}", "application/json");
          return;
        case CancelResult::requested:
          res.status = 202;
          res.set_content("{\"id\":" + json_quote(id) + ",\"status\":\"cancelling\"}", "application/json");
          return;
      }
    });
    server.Get(R"(/v1/runs/([^/]+)/events)",
               [this](const httplib::Request& req, httplib::Response& res) { events(req, res); });
    server.Get("/v1/events", [this](const httplib::Request&, httplib::Response& res) { status_stream(res); });
    server.Get(R"(/v1/runs/([^/]+)/steps)",
               [this](const httplib::Request& req, httplib::Response& res) { trajectory(req, res); });
    server.Get(R"(/v1/runs/([^/]+)/export)",
               [this](const httplib::Request& req, httplib::Response& res) { export_run(req, res); });
    install_openai_routes(*guarded, svc);
  }

  // A run this daemon's store does not hold. With NATS, a run is stored by
  // the daemon that executed it (docs/scale-out.md).
  std::string no_run(const std::string& id) const {
    std::string out = "no run '" + id + "'";
    if (!svc.config().nats.url.empty())
      out += " in this daemon's store: runs shared through NATS are stored by the daemon that ran them; ask the "
             "others, or merge the stores with `troupe export --store A --store B ...`";
    return out;
  }

  void submit(const httplib::Request& req, httplib::Response& res) {
    auto parsed = parse_submit(req.body);
    if (!parsed.ok()) return send_error(res, 400, parsed.error().message);
    if (req.has_header("Idempotency-Key")) {
      std::string key = req.get_header_value("Idempotency-Key");
      if (!parsed->idempotency_key.empty() && parsed->idempotency_key != key)
        return send_error(res, 400, "idempotency_key: the body's and the Idempotency-Key header's differ");
      parsed->idempotency_key = key;
    }
    auto ids = svc.submit(std::move(parsed.value()));
    if (!ids.ok()) return send_error(res, status_for(ids.error()), ids.error().message);
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("run_ids").begin_array();
    for (const auto& id : *ids) w.value(id);
    w.end_array().end_object();
    res.status = 202;
    res.set_header("Location", "/v1/runs/" + ids->front());
    res.set_content(out, "application/json");
  }

  void list(const httplib::Request& req, httplib::Response& res) {
    std::optional<memory::RunStatus> status;
    if (req.has_param("status")) {
      status = memory::run_status_from_string(req.get_param_value("status"));
      if (!status)
        return send_error(res, 400, "status: expected queued, running, succeeded, failed, cancelled or interrupted", "status");
    }
    size_t limit = 100;
    if (req.has_param("limit")) {
      std::string v = req.get_param_value("limit");
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
      if (ec != std::errc() || p != v.data() + v.size() || limit < 1 || limit > 1000)
        return send_error(res, 400, "limit: expected an integer from 1 to 1000", "limit");
    }
    auto runs = svc.list(status, req.get_param_value("workflow"), req.get_param_value("after"), limit);
    if (!runs.ok()) return send_error(res, status_for(runs.error()), runs.error().message);
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("runs").begin_array();
    for (const auto& r : *runs) w.raw(run_json(r));
    w.end_array();
    if (runs->size() == limit) w.field("next_after", runs->back().id);
    w.end_object();
    res.set_content(out, "application/json");
  }

  // GET /v1/events: run status changes of every run (event_hub.hpp,
  // kAllRunsKey). A ": ready" comment first says the subscription is in
  // place (list GET /v1/runs after it to miss nothing); then the events as
  // they come, a keep-alive comment each idle second, until shutdown.
  void status_stream(httplib::Response& res) {
    auto slot = std::make_shared<engine::GuardedHttpServer::StreamSlot>(guarded->try_stream_slot());
    if (!*slot)
      return send_error(res, 503,
                        "too many event streams open (max_event_streams: " +
                            std::to_string(svc.config().max_event_streams) + "); retry later");
    auto sub = svc.hub().subscribe(kAllRunsKey);
    auto greeted = std::make_shared<bool>(false);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, sub, greeted](size_t, httplib::DataSink& sink) {
          if (!*greeted) {
            *greeted = true;
            static constexpr char kReady[] = ": ready\n\n";
            return sink.write(kReady, sizeof(kReady) - 1);
          }
          auto events = sub->wait(std::chrono::milliseconds(1000));
          if (events.empty()) {
            if (sub->closed() || stopping) {
              sink.done();
              return true;
            }
            static constexpr char kComment[] = ": keep-alive\n\n";
            return sink.write(kComment, sizeof(kComment) - 1);
          }
          for (const auto& e : events) {
            std::string frame = sse_event(e);
            if (!sink.write(frame.data(), frame.size())) return false;
          }
          return true;
        },
        [this, sub, slot](bool) {
          svc.hub().unsubscribe(kAllRunsKey, sub);
          *slot = {};
        });
  }

  void trajectory(const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    auto run = svc.get(id);
    if (!run.ok()) return send_error(res, status_for(run.error()), run.error().message);
    if (!*run) return send_error(res, 404, no_run(id));
    auto steps = svc.store().read_steps(id);
    if (!steps.ok()) return send_error(res, status_for(steps.error()), steps.error().message);
    std::vector<memory::PairRecord> pairs;
    Status scan = svc.store().for_each_pair([&](const memory::PairRecord& p) {
      if (p.run_id == id) pairs.push_back(p);
      return true;
    });
    if (!scan.ok()) return send_error(res, status_for(scan.error()), scan.error().message);
    res.set_content(trajectory_json(**run, *steps, pairs, replayed_seqs(svc.store(), **run)), "application/json");
  }

  // The run's fine-tuning rows, written by memory/'s exporters.
  void export_run(const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    std::string name = req.has_param("format") ? req.get_param_value("format") : "";
    auto format = memory::parse_export_format(name);
    if (!format.ok() || (*format != memory::ExportFormat::sft && *format != memory::ExportFormat::dpo &&
                         *format != memory::ExportFormat::kto))
      return send_error(res, 400, "format: expected sft, dpo or kto", "format");
    auto run = svc.get(id);
    if (!run.ok()) return send_error(res, status_for(run.error()), run.error().message);
    if (!*run) return send_error(res, 404, no_run(id));
    memory::ExportFilter filter;
    filter.run_id = id;
    std::ostringstream rows;
    auto stats = memory::export_jsonl(svc.store(), *format, filter, rows);
    if (!stats.ok()) return send_error(res, status_for(stats.error()), stats.error().message);
    res.set_header("Content-Disposition", "attachment; filename=\"" + id + "-" + name + ".jsonl\"");
    res.set_header("X-Troupe-Rows", std::to_string(stats->rows));
    res.set_content(rows.str(), "application/x-ndjson");
  }

  // State of one event stream, used by the connection's thread only.
  struct Stream {
    engine::GuardedHttpServer::StreamSlot slot;  // held until the stream ends
    std::string run_id;
    std::shared_ptr<Subscription> sub;
    memory::RunRecord record;  // read after subscribing
    int64_t last = -1;         // the highest event id the client has
    bool caught_up = false, done = false;
  };

  void events(const httplib::Request& req, httplib::Response& res) {
    auto st = std::make_shared<Stream>();
    st->run_id = req.matches[1];
    std::string last = req.get_header_value("Last-Event-ID");
    if (last.empty() && req.has_param("last_event_id")) last = req.get_param_value("last_event_id");
    if (!last.empty()) {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(last.data(), last.data() + last.size(), v);
      if (ec != std::errc() || p != last.data() + last.size())
        return send_error(res, 400, "Last-Event-ID: expected an event id (a non-negative integer)", "Last-Event-ID");
      st->last = static_cast<int64_t>(v);
    }
    st->slot = guarded->try_stream_slot();
    if (!st->slot)
      return send_error(res, 503,
                        "too many event streams open (max_event_streams: " +
                            std::to_string(svc.config().max_event_streams) + "); retry later");
    // Subscribe before reading, so nothing published from here on is missed.
    st->sub = svc.hub().subscribe(st->run_id);
    auto rec = svc.get(st->run_id);
    if (!rec.ok() || !*rec) {
      svc.hub().unsubscribe(st->run_id, st->sub);
      if (!rec.ok()) return send_error(res, status_for(rec.error()), rec.error().message);
      return send_error(res, 404, no_run(st->run_id));
    }
    st->record = std::move(**rec);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream", [this, st](size_t, httplib::DataSink& sink) { return pump(*st, sink); },
        [this, st](bool) {
          svc.hub().unsubscribe(st->run_id, st->sub);
          st->slot = {};
        });
  }

  bool send(Stream& st, httplib::DataSink& sink, const RunEvent& e) {
    if (st.done || static_cast<int64_t>(e.id) <= st.last) return true;
    std::string frame = sse_event(e);
    st.last = static_cast<int64_t>(e.id);
    if (e.type == "end") st.done = true;
    return sink.write(frame.data(), frame.size());
  }

  bool pump(Stream& st, httplib::DataSink& sink) {
    if (!st.caught_up) {
      // What is committed already comes from the store.
      st.caught_up = true;
      auto steps = svc.store().read_steps(st.run_id);
      if (!steps.ok()) return false;
      for (const auto& s : *steps)
        if (!send(st, sink, RunEvent{s.seq, "step", step_event_json(s, 0)})) return false;
      bool finished = st.record.status != memory::RunStatus::queued && st.record.status != memory::RunStatus::running;
      if (finished) {
        if (!send(st, sink, RunEvent{steps->size(), "end", end_event_json(st.record, steps->size())})) return false;
        st.done = true;
      }
    }
    if (!st.done) {
      auto events = st.sub->wait(std::chrono::milliseconds(1000));
      if (events.empty()) {
        if (st.sub->closed() || stopping) {
          sink.done();
          return true;
        }
        static constexpr char kComment[] = ": keep-alive\n\n";
        return sink.write(kComment, sizeof(kComment) - 1);
      }
      for (const auto& e : events)
        if (!send(st, sink, e)) return false;
    }
    if (st.done) sink.done();
    return true;
  }
};

ApiServer::ApiServer(RunService& service) : impl_(std::make_unique<Impl>(service)) {}
ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() {
  Impl& s = *impl_;
  if (s.started) return Error{ErrorCode::invalid_argument, "daemon server: already started"};
  s.install();
  const DaemonConfig& cfg = s.svc.config();
  // HttpListener: SO_REUSEADDR only (a port in use is an error), TCP_NODELAY, backlog 512.
  if (Status st = s.listener.start(*s.guarded, cfg.host, cfg.port, "daemon server"); !st) return st;
  s.started = true;
  return {};
}

void ApiServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  s.svc.hub().close_all();
  s.listener.stop();
}

int ApiServer::port() const { return impl_->listener.port(); }
std::string ApiServer::base_url() const {
  return "http://" + impl_->svc.config().host + ":" + std::to_string(impl_->listener.port());
}

}  // namespace troupe::daemon
