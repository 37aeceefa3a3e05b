#include "workflows/runner.hpp"

#include <map>

#include "actors/engine_gateway.hpp"
#include "actors/run_director.hpp"
#include "actors/store_writer.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "workflows/pipelines.hpp"
#include "workflows/workflow_actors.hpp"

namespace troupe::workflows {

struct Runner::Impl {
  Workflow wf;
  RunnerOptions options;
  std::shared_ptr<memory::Store> store;
  std::shared_ptr<engine::Backend> backend;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  actors::engine_gateway gateway;
  actors::store_writer writer;
  WorkflowActors actors;

  ~Impl() {
    if (sys) {
      caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
      stop_workflow_actors(actors);
      gateway = nullptr;
      writer = nullptr;
      sys.reset();  // waits for every actor to finish
    }
  }
};

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runner::~Runner() = default;

memory::Store& Runner::store() { return *impl_->store; }
engine::Backend& Runner::backend() { return *impl_->backend; }

Result<std::unique_ptr<Runner>> Runner::create(Workflow wf, RunnerOptions options) {
  auto impl = std::make_unique<Impl>();
  auto factory = make_pipeline_factory(wf);  // bad params fail before anything starts
  if (!factory.ok()) return factory.error();

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
  impl->wf = wf;
  auto wa = spawn_workflow_actors(*impl->sys, std::move(wf), impl->gateway, impl->backend->info());
  if (!wa.ok()) return wa.error();
  impl->actors = std::move(wa.value());
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
      actors::DirectorConfig dc =
          director_config(im.actors, new_id("run"), std::move(**next), im.gateway, im.writer);
      dc.origin = memory::kRunOriginCli;  // nobody resumes it if this process stops
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
            memory::RunRecord r = lost_run_record(im.wf, o.run_id, it->second.input, o.error);
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
