// The actor runtime's mechanics, without a real pipeline: group commit in
// the store writer, failure isolation and cancellation in the director.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/engine_gateway.hpp"
#include "actors/roles.hpp"
#include "actors/run_cancellation.hpp"
#include "actors/run_director.hpp"
#include "actors/tool_role.hpp"
#include "actors/store_writer.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::actors;

namespace {

// Delegates to a real store; counts write() batches; can hold the first
// write until released, so that later writes queue up behind it.
class CountingStore : public memory::Store {
 public:
  explicit CountingStore(std::unique_ptr<memory::Store> inner) : inner_(std::move(inner)) {}
  std::atomic<int> batches{0};
  std::mutex mu;
  std::condition_variable cv;
  bool hold_first = false, first_entered = false, released = false;

  Status write(const std::vector<memory::StepRecord>& s, const std::vector<memory::PairRecord>& p,
               const std::vector<memory::RunRecord>& r) override {
    if (batches.fetch_add(1) == 0 && hold_first) {
      std::unique_lock<std::mutex> lock(mu);
      first_entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
    }
    return inner_->write(s, p, r);
  }
  Status put_run(const memory::RunRecord& run) override { return inner_->put_run(run); }
  Result<std::optional<memory::RunRecord>> get_run(const std::string& id) override { return inner_->get_run(id); }
  Status for_each_run(std::optional<memory::RunStatus> s,
                      const std::function<bool(const memory::RunRecord&)>& v) override {
    return inner_->for_each_run(s, v);
  }
  Status append_steps(const std::vector<memory::StepRecord>& steps) override { return inner_->append_steps(steps); }
  Result<std::vector<memory::StepRecord>> read_steps(const std::string& id) override { return inner_->read_steps(id); }
  Status put_pairs(const std::vector<memory::PairRecord>& p) override { return inner_->put_pairs(p); }
  Status for_each_pair(const std::function<bool(const memory::PairRecord&)>& v) override {
    return inner_->for_each_pair(v);
  }
  Result<std::string> put_blob(const std::string& t) override { return inner_->put_blob(t); }
  Result<std::optional<std::string>> get_blob(const std::string& k) override { return inner_->get_blob(k); }
  int schema_version() const override { return inner_->schema_version(); }
  const std::string& path() const override { return inner_->path(); }

 private:
  std::unique_ptr<memory::Store> inner_;
};

struct System {
  testing::TempDir dir;
  std::shared_ptr<CountingStore> store;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  System() {
    auto s = memory::Store::open(dir.file("db"));
    REQUIRE(s.ok());
    store = std::make_shared<CountingStore>(std::move(s.value()));
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

memory::StepRecord step(const std::string& run, uint64_t seq) {
  memory::StepRecord s;
  s.run_id = run;
  s.seq = seq;
  s.role = "solver";
  s.completion = "text " + std::to_string(seq);
  return s;
}

}  // namespace

TEST_CASE("the store writer commits writes queued behind a busy flush as one batch", "[actors][store_writer]") {
  System t;
  t.store->hold_first = true;
  auto writer = spawn_store_writer(*t.sys, t.store);
  caf::scoped_actor self{*t.sys};
  const int n = 50;
  for (int i = 0; i < n; ++i) {
    StoreWrite w;
    w.steps.push_back(step("run-a", static_cast<uint64_t>(i)));
    self->send(writer, std::move(w));
    if (i == 0) {
      // Wait until the writer is inside the first commit, then queue the rest.
      std::unique_lock<std::mutex> lock(t.store->mu);
      t.store->cv.wait(lock, [&] { return t.store->first_entered; });
    }
  }
  {
    std::lock_guard<std::mutex> lock(t.store->mu);
    t.store->released = true;
  }
  t.store->cv.notify_all();
  int acks = 0;
  self->receive_for(acks, n)([&](StoreAck& a) { CHECK(a.ok); });
  CHECK(acks == n);
  CHECK(t.store->batches.load() == 2);
  auto steps = t.store->read_steps("run-a");
  REQUIRE(steps.ok());
  CHECK(steps->size() == static_cast<size_t>(n));
  self->send_exit(writer, caf::exit_reason::user_shutdown);
}

namespace {

// Calls the solver, then throws from its continuation.
class ThrowingPipeline : public Pipeline {
 public:
  void start(RunContext& ctx) override {
    ctx.call("solver", RoleTask{}, {"solution", {}}, [](const RoleOutput&, const std::vector<uint64_t>&) {
      throw std::runtime_error("boom");
    });
  }
};

// Calls the solver and finishes with its answer, or fails with its error.
class OneCallPipeline : public Pipeline {
 public:
  void start(RunContext& ctx) override {
    RoleTask task;
    task.vars["question"] = ctx.input().question;
    ctx.call("solver", task, {"solution", {}}, [&ctx](const RoleOutput& out, const std::vector<uint64_t>&) {
      if (!out.ok) return ctx.fail(Error{static_cast<ErrorCode>(out.error_code), out.error});
      ctx.finish(out.candidates.at(0).answer);
    });
  }
};

class StallingBackend : public engine::Backend {
 public:
  void submit(engine::GenerateRequest r, engine::GenerateCallback done) override {
    std::lock_guard<std::mutex> lock(mu);
    pending.emplace_back(r.id, std::move(done));
    cv.notify_all();
  }
  void cancel(const std::string& id) override {
    engine::GenerateCallback cb;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = pending.begin(); it != pending.end(); ++it)
        if (it->first == id) {
          cb = std::move(it->second);
          pending.erase(it);
          break;
        }
    }
    if (cb) cb(Error{ErrorCode::cancelled, "cancelled by request"});
  }
  engine::BackendInfo info() const override { return {"stalling", "none", ""}; }
  void wait_for_submit() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !pending.empty(); });
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, engine::GenerateCallback>> pending;
};

DirectorConfig director_config(const std::string& run_id, engine_gateway gw, store_writer writer,
                               role_actor solver, std::shared_ptr<Pipeline> p) {
  DirectorConfig dc;
  dc.run_id = run_id;
  dc.workflow = "test";
  dc.pipeline_name = "test";
  dc.input.item_id = run_id;
  dc.input.question = "What is 6 * 7?";
  dc.roles["solver"] = std::move(solver);
  dc.gateway = std::move(gw);
  dc.writer = std::move(writer);
  dc.pipeline = std::move(p);
  return dc;
}

engine::ScriptedFixture answer_42() {
  auto fx = engine::ScriptedBackend::parse_fixture("default: \"\\\\boxed{42}\"\n", "inline");
  REQUIRE(fx.ok());
  return *fx;
}

}  // namespace

TEST_CASE("an exception in a pipeline fails its run, is recorded, and other runs go on", "[actors][director]") {
  System t;
  auto backend = std::make_shared<engine::ScriptedBackend>(answer_42());
  auto gw = spawn_engine_gateway(*t.sys, backend);
  auto writer = spawn_store_writer(*t.sys, t.store);
  auto solver = spawn_role(*t.sys, default_role_spec("solver"), gw);
  caf::scoped_actor self{*t.sys};

  auto bad = spawn_run_director(*t.sys, director_config("run-bad", gw, writer, solver, std::make_shared<ThrowingPipeline>()));
  RunOutcome bad_out;
  self->request(bad, caf::infinite, start_atom_v).receive([&](RunOutcome& o) { bad_out = o; },
                                                           [&](caf::error& e) { FAIL(t.sys->render(e)); });
  CHECK(bad_out.status == "failed");
  CHECK(bad_out.error.find("boom") != std::string::npos);
  CHECK(bad_out.steps == 1);  // the solver's output was recorded before the throw
  auto rec = t.store->get_run("run-bad");
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->status == memory::RunStatus::failed);
  CHECK((*rec)->error.find("boom") != std::string::npos);

  auto good = spawn_run_director(*t.sys, director_config("run-good", gw, writer, solver, std::make_shared<OneCallPipeline>()));
  RunOutcome good_out;
  self->request(good, caf::infinite, start_atom_v).receive([&](RunOutcome& o) { good_out = o; },
                                                            [&](caf::error& e) { FAIL(t.sys->render(e)); });
  CHECK(good_out.status == "succeeded");
  CHECK(good_out.answer == "42");
  for (auto a : {caf::actor_cast<caf::actor>(gw), caf::actor_cast<caf::actor>(writer), caf::actor_cast<caf::actor>(solver)})
    self->send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("cancelling a run stops its in-flight generation in the backend", "[actors][director]") {
  System t;
  auto backend = std::make_shared<StallingBackend>();
  auto gw = spawn_engine_gateway(*t.sys, backend);
  auto writer = spawn_store_writer(*t.sys, t.store);
  auto solver = spawn_role(*t.sys, default_role_spec("solver"), gw);
  caf::scoped_actor self{*t.sys};
  auto d = spawn_run_director(*t.sys, director_config("run-c", gw, writer, solver, std::make_shared<OneCallPipeline>()));
  self->send(d, start_atom_v);
  backend->wait_for_submit();
  self->send(d, cancel_atom_v);
  RunOutcome out;
  self->receive([&](RunOutcome& o) { out = o; });
  CHECK(out.status == "cancelled");
  {
    std::lock_guard<std::mutex> lock(backend->mu);
    CHECK(backend->pending.empty());
  }
  auto rec = t.store->get_run("run-c");
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->status == memory::RunStatus::cancelled);
  for (auto a : {caf::actor_cast<caf::actor>(gw), caf::actor_cast<caf::actor>(writer), caf::actor_cast<caf::actor>(solver)})
    self->send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("templates substitute known variables and leave other braces alone", "[actors][roles]") {
  CHECK(render_template("Q: {question} -> \\boxed{} {unknown}", {{"question", "2+2"}}) ==
        "Q: 2+2 -> \\boxed{} {unknown}");
  CHECK(render_template("{a}{a}", {{"a", "{a}"}}) == "{a}{a}");
  CHECK(render_template("open { only", {}) == "open { only");
}

TEST_CASE("a durable cancel answers after `cancelled` is stored and reaches a tool blocked on its run's flag",
          "[actors][director][cancel]") {
  System t;
  auto backend = std::make_shared<StallingBackend>();
  auto gw = spawn_engine_gateway(*t.sys, backend);
  auto writer = spawn_store_writer(*t.sys, t.store);
  auto entered = std::make_shared<std::atomic<bool>>(false);
  // A blocking tool (like a command verifier): it ends only when its run's flag is set.
  auto tool = spawn_tool_role(*t.sys, "solver", [entered](const RoleTask& task) {
    CancelFlag flag = run_cancel_flag(task.run_id);
    entered->store(true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!flag->load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    RoleOutput out;
    out.ok = false;
    out.error_code = static_cast<int>(ErrorCode::cancelled);
    out.error = flag->load() ? "stopped" : "never stopped";
    return out;
  });
  caf::scoped_actor self{*t.sys};
  auto d = spawn_run_director(*t.sys, director_config("run-tool", gw, writer, tool, std::make_shared<OneCallPipeline>()));
  auto started = std::chrono::steady_clock::now();
  self->send(d, start_atom_v);
  while (!entered->load() && std::chrono::steady_clock::now() - started < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(entered->load());
  bool recorded = false;
  self->request(d, caf::infinite, cancel_atom_v, stored_atom_v)
      .receive([&](bool r) { recorded = r; }, [&](caf::error& e) { FAIL(t.sys->render(e)); });
  CHECK(recorded);
  auto rec = t.store->get_run("run-tool");  // committed before the answer
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->status == memory::RunStatus::cancelled);
  RunOutcome out;
  self->receive([&](RunOutcome& o) { out = o; });
  CHECK(out.status == "cancelled");
  CHECK(out.error.find("stopped") != std::string::npos);
  CHECK(out.error.find("never") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  for (auto a : {caf::actor_cast<caf::actor>(gw), caf::actor_cast<caf::actor>(writer), caf::actor_cast<caf::actor>(tool)})
    self->send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("a run cancelled before it starts never runs and never reads as running", "[actors][director][cancel]") {
  System t;
  auto backend = std::make_shared<StallingBackend>();
  auto gw = spawn_engine_gateway(*t.sys, backend);
  auto writer = spawn_store_writer(*t.sys, t.store);
  auto solver = spawn_role(*t.sys, default_role_spec("solver"), gw);
  caf::scoped_actor self{*t.sys};
  auto d = spawn_run_director(*t.sys, director_config("run-early", gw, writer, solver, std::make_shared<OneCallPipeline>()));
  bool recorded = false;
  self->request(d, caf::infinite, cancel_atom_v, stored_atom_v)
      .receive([&](bool r) { recorded = r; }, [&](caf::error& e) { FAIL(t.sys->render(e)); });
  CHECK(recorded);
  RunOutcome out;
  self->request(d, caf::infinite, start_atom_v).receive([&](RunOutcome& o) { out = o; },
                                                         [&](caf::error& e) { FAIL(t.sys->render(e)); });
  CHECK(out.status == "cancelled");
  CHECK(out.calls == 0);  // the pipeline never asked the backend
  CHECK(out.steps == 0);
  auto rec = t.store->get_run("run-early");
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->status == memory::RunStatus::cancelled);
  for (auto a : {caf::actor_cast<caf::actor>(gw), caf::actor_cast<caf::actor>(writer), caf::actor_cast<caf::actor>(solver)})
    self->send_exit(a, caf::exit_reason::user_shutdown);
}
