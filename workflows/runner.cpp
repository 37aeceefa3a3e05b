#include "workflows/runner.hpp"

#include <map>

#include "actors/engine_gateway.hpp"
#include "actors/prover_actor.hpp"
#include "actors/roles.hpp"
#include "actors/run_director.hpp"
#include "actors/store_writer.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

struct Runner::Impl {
  Workflow wf;
  RunnerOptions options;
  std::shared_ptr<memory::Store> store;
  std::shared_ptr<engine::Backend> backend;
  PipelineFactory factory;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  actors::engine_gateway gateway;
  actors::store_writer writer;
  std::map<std::string, actors::role_actor> roles;

  ~Impl() {
    if (sys) {
      caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
      for (auto& [name, r] : roles) caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
      gateway = nullptr;
      writer = nullptr;
      roles.clear();
      sys.reset();  // waits for every actor to finish
    }
  }
};

namespace {

actors::RoleSpec role_spec(const Workflow& wf, const std::string& name, const engine::BackendInfo& info) {
  actors::RoleSpec spec = pipeline_role_spec(wf.pipeline, name);
  auto it = wf.roles.find(name);
  if (it != wf.roles.end()) {
    const RoleConfig& rc = it->second;
    if (!rc.system.empty()) spec.system = rc.system;
    if (!rc.template_text.empty()) spec.template_text = rc.template_text;
    spec.sampling = rc.sampling;
    spec.parse_retries = rc.parse_retries;
  }
  spec.model = wf.backend.model;
  spec.backend_label = info.kind + ":" + (wf.backend.model.empty() ? info.model : wf.backend.model);
  return spec;
}

}  // namespace

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runner::~Runner() = default;

memory::Store& Runner::store() { return *impl_->store; }
engine::Backend& Runner::backend() { return *impl_->backend; }

Result<std::unique_ptr<Runner>> Runner::create(Workflow wf, RunnerOptions options) {
  auto impl = std::make_unique<Impl>();
  auto factory = make_pipeline_factory(wf);
  if (!factory.ok()) return factory.error();
  impl->factory = *factory;

  if (options.backend) {
    impl->backend = options.backend;
  } else {
    auto b = make_backend(wf.backend);
    if (!b.ok()) return b.error().with_context(wf.file + ": backend");
    impl->backend = *b;
  }
  if (options.store) {
    impl->store = options.store;
  } else {
    std::string path = options.db_path.empty() ? wf.store_path : options.db_path;
    auto s = memory::Store::open(path);
    if (!s.ok()) return s.error();
    impl->store = std::shared_ptr<memory::Store>(std::move(s.value()));
  }

  impl->cfg = std::make_unique<caf::actor_system_config>();
  actors::add_message_types(*impl->cfg);
  impl->sys = std::make_unique<caf::actor_system>(*impl->cfg);
  impl->gateway = actors::spawn_engine_gateway(*impl->sys, impl->backend);
  impl->writer = actors::spawn_store_writer(*impl->sys, impl->store);
  engine::BackendInfo info = impl->backend->info();
  for (const auto& schema : pipeline_schemas()) {
    if (schema.name != wf.pipeline) continue;
    for (const auto& role : schema.roles) {
      if (role == "prover") {
        // Not a model: the E prover, checked here so a missing eprover
        // fails at start. The actor owns it from now on.
        auto prover = make_prover(wf);
        if (!prover.ok()) return prover.error();
        impl->roles.emplace(role, actors::spawn_prover_role(*impl->sys, *prover));
        continue;
      }
      if (auto tool = pipeline_tool_role(wf, role)) {
        impl->roles.emplace(role, actors::spawn_tool_role(*impl->sys, role, std::move(*tool)));
        continue;
      }
      impl->roles.emplace(role, actors::spawn_role(*impl->sys, role_spec(wf, role, info), impl->gateway));
    }
  }
  impl->wf = std::move(wf);
  impl->options = std::move(options);
  return std::unique_ptr<Runner>(new Runner(std::move(impl)));
}

Result<RunSummary> Runner::run(InputSource& inputs, const OutcomeFn& on_outcome, const TickFn& on_tick) {
  Impl& im = *impl_;
  RunSummary sum;
  Stopwatch clock;
  int concurrency = im.options.concurrency > 0 ? im.options.concurrency : im.wf.concurrency;
  if (concurrency < 1) concurrency = 1;
  caf::scoped_actor self{*im.sys};
  struct Active {
    std::string run_id;
    actors::RunInput input;
    bool reported = false;
  };
  std::map<caf::actor_addr, Active> active;
  bool input_done = false;
  std::optional<Error> input_error;

  auto launch = [&] {
    while (!input_done && static_cast<int>(active.size()) < concurrency) {
      auto next = inputs.next();
      if (!next.ok()) {
        input_error = next.error();
        input_done = true;
        break;
      }
      if (!*next) {
        input_done = true;
        break;
      }
      actors::DirectorConfig dc;
      dc.run_id = new_id("run");
      dc.workflow = im.wf.name;
      dc.workflow_hash = im.wf.text_hash;
      dc.pipeline_name = im.wf.pipeline;
      dc.input = std::move(**next);
      dc.budget = {im.wf.budget.max_calls, im.wf.budget.max_tokens, im.wf.budget.wall_time_s};
      dc.roles = im.roles;
      dc.gateway = im.gateway;
      dc.writer = im.writer;
      dc.pipeline = im.factory();
      Active a{dc.run_id, dc.input};
      auto d = actors::spawn_run_director(*im.sys, std::move(dc));
      self->monitor(d);
      active.emplace(d.address(), std::move(a));
      self->send(d, actors::start_atom_v);
    }
  };

  auto account = [&](const actors::RunOutcome& o) {
    sum.items += 1;
    if (o.status == "succeeded") sum.succeeded += 1;
    else if (o.status == "cancelled") sum.cancelled += 1;
    else sum.failed += 1;
    if (o.correct >= 0) {
      sum.with_gold += 1;
      sum.correct += o.correct;
    }
    sum.calls += o.calls;
    sum.prompt_tokens += o.prompt_tokens;
    sum.completion_tokens += o.completion_tokens;
    sum.wall_s = clock.elapsed_s();
    if (on_outcome) on_outcome(o, sum);
  };

  launch();
  while (!active.empty()) {
    self->receive(
        [&](actors::RunOutcome& o) {
          for (auto& [addr, a] : active)
            if (a.run_id == o.run_id) a.reported = true;
          account(o);
        },
        [&](caf::down_msg& dm) {
          auto it = active.find(dm.source);
          if (it == active.end()) return;
          if (!it->second.reported) {
            // The director died without reporting: record the run as failed.
            actors::RunOutcome o;
            o.run_id = it->second.run_id;
            o.item_id = it->second.input.item_id;
            o.status = "failed";
            o.error = "run director stopped: " + im.sys->render(dm.reason);
            memory::RunRecord r;
            r.id = o.run_id;
            r.workflow = im.wf.name;
            r.workflow_hash = im.wf.text_hash;
            r.pipeline = im.wf.pipeline;
            r.item_id = o.item_id;
            r.input_json = it->second.input.raw_json;
            r.gold = it->second.input.gold.value_or("");
            r.status = memory::RunStatus::failed;
            r.error = o.error;
            r.created_ms = r.updated_ms = now_unix_ms();
            actors::StoreWrite w;
            w.runs.push_back(std::move(r));
            self->request(im.writer, caf::infinite, std::move(w))
                .receive([](actors::StoreAck&) {}, [](caf::error&) {});
            account(o);
          }
          active.erase(it);
          launch();
        },
        caf::after(std::chrono::milliseconds(500)) >> [&] {
          sum.wall_s = clock.elapsed_s();
          if (on_tick) on_tick(sum, static_cast<int64_t>(active.size()));
        });
  }
  sum.wall_s = clock.elapsed_s();
  if (input_error) return *input_error;
  return sum;
}

}  // namespace troupe::workflows
