// The OpenAI-compatible front: a "model" named <workflow>/<backend model>
// runs that workflow on the request's messages; the reply is the run's
// final answer as an ordinary chat completion (POST /v1/chat/completions)
// or Responses API response (POST /v1/responses, text only). The workflow
// decides how it samples, so sampling parameters are refused (400 naming
// the parameter) rather than ignored. See docs/daemon.md.
#include <future>
#include <optional>
#include <set>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/json_writer.hpp"
#include "daemon/http_common.hpp"
#include "engine/json_read.hpp"
#include "engine/wire.hpp"
#include "engine/wire_responses.hpp"
#include "workflows/inputs.hpp"

namespace troupe::daemon {
namespace {

namespace wire = engine::wire;

std::vector<ModelRoute> model_routes(const RunService& svc) {
  const DaemonConfig& cfg = svc.config();
  if (cfg.models_listed) return cfg.models;
  std::vector<ModelRoute> out;
  for (const auto& wf : svc.catalog().names())
    for (const auto& b : cfg.backends)
      out.push_back({wf + "/" + (b.config.model.empty() ? b.name : b.config.model), wf, b.name});
  return out;
}

// The pipeline's question: the last user message; earlier turns, when there
// are any besides a system prompt, come first as a transcript.
std::string question_from(const std::vector<engine::ChatMessage>& messages) {
  int last_user = -1;
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i].role == "user") last_user = static_cast<int>(i);
  if (last_user < 0) return {};
  std::string context;
  for (int i = 0; i < last_user; ++i) {
    const auto& m = messages[static_cast<size_t>(i)];
    context += m.role + ": " + m.content + "\n\n";
  }
  const std::string& q = messages[static_cast<size_t>(last_user)].content;
  return context.empty() ? q : context + "user: " + q;
}

// Usage from a finished run's stored metrics.
engine::Usage usage_of(RunService& svc, const std::string& run_id) {
  engine::Usage u;
  auto rec = svc.get(run_id);
  if (!rec.ok() || !*rec || (*rec)->metrics_json.empty()) return u;
  simdjson::dom::parser parser;
  auto doc = engine::json::parse(parser, (*rec)->metrics_json, "metrics");
  if (!doc.ok()) return u;
  auto obj = engine::json::as_object(*doc, "");
  if (!obj.ok()) return u;
  auto get = [&](const char* key) -> int64_t {
    auto f = engine::json::field(*obj, key);
    if (!f) return 0;
    auto v = engine::json::as_int(*f, key);
    return v.ok() ? *v : 0;
  };
  u.prompt_tokens = get("prompt_tokens");
  u.cached_prompt_tokens = get("cached_prompt_tokens");
  u.completion_tokens = get("completion_tokens");
  return u;
}

// A pipeline produces one answer however it was configured: a parameter
// that would change sampling or the reply's shape (n, logprobs,
// top_logprobs, max_tokens, max_completion_tokens, temperature, top_p,
// top_k, min_p, seed, stop, penalties, tools, response_format, ...) cannot
// be passed to one role of a multi-call pipeline honestly and is refused,
// naming it. Null values and values that ask for what a pipeline does
// anyway (n: 1, stop: [], logprobs: false, tools: [], tool_choice:
// "none"/"auto", ...) are accepted; so are parameters that change nothing
// (user, metadata, store, parallel_tool_calls, service_tier, ...) and keys
// troupe does not know, as on troupe serve. The body has already passed
// wire::parse_request_body, so types are right.
std::optional<std::string> unhonoured_parameter(const std::string& body) {
  static const std::set<std::string_view> refused_unless_noop = {
      "n", "logprobs", "top_logprobs", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
      "min_p", "seed", "stop", "repetition_penalty", "frequency_penalty", "presence_penalty",
      "continue_final_message", "add_generation_prompt", "tools", "tool_choice", "response_format", "functions",
      "function_call", "logit_bias"};
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body).get(obj) != simdjson::SUCCESS) return std::nullopt;
  for (auto field : obj) {
    std::string_view k = field.key;
    simdjson::dom::element v = field.value;
    if (v.is_null() || !refused_unless_noop.count(k)) continue;
    int64_t i = 0;
    bool b = false;
    std::string_view str;
    simdjson::dom::array arr;
    simdjson::dom::object o;
    if (k == "n" && v.get_int64().get(i) == simdjson::SUCCESS && i == 1) continue;
    if (v.get_array().get(arr) == simdjson::SUCCESS && arr.size() == 0) continue;
    if (v.get_object().get(o) == simdjson::SUCCESS && o.size() == 0) continue;
    if ((k == "logprobs" || k == "continue_final_message") && v.get_bool().get(b) == simdjson::SUCCESS && !b)
      continue;
    if (k == "logprobs" && v.get_int64().get(i) == simdjson::SUCCESS && i == 0) continue;
    if (k == "top_logprobs" && v.get_int64().get(i) == simdjson::SUCCESS && i == 0) continue;
    if (k == "add_generation_prompt" && v.get_bool().get(b) == simdjson::SUCCESS && b) continue;
    if ((k == "tool_choice" || k == "function_call") && v.get_string().get(str) == simdjson::SUCCESS &&
        (str == "none" || str == "auto"))
      continue;
    if (k == "response_format" && v.get_object().get(o) == simdjson::SUCCESS && o.size() == 1 &&
        o["type"].get_string().get(str) == simdjson::SUCCESS && str == "text")
      continue;
    return std::string(k);
  }
  return std::nullopt;
}

struct Pending {
  std::promise<memory::RunRecord> promise;
  std::shared_future<memory::RunRecord> future;
  std::string run_id;
  bool finished = false;
};

// The Responses API's parameters a pipeline cannot honour (the others are
// checked by wire::parse_responses_request).
std::optional<std::string> unhonoured_responses_parameter(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body).get(obj) != simdjson::SUCCESS) return std::nullopt;
  for (const char* k : {"max_output_tokens", "temperature", "top_p"}) {
    simdjson::dom::element v;
    if (obj[k].get(v) == simdjson::SUCCESS && !v.is_null()) return std::string(k);
  }
  return std::nullopt;
}

// Answers POST /v1/chat/completions, or POST /v1/responses when
// `responses` (the same run, in the Responses API's shapes).
void chat(engine::GuardedHttpServer& server, RunService& svc, const httplib::Request& req, httplib::Response& res,
          bool responses) {
  Result<wire::IncomingRequest> in = Error{ErrorCode::internal, "unparsed"};
  if (responses) {
    auto r = wire::parse_responses_request(req.body);
    if (r.ok()) {
      in = std::move(r->chat);
    } else {
      in = r.error();
    }
  } else {
    in = wire::parse_request_body(req.body, wire::Api::chat);
  }
  if (!in.ok()) return send_error(res, 400, in.error().message, wire::error_param(in.error()));
  if (auto param = responses ? unhonoured_responses_parameter(req.body) : unhonoured_parameter(req.body))
    return send_error(res, 400,
                      *param + ": not supported by a pipeline model (the workflow's roles decide how they sample, "
                               "and the pipeline answers with one choice and no logprobs); leave it out or send "
                               "null",
                      *param);
  const std::string model = in->request.model;
  const ModelRoute* route = nullptr;
  auto routes = model_routes(svc);
  for (const auto& r : routes)
    if (r.name == model) route = &r;
  if (!route) return send_error(res, 404, "model '" + model + "' does not exist (see GET /v1/models)", "model");
  std::string question = question_from(in->request.messages);
  if (question.empty()) return send_error(res, 400, "messages: at least one user message is needed", "messages");

  wire::ReplyMeta meta{new_id(responses ? "resp" : "chatcmpl"), model, now_unix_ms() / 1000};
  wire::ResponsesMeta rmeta;
  rmeta.id = meta.id;
  rmeta.item_id = new_id("msg");
  rmeta.model = model;
  rmeta.created = meta.created;
  std::string line;
  JsonWriter w(line);
  w.begin_object().field("id", meta.id).field("question", question).end_object();
  auto input = workflows::JsonlInputs::parse_line(line, "request", 1);
  if (!input.ok()) return send_error(res, 400, input.error().message);

  // The request holds its thread until the run ends.
  auto slot = std::make_shared<engine::GuardedHttpServer::StreamSlot>(server.try_stream_slot());
  if (!*slot)
    return send_error(res, 503,
                      "too many completions and event streams open (max_event_streams: " +
                          std::to_string(svc.config().max_event_streams) + "); retry later");

  auto pending = std::make_shared<Pending>();
  pending->future = pending->promise.get_future().share();
  SubmitRequest sub;
  sub.workflow = route->workflow;
  sub.backend = route->backend;
  sub.inputs.push_back(std::move(input.value()));
  sub.on_end = [pending](const memory::RunRecord& r) { pending->promise.set_value(r); };
  auto ids = svc.submit(std::move(sub));
  if (!ids.ok()) return send_error(res, status_for(ids.error()), ids.error().message);
  pending->run_id = ids->front();
  res.set_header("X-Troupe-Run-Id", pending->run_id);

  auto result_of = [&svc, meta](const memory::RunRecord& r) {
    engine::GenerateResult g;
    g.model = meta.model;
    engine::Choice c;
    c.text = r.answer;
    c.finish = engine::FinishReason::stop;
    g.choices.push_back(std::move(c));
    g.usage = usage_of(svc, r.id);
    return g;
  };

  if (!in->stream) {
    // Nobody reads the answer of a client that left: cancel its run.
    bool gone = false;
    while (pending->future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (!gone && engine::GuardedHttpServer::client_gone()) {
        gone = true;
        (void)svc.cancel(pending->run_id);
      }
    }
    memory::RunRecord r = pending->future.get();
    if (r.status != memory::RunStatus::succeeded)
      return send_error(res, r.status == memory::RunStatus::failed ? 500 : 503,
                        "run " + r.id + " " + memory::to_string(r.status) + (r.error.empty() ? "" : ": " + r.error));
    engine::GenerateResult g = result_of(r);
    res.set_content(responses ? wire::write_response_object(rmeta, &g, nullptr)
                              : wire::write_response_body(g, wire::Api::chat, meta),
                    "application/json");
    return;
  }

  bool include_usage = in->include_usage;
  res.set_header("Cache-Control", "no-cache");
  auto role_sent = std::make_shared<bool>(false);
  // A Responses stream: its events and their sequence numbers.
  auto events = std::make_shared<std::optional<wire::ResponsesStream>>();
  if (responses) events->emplace(rmeta);
  res.set_chunked_content_provider(
      "text/event-stream",
      [&svc, pending, meta, include_usage, role_sent, result_of, events](size_t, httplib::DataSink& sink) {
        if (!*role_sent) {
          *role_sent = true;
          std::string out;
          if (*events) {
            out = (*events)->begin();
          } else {
            wire::StreamPiece p;
            p.with_role = true;
            out = wire::sse_frame(wire::write_stream_chunk(wire::Api::chat, meta, p));
          }
          return sink.write(out.data(), out.size());
        }
        if (pending->future.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
          static constexpr char kComment[] = ": keep-alive\n\n";
          return sink.write(kComment, sizeof(kComment) - 1);
        }
        const memory::RunRecord& r = pending->future.get();
        pending->finished = true;
        std::string out;
        const int status = r.status == memory::RunStatus::failed ? 500 : 503;
        const std::string failure =
            "run " + r.id + " " + memory::to_string(r.status) + (r.error.empty() ? "" : ": " + r.error);
        if (*events) {
          if (r.status == memory::RunStatus::succeeded) {
            engine::GenerateResult g = result_of(r);
            out += (*events)->delta(g.choices[0].text);
            out += (*events)->finish(g);
          } else {
            out += (*events)->fail(Error{ErrorCode::internal, failure}, status);
          }
        } else {
          if (r.status == memory::RunStatus::succeeded) {
            engine::GenerateResult g = result_of(r);
            wire::StreamPiece p;
            p.text = g.choices[0].text;
            p.finish = engine::FinishReason::stop;
            out += wire::sse_frame(wire::write_stream_chunk(wire::Api::chat, meta, p));
            if (include_usage) out += wire::sse_frame(wire::write_usage_chunk(wire::Api::chat, meta, g.usage));
          } else {
            out += wire::sse_frame(
                wire::write_error_body(failure, "server_error", "", wire::error_code_for_status(status)));
          }
          out += "data: [DONE]\n\n";
        }
        if (!sink.write(out.data(), out.size())) return false;
        sink.done();
        return true;
      },
      [&svc, pending, slot](bool) {
        // The client went away before the answer: the run is not wanted.
        if (!pending->finished) (void)svc.cancel(pending->run_id);
        *slot = {};
      });
}

}  // namespace

void install_openai_routes(engine::GuardedHttpServer& server, RunService& svc) {
  server.Post("/v1/chat/completions", [&server, &svc](const httplib::Request& req, httplib::Response& res) {
    chat(server, svc, req, res, false);
  });
  server.Post("/v1/responses", [&server, &svc](const httplib::Request& req, httplib::Response& res) {
    chat(server, svc, req, res, true);
  });
  auto write_model = [](JsonWriter& w, const ModelRoute& r) {
    w.begin_object().field("id", r.name).field("object", "model").field("created", 0LL);
    w.field("owned_by", "troupe").field("workflow", r.workflow).field("backend", r.backend).end_object();
  };
  server.Get("/v1/models", [&svc, write_model](const httplib::Request&, httplib::Response& res) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("object", "list").key("data").begin_array();
    for (const auto& r : model_routes(svc)) write_model(w, r);
    w.end_array().end_object();
    res.set_content(out, "application/json");
  });
  // A model id holds a '/' (<workflow>/<backend model>): the rest of the path.
  server.Get(R"(/v1/models/(.+))", [&svc, write_model](const httplib::Request& req, httplib::Response& res) {
    for (const auto& r : model_routes(svc)) {
      if (r.name != req.matches[1]) continue;
      std::string out;
      JsonWriter w(out);
      write_model(w, r);
      return res.set_content(out, "application/json");
    }
    send_error(res, 404, "model '" + sanitize_utf8(std::string(req.matches[1])) + "' does not exist (see GET /v1/models)",
               "model");
  });
}

}  // namespace troupe::daemon
