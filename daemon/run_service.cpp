#include "daemon/run_service.hpp"
#include "engine/router/router_backend.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include <spdlog/spdlog.h>

#include "actors/engine_gateway.hpp"
#include "actors/run_cancellation.hpp"
#include "actors/run_director.hpp"
#include "actors/store_writer.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "daemon/nats_queue.hpp"
#include "daemon/shared_run.hpp"
#include "workflows/inputs.hpp"
#include "workflows/runner.hpp"
#include "workflows/workflow_actors.hpp"

namespace troupe::daemon {
namespace {

int64_t now_unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool terminal(memory::RunStatus s) {
  return s == memory::RunStatus::succeeded || s == memory::RunStatus::failed || s == memory::RunStatus::cancelled ||
         s == memory::RunStatus::interrupted;
}

// Ended for good: a redelivered run in one of these states is not run again.
bool ended(memory::RunStatus s) {
  return s == memory::RunStatus::succeeded || s == memory::RunStatus::failed || s == memory::RunStatus::cancelled;
}

}  // namespace

struct RunService::Impl {
  DaemonConfig cfg;
  WorkflowCatalog catalog;
  std::shared_ptr<memory::Store> store;
  std::map<std::string, std::shared_ptr<engine::Backend>> backends;  // by name
  std::map<std::string, std::string> backend_by_key;                 // backend_key -> name
  std::unique_ptr<caf::actor_system_config> sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  actors::store_writer writer;
  std::map<std::string, actors::engine_gateway> gateways;  // by backend name
  EventHub hub;
  Metrics metrics;
  int64_t resumed = 0;

  // A workflow in use: its role actors, shared by its runs.
  struct Binding {
    workflows::WorkflowActors actors;
    std::string backend;
    int runs = 0;
  };
  struct Active {
    actors::run_director director;
    std::string binding;  // workflow hash
    std::function<void(const memory::RunRecord&)> on_end;
  };

  std::mutex mu;
  std::condition_variable idle_cv;
  std::deque<std::string> queue;
  std::map<std::string, std::function<void(const memory::RunRecord&)>> queued_on_end;
  std::map<std::string, Active> active;
  std::map<std::string, std::shared_ptr<Binding>> bindings;
  bool stopping = false;   // no new submissions or launches
  bool abandoning = false; // shutdown is stopping directors: their end is not a failure
  bool shut = false;
  std::unique_ptr<NatsQueue> nats;  // config.nats.url: work shared with other daemons
  std::mutex keyed_mu;              // one keyed submission at a time (check, then write)

  // Sends `w` to the store writer and waits for it to be durable.
  Status write(actors::StoreWrite w) {
    caf::scoped_actor self{*sys};
    Status result;
    self->request(writer, caf::infinite, std::move(w))
        .receive(
            [&](actors::StoreAck& ack) {
              if (!ack.ok) result = Error{ErrorCode::io, "store write failed: " + ack.error};
            },
            [&](caf::error& e) { result = Error{ErrorCode::internal, "store writer: " + sys->render(e)}; });
    return result;
  }

  const NamedBackend* named_backend(const std::string& name) const {
    for (const auto& b : cfg.backends)
      if (b.name == name) return &b;
    return nullptr;
  }

  // The bound workflow a request names (checked: it parses, its pipeline
  // builds). Not stored yet.
  Result<BoundWorkflow> resolve(const std::string& workflow, const std::string& workflow_yaml,
                                const std::string& backend) {
    if (workflow.empty() == workflow_yaml.empty())
      return Error{ErrorCode::invalid_argument, "give either workflow (a name) or workflow_yaml (inline text)"};
    const NamedBackend* nb = named_backend(backend);
    if (!nb) return Error{ErrorCode::invalid_argument, "backend: no backend named '" + backend + "'"};
    std::string text, where;
    workflows::LoadOptions trust = catalog.load_options();
    if (!workflow.empty()) {
      auto e = catalog.find(workflow);
      if (!e.ok()) return e.error();
      text = (*e)->text;
      where = (*e)->path;
    } else {
      // From the client: may not name programs, files or environment variables.
      text = workflow_yaml;
      where = "inline.yaml";
      trust.trusted = false;
    }
    auto bound = bind_workflow(text, where, *nb, trust);
    if (!bound.ok()) return bound.error();
    auto factory = workflows::make_pipeline_factory(bound->workflow);
    if (!factory.ok()) return factory.error();
    return bound;
  }

  // The binding for a stored workflow text, spawning its roles on first use.
  // Called with `mu` held.
  Result<std::shared_ptr<Binding>> binding_for(const std::string& hash) {
    auto it = bindings.find(hash);
    if (it != bindings.end()) return it->second;
    auto text = store->get_blob(hash);
    if (!text.ok()) return text.error();
    if (!*text) return Error{ErrorCode::not_found, "the run's workflow text (blob " + hash + ") is not in the store"};
    // Stored texts were checked when submitted (an inline one names no file
    // or program); file params still must stay in the workflows folder.
    auto wf = workflows::parse_workflow(**text, catalog.dir() + "/stored-" + hash.substr(0, 12) + ".yaml",
                                        catalog.load_options());
    if (!wf.ok()) return wf.error().with_context("stored workflow");
    auto bk = backend_by_key.find(backend_key(wf->backend));
    if (bk == backend_by_key.end())
      return Error{ErrorCode::not_found,
                   "the run's backend (" + workflows::to_string(wf->backend.kind) + " " + wf->backend.model +
                       ") is no longer configured in " + cfg.file};
    // The name the workflow had when submitted (the stored text's name key
    // is absent for files: keep the record's).
    auto wa = workflows::spawn_workflow_actors(*sys, std::move(wf.value()), gateways.at(bk->second),
                                               backends.at(bk->second)->info());
    if (!wa.ok()) return wa.error();
    auto b = std::make_shared<Binding>();
    b->actors = std::move(wa.value());
    b->backend = bk->second;
    // Keep the cache small: forget workflows no run uses.
    if (bindings.size() >= 64) {
      for (auto i = bindings.begin(); i != bindings.end();) {
        if (i->second->runs == 0) {
          workflows::stop_workflow_actors(i->second->actors);
          i = bindings.erase(i);
        } else {
          ++i;
        }
      }
    }
    bindings.emplace(hash, b);
    return b;
  }

  void publish_end(const memory::RunRecord& r, uint64_t steps) {
    if (hub.watched(r.id)) hub.publish(r.id, RunEvent{steps, "end", end_event_json(r, steps)});
    publish_status(r.id, memory::to_string(r.status));
  }

  // A status change on the daemon-wide stream (GET /v1/events).
  std::atomic<uint64_t> status_events{0};
  void publish_status(const std::string& id, std::string_view status) {
    if (hub.watched(kAllRunsKey))
      hub.publish(kAllRunsKey, RunEvent{++status_events, "run", run_status_event_json(id, status)});
  }

  // Launches queued runs while there is room.
  void launch_ready() {
    std::vector<std::pair<memory::RunRecord, std::function<void(const memory::RunRecord&)>>> failed;
    {
      std::lock_guard<std::mutex> lock(mu);
      while (!stopping && !queue.empty() && static_cast<int>(active.size()) < cfg.concurrency) {
        std::string id = std::move(queue.front());
        queue.pop_front();
        std::function<void(const memory::RunRecord&)> on_end;
        if (auto q = queued_on_end.find(id); q != queued_on_end.end()) {
          on_end = std::move(q->second);
          queued_on_end.erase(q);
        }
        auto rec = store->get_run(id);
        if (!rec.ok() || !*rec) {
          spdlog::error("run {}: cannot read its queued record: {}", id,
                        rec.ok() ? "not found" : rec.error().describe());
          continue;
        }
        memory::RunRecord r = std::move(**rec);
        if (terminal(r.status)) continue;  // cancelled while queued
        auto input = workflows::JsonlInputs::parse_line(r.input_json, "run " + id, 1);
        auto b = input.ok() ? binding_for(r.workflow_hash) : Result<std::shared_ptr<Binding>>(input.error());
        if (!b.ok()) {
          r.status = memory::RunStatus::failed;
          r.error = b.error().describe();
          r.updated_ms = now_unix_ms();
          failed.emplace_back(std::move(r), std::move(on_end));
          continue;
        }
        std::shared_ptr<Binding> binding = *b;
        input->item_id = r.item_id;
        actors::DirectorConfig dc = workflows::director_config(binding->actors, id, std::move(input.value()),
                                                               gateways.at(binding->backend), writer);
        dc.workflow = r.workflow;  // the name it was submitted under
        dc.origin = r.origin;      // a run fetched from NATS stays one (start() leaves it to JetStream)
        dc.journal = store;
        Impl* self = this;
        dc.on_step = [self](const memory::StepRecord& s) { self->on_step(s); };
        auto director = actors::spawn_run_director(*sys, std::move(dc));
        binding->runs += 1;
        active.emplace(id, Active{director, r.workflow_hash, std::move(on_end)});
        watch(id, director);
        publish_status(id, "running");
      }
    }
    for (auto& [r, cb] : failed) {
      spdlog::error("run {}: cannot start: {}", r.id, r.error);
      actors::StoreWrite w;
      w.runs.push_back(r);
      (void)write(std::move(w));
      metrics.run_ended("failed");
      publish_end(r, 0);
      if (cb) cb(r);
    }
  }

  // A small actor per run: starts the director and reports how it ended.
  void watch(const std::string& id, actors::run_director director) {
    Impl* self_impl = this;
    // The watcher's init function outlives its call: a handle captured by
    // value would keep the finished director (and, through its config, the
    // store writer) alive. The holder is emptied once the request is out.
    // The holder is a spawn argument, not a capture: CAF 0.17 dereferences
    // the (null) argument tuple of an init function that takes none, which
    // UBSan reports.
    auto holder = std::make_shared<actors::run_director>(std::move(director));
    sys->spawn([self_impl, id](caf::event_based_actor* self, std::shared_ptr<actors::run_director> holder) {
      actors::run_director d = std::move(*holder);
      *holder = nullptr;
      self->monitor(d);
      self->set_down_handler([self_impl, id, self](caf::down_msg& dm) {
        self_impl->on_lost(id, self->system().render(dm.reason));
        self->quit();
      });
      self->request(d, caf::infinite, actors::start_atom_v)
          .then([self_impl, self](actors::RunOutcome& o) {
            self_impl->on_outcome(o);
            self->quit();
          },
                [self_impl, id, self](caf::error& e) {
                  self_impl->on_lost(id, self->system().render(e));
                  self->quit();
                });
    }, holder);
  }

  void on_step(const memory::StepRecord& s) {
    bool first = s.prompt_tokens > 0 || s.cached_prompt_tokens > 0;
    metrics.step(s.prompt_tokens, s.completion_tokens, s.latency_ms, first);
    if (hub.watched(s.run_id)) hub.publish(s.run_id, RunEvent{s.seq, "step", step_event_json(s, now_unix_us())});
  }

  // Removes a finished run from the executing set; returns its callback.
  std::function<void(const memory::RunRecord&)> retire(const std::string& id, bool* found) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = active.find(id);
    *found = it != active.end();
    if (!*found) return {};
    auto cb = std::move(it->second.on_end);
    auto b = bindings.find(it->second.binding);
    if (b != bindings.end()) b->second->runs -= 1;
    active.erase(it);
    idle_cv.notify_all();
    return cb;
  }

  void on_outcome(const actors::RunOutcome& o) {
    bool found = false;
    auto cb = retire(o.run_id, &found);
    if (!found) return;
    memory::RunRecord r;
    r.id = o.run_id;
    r.item_id = o.item_id;
    r.status = memory::run_status_from_string(o.status).value_or(memory::RunStatus::failed);
    r.answer = o.answer;
    r.error = o.error;
    metrics.run_ended(o.status);
    publish_end(r, static_cast<uint64_t>(o.steps));
    if (cb) cb(r);
    launch_ready();
  }

  // The director stopped without an outcome (or shutdown stopped it).
  void on_lost(const std::string& id, const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (abandoning) return;  // left `running` for the next start
    }
    bool found = false;
    auto cb = retire(id, &found);
    if (!found) return;
    auto rec = store->get_run(id);
    memory::RunRecord r;
    if (rec.ok() && *rec) r = **rec;
    r.id = id;
    r.status = memory::RunStatus::failed;
    r.error = "run director stopped: " + why;
    r.updated_ms = now_unix_ms();
    actors::StoreWrite w;
    w.runs.push_back(r);
    (void)write(std::move(w));
    metrics.run_ended("failed");
    auto steps = store->read_steps(id);
    publish_end(r, steps.ok() ? steps->size() : 0);
    if (cb) cb(r);
    launch_ready();
  }

  void enqueue(const std::string& id, std::function<void(const memory::RunRecord&)> on_end) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(id);
      if (on_end) queued_on_end.emplace(id, std::move(on_end));
    }
    publish_status(id, "queued");
    launch_ready();
  }

  // NATS: how many more runs this daemon takes now.
  int free_slots() {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return 0;
    return std::max(0, cfg.concurrency - static_cast<int>(active.size() + queue.size()));
  }

  // NATS: a run fetched from JetStream. Stored here (as queued) and run,
  // unless this store holds it as ended: then the message is acknowledged.
  // Its end acknowledges the message (negative while the daemon stops).
  bool intake(const std::string& msg_id, const std::string& payload) {
    auto shared = parse_shared_run(payload);
    if (!shared.ok() || shared->run_id != msg_id) {
      spdlog::error("nats: message {}: {}", msg_id,
                    shared.ok() ? "its run_id (" + shared->run_id + ") is not its message id" : shared.error().message);
      return false;
    }
    const std::string& id = msg_id;
    bool here = false, leaving = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      leaving = stopping;
      here = active.count(id) > 0 || std::find(queue.begin(), queue.end(), id) != queue.end();
    }
    if (here) return true;  // already executing here: its end acknowledges
    if (leaving) {
      nats->finish(id, false);
      return true;
    }
    auto rec = store->get_run(id);
    if (!rec.ok()) {
      spdlog::error("nats: run {}: cannot read this store: {}", id, rec.error().describe());
      nats->finish(id, false);
      return true;
    }
    memory::RunRecord r;
    if (*rec) {
      r = std::move(**rec);
      if (ended(r.status)) {
        spdlog::info("nats: run {} already ended here ({}); redelivery acknowledged", id, memory::to_string(r.status));
        nats->finish(id, true);
        return true;
      }
      // Left by an earlier start of this daemon: its journal replays what it committed.
      r.status = memory::RunStatus::queued;
      r.error.clear();
    } else {
      r.id = id;
      r.item_id = shared->item_id;
      r.input_json = shared->input_json;
      r.gold = shared->gold;
      r.created_ms = shared->created_ms;
      r.origin = kRunOriginNats;
      auto bound = resolve(shared->workflow, shared->workflow_yaml,
                           shared->backend.empty() ? cfg.default_backend : shared->backend);
      auto key = bound.ok() ? store->put_blob(bound->text) : Result<std::string>(bound.error());
      r.workflow = bound.ok() ? bound->workflow.name : shared->workflow;
      if (bound.ok()) {
        r.workflow_hash = bound->workflow.text_hash;
        r.pipeline = bound->workflow.pipeline;
      }
      if (!key.ok()) {
        // This daemon cannot run it (its catalog or backends differ): the
        // run ends failed here, for good.
        r.status = memory::RunStatus::failed;
        r.error = "this daemon cannot run it: " + key.error().describe();
        r.updated_ms = now_unix_ms();
        actors::StoreWrite w;
        w.runs.push_back(r);
        Status s = write(std::move(w));
        spdlog::error("nats: run {}: {}", id, r.error);
        metrics.run_ended("failed");
        publish_end(r, 0);
        nats->finish(id, s.ok());
        return true;
      }
    }
    r.updated_ms = now_unix_ms();
    actors::StoreWrite w;
    w.runs.push_back(r);
    if (Status s = write(std::move(w)); !s.ok()) {
      spdlog::error("nats: run {}: {}", id, s.error().describe());
      nats->finish(id, false);
      return true;
    }
    NatsQueue* q = nats.get();
    enqueue(id, [q](const memory::RunRecord& end) { q->finish(end.id, ended(end.status)); });
    return true;
  }
};

RunService::RunService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RunService::~RunService() { shutdown(0); }

Result<std::unique_ptr<RunService>> RunService::start(DaemonConfig config, ServiceOptions options) {
  auto impl = std::make_unique<Impl>();
  Impl& im = *impl;
  auto catalog = WorkflowCatalog::load(config.workflows_dir);
  if (!catalog.ok()) return catalog.error();
  im.catalog = std::move(catalog.value());
  for (const auto& nb : config.backends) {
    std::shared_ptr<engine::Backend> b;
    if (auto it = options.backends.find(nb.name); it != options.backends.end()) {
      b = it->second;
    } else {
      auto made = workflows::make_backend(nb.config);
      if (!made.ok()) return made.error().with_context(config.file + ": backends." + nb.name);
      b = *made;
    }
    im.backends.emplace(nb.name, b);
    im.backend_by_key.emplace(backend_key(nb.config), nb.name);
  }
  if (options.store) {
    im.store = options.store;
  } else {
    auto s = memory::Store::open(config.db);
    if (!s.ok()) return s.error();
    im.store = std::shared_ptr<memory::Store>(std::move(s.value()));
  }
  im.cfg = std::move(config);
  // Before the actor system: a daemon that cannot use its NATS server stops here.
  if (!im.cfg.nats.url.empty()) {
    auto q = NatsQueue::connect(im.cfg.nats);
    if (!q.ok()) return q.error();
    im.nats = std::move(q.value());
  }
  im.sys_cfg = std::make_unique<caf::actor_system_config>();
  actors::add_message_types(*im.sys_cfg);
  im.sys = std::make_unique<caf::actor_system>(*im.sys_cfg);
  im.writer = actors::spawn_store_writer(*im.sys, im.store);
  for (const auto& [name, b] : im.backends) im.gateways.emplace(name, actors::spawn_engine_gateway(*im.sys, b));

  // Resume what a previous daemon left: queued and running runs, oldest
  // first. A run fetched from NATS is JetStream's to redeliver (to any
  // daemon): it is recorded interrupted here, not resumed.
  std::vector<std::string> ids;
  actors::StoreWrite left_to_nats;
  for (auto status : {memory::RunStatus::running, memory::RunStatus::queued}) {
    Status s = im.store->for_each_run(status, [&](const memory::RunRecord& r) {
      if (r.origin == kRunOriginNats) {
        left_to_nats.runs.push_back(r);
        left_to_nats.runs.back().status = memory::RunStatus::interrupted;
        left_to_nats.runs.back().error =
            "this daemon stopped while running it; JetStream redelivers it to a daemon sharing the stream";
        left_to_nats.runs.back().updated_ms = now_unix_ms();
      } else {
        ids.push_back(r.id);
      }
      return true;
    });
    if (!s.ok()) return s.error();
  }
  if (!left_to_nats.runs.empty()) {
    if (Status s = im.write(std::move(left_to_nats)); !s.ok()) return s.error();
  }

  std::sort(ids.begin(), ids.end());
  im.resumed = static_cast<int64_t>(ids.size());
  im.queue.assign(ids.begin(), ids.end());
  auto svc = std::unique_ptr<RunService>(new RunService(std::move(impl)));
  svc->impl_->launch_ready();
  if (im.nats)
    im.nats->start([&im] { return im.free_slots(); },
                   [&im](const std::string& id, const std::string& payload) { return im.intake(id, payload); });
  return svc;
}

Result<std::vector<std::string>> RunService::submit(SubmitRequest req) {
  Impl& im = *impl_;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    if (im.stopping) return Error{ErrorCode::cancelled, "the daemon is shutting down"};
  }
  if (req.workflow.empty() == req.workflow_yaml.empty())
    return Error{ErrorCode::invalid_argument, "give either workflow (a name) or workflow_yaml (inline text)"};
  if (req.inputs.empty()) return Error{ErrorCode::invalid_argument, "inputs: at least one input is needed"};
  if (!req.idempotency_key.empty()) {
    if (Status s = check_idempotency_key(req.idempotency_key); !s.ok()) return s.error();
  }
  std::string backend = req.backend.empty() ? im.cfg.default_backend : req.backend;
  auto bound = im.resolve(req.workflow, req.workflow_yaml, backend);
  if (!bound.ok()) return bound.error();
  int64_t now = now_unix_ms();
  std::vector<std::string> ids;
  for (size_t i = 0; i < req.inputs.size(); ++i)
    ids.push_back(req.idempotency_key.empty() ? new_id("run") : keyed_run_id(req.idempotency_key, i + 1));

  if (im.nats && !req.on_end) {
    // Shared: JetStream holds the run until a daemon has run and stored it.
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto& in = req.inputs[i];
      SharedRun sr{ids[i],      req.workflow, req.workflow_yaml,    backend, in.raw_json,
                   in.item_id,  in.gold.value_or(""), req.idempotency_key, now};
      auto p = im.nats->publish(ids[i], encode_shared_run(sr));
      if (!p.ok()) {
        Error e = p.error();
        if (i > 0) e.message += " (the " + std::to_string(i) + " run(s) before it are queued; submit again with an "
                                "idempotency key to finish the request without running them twice)";
        return e;
      }
    }
    im.metrics.run_submitted(static_cast<int64_t>(ids.size()));
    return ids;
  }

  // The workflow text first, then the records that refer to it.
  auto key = im.store->put_blob(bound->text);
  if (!key.ok()) return key.error();
  // A keyed request sent again: the runs already stored are not queued twice.
  std::unique_lock<std::mutex> keyed(im.keyed_mu, std::defer_lock);
  if (!req.idempotency_key.empty()) keyed.lock();
  actors::StoreWrite w;
  std::vector<std::string> fresh;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!req.idempotency_key.empty()) {
      auto known = im.store->get_run(ids[i]);
      if (!known.ok()) return known.error();
      if (*known) continue;
    }
    auto& in = req.inputs[i];
    memory::RunRecord r;
    r.id = ids[i];
    r.workflow = bound->workflow.name;
    r.workflow_hash = bound->workflow.text_hash;
    r.pipeline = bound->workflow.pipeline;
    r.item_id = in.item_id;
    r.input_json = in.raw_json;
    r.gold = in.gold.value_or("");
    r.status = memory::RunStatus::queued;
    r.created_ms = r.updated_ms = now;
    fresh.push_back(r.id);
    w.runs.push_back(std::move(r));
  }
  if (!w.runs.empty()) {
    Status s = im.write(std::move(w));
    if (!s.ok()) return s.error();
  }
  if (keyed.owns_lock()) keyed.unlock();
  im.metrics.run_submitted(static_cast<int64_t>(fresh.size()));
  for (const auto& id : fresh) im.enqueue(id, req.on_end);
  return ids;
}

Result<std::optional<memory::RunRecord>> RunService::get(const std::string& id) { return impl_->store->get_run(id); }

Result<std::vector<memory::RunRecord>> RunService::list(std::optional<memory::RunStatus> status,
                                                        const std::string& workflow, const std::string& after,
                                                        size_t limit) {
  std::vector<memory::RunRecord> out;
  Status s = impl_->store->for_each_run(status, [&](const memory::RunRecord& r) {
    if (!after.empty() && r.id <= after) return true;
    if (!workflow.empty() && r.workflow != workflow) return true;
    out.push_back(r);
    return out.size() < limit;
  });
  if (!s.ok()) return s.error();
  return out;
}

Result<CancelResult> RunService::cancel(const std::string& id) {
  Impl& im = *impl_;
  std::function<void(const memory::RunRecord&)> cb;
  actors::run_director director;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    if (im.stopping) return Error{ErrorCode::cancelled, "the daemon is shutting down"};
    if (auto it = im.active.find(id); it != im.active.end()) director = it->second.director;
  }
  if (director) {
    // Executing: the director commits `cancelled` before it answers, and
    // stops the run's model calls and tools.
    caf::scoped_actor self{*im.sys};
    Result<CancelResult> result = Error{ErrorCode::internal, "cancel: no answer from the run's director"};
    self->request(director, std::chrono::seconds(10), actors::cancel_atom_v, actors::stored_atom_v)
        .receive([&](bool recorded) { result = recorded ? CancelResult::requested : CancelResult::already_finished; },
                 [&](caf::error& e) {
                   // The director is gone: the run ended (or is ending) on its own.
                   if (e == caf::sec::request_receiver_down) result = CancelResult::already_finished;
                   else result = Error{ErrorCode::timeout, "cancel: the run's director did not answer: " + im.sys->render(e)};
                 });
    return result;
  }
  {
    std::lock_guard<std::mutex> lock(im.mu);
    if (im.stopping) return Error{ErrorCode::cancelled, "the daemon is shutting down"};
    auto q = std::find(im.queue.begin(), im.queue.end(), id);
    if (q != im.queue.end()) {
      im.queue.erase(q);
      if (auto c = im.queued_on_end.find(id); c != im.queued_on_end.end()) {
        cb = std::move(c->second);
        im.queued_on_end.erase(c);
      }
    } else {
      auto rec = im.store->get_run(id);
      if (!rec.ok()) return rec.error();
      if (!*rec) return CancelResult::not_found;
      return CancelResult::already_finished;
    }
  }
  // Was queued: record it cancelled.
  auto rec = im.store->get_run(id);
  if (!rec.ok()) return rec.error();
  if (!*rec) return CancelResult::not_found;
  memory::RunRecord r = **rec;
  r.status = memory::RunStatus::cancelled;
  r.error = "cancelled while queued";
  r.updated_ms = now_unix_ms();
  actors::StoreWrite w;
  w.runs.push_back(r);
  Status s = im.write(std::move(w));
  if (!s.ok()) return s.error();
  im.metrics.run_ended("cancelled");
  im.publish_end(r, 0);
  if (cb) cb(r);
  return CancelResult::cancelled;
}

void RunService::drain(double grace_s) {
  Impl& im = *impl_;
  std::unique_lock<std::mutex> lock(im.mu);
  im.stopping = true;
  im.idle_cv.wait_for(lock, std::chrono::duration<double>(grace_s), [&] { return im.active.empty(); });
}

void RunService::shutdown(double grace_s) {
  Impl& im = *impl_;
  if (im.shut) return;
  drain(grace_s);
  std::unique_lock<std::mutex> lock(im.mu);
  if (im.shut) return;
  im.abandoning = true;
  size_t left = im.active.size();
  std::vector<actors::run_director> directors;
  // Whoever waits for a run that will not end in this process hears so now.
  std::vector<std::pair<memory::RunRecord, std::function<void(const memory::RunRecord&)>>> waiting;
  auto stopped_record = [](const std::string& id, memory::RunStatus status) {
    memory::RunRecord r;
    r.id = id;
    r.status = status;
    r.error = "the daemon is stopping; the run resumes when it starts again";
    return r;
  };
  std::vector<std::string> abandoned;
  for (auto& [id, a] : im.active) {
    abandoned.push_back(id);
    directors.push_back(a.director);
    if (a.on_end) waiting.emplace_back(stopped_record(id, memory::RunStatus::running), std::move(a.on_end));
  }
  for (auto& [id, cb] : im.queued_on_end)
    waiting.emplace_back(stopped_record(id, memory::RunStatus::queued), std::move(cb));
  im.queued_on_end.clear();
  lock.unlock();
  for (auto& [r, cb] : waiting) cb(r);
  // What JetStream gave this daemon and it did not finish goes back now.
  if (im.nats) im.nats->stop();
  if (left > 0)
    spdlog::info("shutdown: {} run(s) still executing are left as 'running'; the next start resumes them", left);
  im.hub.close_all();
  for (auto& d : directors) caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  // Their tools (a command verifier's processes) stop now, after the
  // directors were told to exit: a tool's cancelled reply must not end a
  // run as cancelled that is only being left for the next start.
  // The flags are held (set) until the actor system is gone, so a tool task
  // of these runs still queued finds its flag set and starts nothing; they
  // are not remembered as stopped: the runs resume at the next start.
  std::vector<actors::CancelFlag> stopped_tools;
  for (const auto& id : abandoned) {
    stopped_tools.push_back(actors::run_cancel_flag(id));
    stopped_tools.back()->store(true);
  }
  // Their in-flight generation is abandoned in the engine: a request left
  // pending would keep the actors that wait on it (and the store writer they
  // refer to) alive, and the actor system could not end.
  for (const auto& id : abandoned)
    for (auto& [name, g] : im.gateways) caf::anon_send(g, actors::cancel_run_atom_v, id);
  for (auto& [name, g] : im.gateways) caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
  // Everything the directors sent before this point is durable after it.
  (void)im.write(actors::StoreWrite{});
  caf::anon_send_exit(im.writer, caf::exit_reason::user_shutdown);
  lock.lock();
  for (auto& [hash, b] : im.bindings) workflows::stop_workflow_actors(b->actors);
  im.bindings.clear();
  im.active.clear();
  im.shut = true;
  lock.unlock();
  directors.clear();
  im.gateways.clear();
  im.writer = nullptr;
  im.backends.clear();  // a backend we own delivers what it still holds, cancelled
  im.sys.reset();       // waits for every actor
}

EventHub& RunService::hub() { return impl_->hub; }
memory::Store& RunService::store() { return *impl_->store; }
const DaemonConfig& RunService::config() const { return impl_->cfg; }
const WorkflowCatalog& RunService::catalog() const { return impl_->catalog; }
Metrics& RunService::metrics() { return impl_->metrics; }
int64_t RunService::resumed_runs() const { return impl_->resumed; }

std::string RunService::metrics_text() {
  Gauges g;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    g.queued = static_cast<int64_t>(impl_->queue.size());
    g.running = static_cast<int64_t>(impl_->active.size());
  }
  g.sse_clients = static_cast<int64_t>(impl_->hub.subscriptions());
  std::string text = impl_->metrics.render(g);
  // Backends with several endpoints add their per-endpoint series.
  std::vector<std::pair<std::string, const engine::router::RouterBackend*>> routers;
  for (const auto& [name, backend] : impl_->backends)
    if (auto* r = dynamic_cast<const engine::router::RouterBackend*>(backend.get())) routers.emplace_back(name, r);
  if (!routers.empty()) text += engine::router::router_metrics_text(routers);
  return text;
}

}  // namespace troupe::daemon
