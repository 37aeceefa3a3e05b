// Durable runs (docs/durability.md): a run whose actor system is killed
// mid-run is resumed by a new director with the same run id over the same
// store. Committed calls are replayed from the call journal and never sent
// to the backend again, calls in flight at the kill are sent again, steps
// are exactly the union without duplicates, and the answer equals an
// uninterrupted run's. The "kill" is deterministic: a controlled backend
// holds chosen requests, the test waits (on the director's on_step events)
// until the calls it wants committed are committed, then kills every actor
// and drops the store, as a crashed process would.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>

#include "actors/engine_gateway.hpp"
#include "actors/journal.hpp"
#include "actors/roles.hpp"
#include "actors/run_director.hpp"
#include "actors/store_writer.hpp"
#include "common/ids.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "memory/records.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::actors;

namespace {

// The occurrence index in a durable request id "<run>/<hash>#<k>/try-...".
int occurrence_of(const std::string& request_id) {
  auto hash = request_id.find('#');
  auto slash = request_id.find('/', hash == std::string::npos ? 0 : hash);
  if (hash == std::string::npos || slash == std::string::npos) return -1;
  return std::stoi(request_id.substr(hash + 1, slash - hash - 1));
}

std::string prompt_of(const engine::GenerateRequest& r) { return engine::ScriptedBackend::prompt_text(r, false); }

// Answers each request with reply(request), at once or, when hold(request)
// is true, only when the test releases it. Records every request received.
class ControlledBackend : public engine::Backend {
 public:
  std::function<std::string(const engine::GenerateRequest&)> reply;
  std::function<bool(const engine::GenerateRequest&)> hold = [](const engine::GenerateRequest&) { return false; };

  void submit(engine::GenerateRequest r, engine::GenerateCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(r);
      if (hold(r)) {
        held_.emplace_back(std::move(r), std::move(done));
        cv_.notify_all();
        return;
      }
    }
    done(answer(r));
  }
  void cancel(const std::string& id) override {
    engine::GenerateCallback cb;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = held_.begin(); it != held_.end(); ++it)
        if (it->first.id == id) {
          cb = std::move(it->second);
          held_.erase(it);
          break;
        }
    }
    if (cb) cb(Error{ErrorCode::cancelled, "cancelled"});
  }
  engine::BackendInfo info() const override { return {"controlled", "m", ""}; }

  // Waits until `n` requests are held.
  void wait_held(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return held_.size() >= n; });
  }
  // Answers the held request whose occurrence index is k.
  void release(int k) {
    std::pair<engine::GenerateRequest, engine::GenerateCallback> h;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = std::find_if(held_.begin(), held_.end(), [&](auto& x) { return occurrence_of(x.first.id) == k; });
      REQUIRE(it != held_.end());
      h = std::move(*it);
      held_.erase(it);
    }
    h.second(answer(h.first));
  }
  // What a crash does to requests in flight: they are never answered.
  void drop_held() {
    std::lock_guard<std::mutex> lock(mu_);
    held_.clear();
  }
  std::vector<engine::GenerateRequest> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::vector<std::string> held_ids() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (auto& h : held_) out.push_back(h.first.id);
    return out;
  }

 private:
  Result<engine::GenerateResult> answer(const engine::GenerateRequest& r) {
    engine::GenerateResult res;
    res.request_id = r.id;
    res.usage.prompt_tokens = 10;
    res.usage.cached_prompt_tokens = 4;
    for (int i = 0; i < r.sampling.n; ++i) {
      engine::Choice c;
      c.index = i;
      c.text = reply(r);
      res.usage.completion_tokens += 3;
      res.choices.push_back(std::move(c));
    }
    return res;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<engine::GenerateRequest> received_;
  std::vector<std::pair<engine::GenerateRequest, engine::GenerateCallback>> held_;
};

// One "process": an actor system with a gateway, a writer and the solver and
// verifier roles over a store opened at `path`.
struct Node {
  std::shared_ptr<memory::Store> store;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  engine_gateway gw;
  store_writer writer;
  std::map<std::string, role_actor> roles;
  std::map<std::string, std::string> identity;
  std::vector<run_director> directors;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<memory::StepRecord> announced;  // on_step, in order

  Node(const std::string& path, std::shared_ptr<engine::Backend> backend) {
    auto s = memory::Store::open(path);
    REQUIRE(s.ok());
    store = std::shared_ptr<memory::Store>(std::move(s.value()));
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    gw = spawn_engine_gateway(*sys, backend);
    writer = spawn_store_writer(*sys, store);
    for (const char* name : {"solver", "verifier"}) {
      RoleSpec spec = default_role_spec(name);
      spec.backend_label = "controlled:m";
      spec.sampling.seed = 7;
      identity[name] = role_identity(spec);
      roles[name] = spawn_role(*sys, spec, gw);
    }
  }

  run_director start(const std::string& run_id, std::shared_ptr<Pipeline> p, caf::scoped_actor& self) {
    DirectorConfig dc;
    dc.run_id = run_id;
    dc.workflow = "durable-test";
    dc.pipeline_name = "test";
    dc.input.item_id = "item-1";
    dc.input.question = "What is 6 * 7?";
    dc.input.raw_json = R"({"id":"item-1","question":"What is 6 * 7?"})";
    dc.roles = roles;
    dc.role_identity = identity;
    dc.gateway = gw;
    dc.writer = writer;
    dc.pipeline = std::move(p);
    dc.journal = store;
    dc.on_step = [this](const memory::StepRecord& s) {
      std::lock_guard<std::mutex> lock(mu);
      announced.push_back(s);
      cv.notify_all();
    };
    auto d = spawn_run_director(*sys, std::move(dc));
    directors.push_back(d);
    self->send(d, start_atom_v);
    return d;
  }

  void wait_announced(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return announced.size() >= n; });
  }

  // Kills every actor at once (nothing more is written), like SIGKILL.
  void crash(ControlledBackend& backend) {
    for (auto& d : directors) caf::anon_send_exit(d, caf::exit_reason::kill);
    for (auto& [n, r] : roles) caf::anon_send_exit(r, caf::exit_reason::kill);
    caf::anon_send_exit(gw, caf::exit_reason::kill);
    caf::anon_send_exit(writer, caf::exit_reason::kill);
    backend.drop_held();
  }

  ~Node() {
    for (auto& d : directors) caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
    for (auto& [n, r] : roles) caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    directors.clear();
    roles.clear();
    gw = nullptr;
    writer = nullptr;
    sys.reset();
  }
};

RunOutcome await_outcome(caf::scoped_actor& self) {
  RunOutcome out;
  bool got = false;
  while (!got) {
    self->receive([&](RunOutcome& o) {
      out = o;
      got = true;
    },
                  [&](caf::error&) {});  // a killed director's broken promise
  }
  return out;
}

// solver -> verifier (parent: the solution) -> solver again (parent: the
// verdict) -> finish with "<answer 1>/<verdict>/<answer 2>".
class ChainPipeline : public Pipeline {
 public:
  void start(RunContext& ctx) override {
    RoleTask t;
    t.vars["question"] = ctx.input().question;
    ctx.call("solver", t, {"solution", {}}, [&ctx, this](const RoleOutput& a, const std::vector<uint64_t>& sa) {
      if (!a.ok) return ctx.fail(Error{ErrorCode::internal, a.error});
      first_ = a.candidates.at(0).answer;
      RoleTask v;
      v.vars["question"] = ctx.input().question;
      v.vars["solution"] = a.candidates.at(0).text;
      ctx.call("verifier", v, {"verify", sa}, [&ctx, this](const RoleOutput& b, const std::vector<uint64_t>& sb) {
        if (!b.ok) return ctx.fail(Error{ErrorCode::internal, b.error});
        verdict_ = b.candidates.at(0).verdict;
        RoleTask again;
        again.vars["question"] = ctx.input().question + " Check once more.";
        ctx.call("solver", again, {"solution", sb}, [&ctx, this](const RoleOutput& c, const std::vector<uint64_t>&) {
          if (!c.ok) return ctx.fail(Error{ErrorCode::internal, c.error});
          ctx.finish(first_ + "/" + std::to_string(verdict_) + "/" + c.candidates.at(0).answer);
        });
      });
    });
  }

 private:
  std::string first_;
  int verdict_ = -1;
};

std::string chain_reply(const engine::GenerateRequest& r) {
  std::string p = prompt_of(r);
  if (p.find("Verdict") != std::string::npos) return "Looks right.\nVerdict: Yes";
  if (p.find("once more") != std::string::npos) return "Again: \\boxed{42}";
  return "6*7 = \\boxed{42}";
}

// Four identical solver calls in parallel, then one call combining their
// answers in call order (parents: their steps in call order).
class ParallelPipeline : public Pipeline {
 public:
  void start(RunContext& ctx) override {
    answers_.assign(4, "");
    seqs_.assign(4, 0);
    for (int i = 0; i < 4; ++i) {
      RoleTask t;
      t.vars["question"] = ctx.input().question;
      ctx.call("solver", t, {"solution", {}}, [&ctx, this, i](const RoleOutput& o, const std::vector<uint64_t>& s) {
        if (!o.ok) return ctx.fail(Error{ErrorCode::internal, o.error});
        answers_[i] = o.candidates.at(0).answer;
        seqs_[i] = s.at(0);
        if (++done_ < 4) return;
        RoleTask c;
        c.vars["question"] = "combine: " + answers_[0] + "," + answers_[1] + "," + answers_[2] + "," + answers_[3];
        ctx.call("solver", c, {"combine", seqs_}, [&ctx](const RoleOutput& f, const std::vector<uint64_t>&) {
          if (!f.ok) return ctx.fail(Error{ErrorCode::internal, f.error});
          ctx.finish(f.candidates.at(0).answer);
        });
      });
    }
  }

 private:
  std::vector<std::string> answers_;
  std::vector<uint64_t> seqs_;
  int done_ = 0;
};

// The k-th identical call gets \boxed{k}; a combine call echoes its list.
std::string parallel_reply(const engine::GenerateRequest& r) {
  std::string p = prompt_of(r);
  auto pos = p.find("combine: ");
  if (pos != std::string::npos) {
    std::string list = p.substr(pos + 9);
    list = list.substr(0, list.find_first_of("\n "));
    return "\\boxed{" + list + "}";
  }
  return "\\boxed{" + std::to_string(occurrence_of(r.id)) + "}";
}

bool is_parallel(const engine::GenerateRequest& r) { return prompt_of(r).find("combine: ") == std::string::npos; }

struct StepView {
  uint64_t seq;
  std::string role, kind, completion, answer;
  std::vector<uint64_t> parents;
  bool operator==(const StepView& o) const {
    return seq == o.seq && role == o.role && kind == o.kind && completion == o.completion && answer == o.answer &&
           parents == o.parents;
  }
};

std::vector<StepView> step_views(memory::Store& store, const std::string& run) {
  auto steps = store.read_steps(run);
  REQUIRE(steps.ok());
  std::vector<StepView> out;
  for (auto& s : *steps) out.push_back({s.seq, s.role, s.kind, s.completion, s.answer, s.parents});
  return out;
}

struct Metrics {
  int64_t replayed_calls = -1, calls = -1;
  std::vector<bool> receipt_replayed;
  std::vector<std::string> receipt_keys;
  std::vector<int64_t> receipt_seeds, receipt_cached;
  std::vector<std::string> receipt_backends;
};

Metrics metrics_of(memory::Store& store, const std::string& run) {
  auto rec = store.get_run(run);
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse((*rec)->metrics_json);
  Metrics m;
  m.replayed_calls = doc["replayed_calls"].get_int64();
  m.calls = doc["calls"].get_int64();
  for (simdjson::dom::element e : doc["receipt"].get_array()) {
    m.receipt_replayed.push_back(e["replayed"].get_bool());
    m.receipt_keys.push_back(std::string(std::string_view(e["key"].get_string())));
    m.receipt_seeds.push_back(e["seed"].get_int64());
    m.receipt_cached.push_back(e["cached_prompt_tokens"].get_int64());
    m.receipt_backends.push_back(std::string(std::string_view(e["backend"].get_string())));
  }
  return m;
}

}  // namespace

TEST_CASE("a durable run killed after K committed calls resumes: committed calls replayed, the in-flight one re-sent",
          "[durable][actors]") {
  const size_t k = GENERATE(0, 1, 2);
  CAPTURE(k);
  testing::TempDir dir;
  const std::string db = dir.file("db");

  // Reference: the same run, uninterrupted, in a store of its own.
  std::string ref_answer;
  std::vector<StepView> ref_steps;
  std::vector<std::string> ref_prompts;
  {
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = chain_reply;
    Node node(dir.file("ref-db"), backend);
    caf::scoped_actor self{*node.sys};
    node.start("run-ref", std::make_shared<ChainPipeline>(), self);
    RunOutcome o = await_outcome(self);
    REQUIRE(o.status == "succeeded");
    CHECK(o.replayed_calls == 0);
    ref_answer = o.answer;
    ref_steps = step_views(*node.store, "run-ref");
    for (auto& r : backend->received()) ref_prompts.push_back(prompt_of(r));
  }
  REQUIRE(ref_answer == "42/1/42");
  REQUIRE(ref_prompts.size() == 3);

  // First life: the (k+1)-th request is held; kill once it is in flight.
  const std::string run = "run-durable";
  int64_t created_ms = 0;
  std::string inflight_key;
  {
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = chain_reply;
    size_t seen = 0;
    backend->hold = [&seen, k](const engine::GenerateRequest&) { return seen++ == k; };
    Node node(db, backend);
    caf::scoped_actor self{*node.sys};
    node.start(run, std::make_shared<ChainPipeline>(), self);
    backend->wait_held(1);
    // The pipeline is sequential: the (k+1)-th call starts only after the
    // k-th call's steps (and journal record) are committed.
    CHECK(node.announced.size() == k);
    auto held = backend->held_ids();
    REQUIRE(held.size() == 1);
    inflight_key = held[0].substr(0, held[0].rfind('/'));
    node.crash(*backend);
    REQUIRE(backend->received().size() == k + 1);
    auto rec = node.store->get_run(run);
    REQUIRE(rec.ok());
    REQUIRE(rec->has_value());
    CHECK((*rec)->status == memory::RunStatus::running);
    created_ms = (*rec)->created_ms;
    auto calls = node.store->read_calls(run);
    REQUIRE(calls.ok());
    CHECK(calls->size() == k);
  }

  // Second life: a new system over the reopened store, same run id.
  {
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = chain_reply;
    Node node(db, backend);
    caf::scoped_actor self{*node.sys};
    node.start(run, std::make_shared<ChainPipeline>(), self);
    RunOutcome o = await_outcome(self);
    REQUIRE(o.status == "succeeded");
    CHECK(o.answer == ref_answer);
    CHECK(o.replayed_calls == static_cast<int64_t>(k));
    // The backend got only what was not committed: the call in flight at
    // the kill (same key, a new attempt) and those after it.
    auto got = backend->received();
    REQUIRE(got.size() == 3 - k);
    for (size_t i = 0; i < got.size(); ++i) CHECK(prompt_of(got[i]) == ref_prompts[k + i]);
    CHECK(got[0].id.rfind(inflight_key + "/", 0) == 0);
    // Steps: exactly the uninterrupted run's (same seqs, parents, text).
    CHECK(step_views(*node.store, run) == ref_steps);
    // Only the new steps were announced live.
    CHECK(node.announced.size() == 3 - k);
    auto rec = node.store->get_run(run);
    REQUIRE(rec.ok());
    CHECK((*rec)->created_ms == created_ms);
    Metrics m = metrics_of(*node.store, run);
    CHECK(m.replayed_calls == static_cast<int64_t>(k));
    CHECK(m.calls == 3);  // replayed calls count toward the run's calls
    REQUIRE(m.receipt_replayed.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(m.receipt_replayed[i] == (i < k));
      CHECK(m.receipt_seeds[i] == 7);
      CHECK(m.receipt_cached[i] == 4);
      CHECK(m.receipt_backends[i] == "controlled:m");
    }
    auto calls = node.store->read_calls(run);
    REQUIRE(calls.ok());
    CHECK(calls->size() == 3);
  }
}

TEST_CASE("parallel identical calls replay by occurrence, whatever order their replies arrive in",
          "[durable][actors]") {
  testing::TempDir dir;

  // Reference: replies arrive 3, 1, 0, 2.
  std::string ref_answer;
  {
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = parallel_reply;
    backend->hold = is_parallel;
    Node node(dir.file("ref-db"), backend);
    caf::scoped_actor self{*node.sys};
    node.start("run-ref", std::make_shared<ParallelPipeline>(), self);
    backend->wait_held(4);
    for (int k : {3, 1, 0, 2}) backend->release(k);
    RunOutcome o = await_outcome(self);
    REQUIRE(o.status == "succeeded");
    ref_answer = o.answer;
  }
  REQUIRE(ref_answer == "0,1,2,3");

  const std::string db = dir.file("db");
  const std::string run = "run-par";
  {
    // First life: replies 2 then 0 are committed; 1 and 3 are in flight.
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = parallel_reply;
    backend->hold = is_parallel;
    Node node(db, backend);
    caf::scoped_actor self{*node.sys};
    node.start(run, std::make_shared<ParallelPipeline>(), self);
    backend->wait_held(4);
    backend->release(2);
    backend->release(0);
    node.wait_announced(2);
    node.crash(*backend);
  }
  {
    // Second life: the backend is asked for 1 and 3 only; they arrive 3, 1.
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = parallel_reply;
    backend->hold = is_parallel;
    Node node(db, backend);
    caf::scoped_actor self{*node.sys};
    node.start(run, std::make_shared<ParallelPipeline>(), self);
    backend->wait_held(2);
    std::set<int> asked;
    for (auto& id : backend->held_ids()) asked.insert(occurrence_of(id));
    CHECK(asked == std::set<int>{1, 3});
    backend->release(3);
    backend->release(1);
    RunOutcome o = await_outcome(self);
    REQUIRE(o.status == "succeeded");
    CHECK(o.answer == ref_answer);
    CHECK(o.replayed_calls == 2);
    CHECK(backend->received().size() == 3);  // 1, 3 and the combine call

    // Steps: committed 2 -> seq 0, 0 -> seq 1 (first life), then 3 -> 2,
    // 1 -> 3, combine -> 4. No seq reused, none lost.
    auto steps = node.store->read_steps(run);
    REQUIRE(steps.ok());
    REQUIRE(steps->size() == 5);
    std::vector<std::string> texts;
    for (auto& s : *steps) texts.push_back(s.completion);
    CHECK(texts == std::vector<std::string>{"\\boxed{2}", "\\boxed{0}", "\\boxed{3}", "\\boxed{1}",
                                            "\\boxed{0,1,2,3}"});
    // The combine step's parents are the k-th calls' steps in call order.
    CHECK((*steps)[4].parents == std::vector<uint64_t>{1, 3, 0, 2});
  }
}

TEST_CASE("a call's journal key covers role identity, sampling, seed and model, not run-local ids",
          "[durable][actors]") {
  RoleTask base;
  base.vars["question"] = "q";
  StepInfo info{"solution", {1, 2}};
  const std::string id = role_identity(default_role_spec("solver"));
  const std::string h = call_content_hash("solver", id, base, info);

  RoleTask same = base;
  same.run_id = "another-run";
  same.request_id = "another-request";
  CHECK(call_content_hash("solver", id, same, info) == h);

  std::vector<std::function<void(RoleTask&)>> changes = {
      [](RoleTask& t) { t.seed = 1; },
      [](RoleTask& t) { t.temperature = 0.5; },
      [](RoleTask& t) { t.model = "other"; },
      [](RoleTask& t) { t.stop = {"\n"}; },
      [](RoleTask& t) { t.n = 2; },
      [](RoleTask& t) { t.max_tokens = 9; },
      [](RoleTask& t) { t.continue_final = true; },
      [](RoleTask& t) { t.vars["question"] = "q2"; },
      [](RoleTask& t) { t.history.push_back({"assistant", "x"}); },
      [](RoleTask& t) { t.messages.push_back({"user", "x"}); },
  };
  std::set<std::string> hashes{h};
  for (auto& change : changes) {
    RoleTask t = base;
    change(t);
    hashes.insert(call_content_hash("solver", id, t, info));
  }
  CHECK(hashes.size() == changes.size() + 1);

  RoleTask seeded = base;
  seeded.seed = 1;
  RoleTask seeded2 = base;
  seeded2.seed = 2;
  CHECK(call_content_hash("solver", id, seeded, info) != call_content_hash("solver", id, seeded2, info));
  CHECK(call_content_hash("verifier", id, base, info) != h);
  CHECK(call_content_hash("solver", id, base, {"other", {1, 2}}) != h);
  CHECK(call_content_hash("solver", id, base, {"solution", {2, 1}}) != h);

  RoleSpec spec = default_role_spec("solver");
  spec.sampling.seed = 3;
  CHECK(role_identity(spec) != id);
  spec = default_role_spec("solver");
  spec.sampling.temperature = 0.1;
  CHECK(role_identity(spec) != id);
  spec = default_role_spec("solver");
  spec.model = "m2";
  CHECK(role_identity(spec) != id);
  spec = default_role_spec("solver");
  spec.backend_label = "http:other";
  CHECK(role_identity(spec) != id);
  spec = default_role_spec("solver");
  spec.template_text += " ";
  CHECK(role_identity(spec) != id);

  CHECK(journal_key(h, 0) != journal_key(h, 1));
}

namespace {

// Calls the solver with a given seed, then the verifier.
class SeededPipeline : public Pipeline {
 public:
  explicit SeededPipeline(int64_t seed) : seed_(seed) {}
  void start(RunContext& ctx) override {
    RoleTask t;
    t.vars["question"] = ctx.input().question;
    t.seed = seed_;
    ctx.call("solver", t, {"solution", {}}, [&ctx](const RoleOutput& a, const std::vector<uint64_t>& sa) {
      RoleTask v;
      v.vars["question"] = ctx.input().question;
      v.vars["solution"] = a.candidates.at(0).text;
      ctx.call("verifier", v, {"verify", sa}, [&ctx](const RoleOutput& b, const std::vector<uint64_t>&) {
        ctx.finish(std::to_string(b.candidates.at(0).verdict));
      });
    });
  }

 private:
  int64_t seed_;
};

}  // namespace

TEST_CASE("a resumed call with a changed seed is a new call, sent to the backend", "[durable][actors]") {
  const int64_t resumed_seed = GENERATE(5, 6);
  CAPTURE(resumed_seed);
  testing::TempDir dir;
  const std::string db = dir.file("db");
  {
    auto backend = std::make_shared<ControlledBackend>();
    backend->reply = chain_reply;
    backend->hold = [](const engine::GenerateRequest& r) { return prompt_of(r).find("Verdict") != std::string::npos; };
    Node node(db, backend);
    caf::scoped_actor self{*node.sys};
    node.start("run-s", std::make_shared<SeededPipeline>(5), self);
    backend->wait_held(1);
    node.crash(*backend);
  }
  auto backend = std::make_shared<ControlledBackend>();
  backend->reply = chain_reply;
  Node node(db, backend);
  caf::scoped_actor self{*node.sys};
  node.start("run-s", std::make_shared<SeededPipeline>(resumed_seed), self);
  RunOutcome o = await_outcome(self);
  REQUIRE(o.status == "succeeded");
  auto got = backend->received();
  if (resumed_seed == 5) {
    CHECK(o.replayed_calls == 1);
    REQUIRE(got.size() == 1);  // the verifier only
    CHECK(prompt_of(got[0]).find("Verdict") != std::string::npos);
  } else {
    CHECK(o.replayed_calls == 0);
    REQUIRE(got.size() == 2);  // the solver again (seed 6), then the verifier
    REQUIRE(got[0].sampling.seed.has_value());
    CHECK(*got[0].sampling.seed == 6);
    // The first life's solver step stays; the new one gets the next seq.
    auto steps = node.store->read_steps("run-s");
    REQUIRE(steps.ok());
    REQUIRE(steps->size() == 3);
    CHECK((*steps)[2].parents == std::vector<uint64_t>{1});
  }
}

TEST_CASE("starting a durable run that already ended reports its stored outcome and calls nothing",
          "[durable][actors]") {
  testing::TempDir dir;
  auto backend = std::make_shared<ControlledBackend>();
  backend->reply = chain_reply;
  Node node(dir.file("db"), backend);
  caf::scoped_actor self{*node.sys};
  node.start("run-done", std::make_shared<ChainPipeline>(), self);
  RunOutcome first = await_outcome(self);
  REQUIRE(first.status == "succeeded");
  REQUIRE(backend->received().size() == 3);
  node.start("run-done", std::make_shared<ChainPipeline>(), self);
  RunOutcome again = await_outcome(self);
  CHECK(again.status == "succeeded");
  CHECK(again.answer == first.answer);
  CHECK(backend->received().size() == 3);
  CHECK(step_views(*node.store, "run-done").size() == 3);
}

TEST_CASE("the call journal round-trips, is committed with its steps, and is kept per run", "[durable][memory]") {
  testing::TempDir dir;
  auto opened = memory::Store::open(dir.file("db"));
  REQUIRE(opened.ok());
  auto& store = **opened;
  memory::CallRecord c;
  c.run_id = "run-1";
  c.key = std::string(64, 'a') + "#0";
  c.request_id = "run-1/" + c.key + "/try-1";
  c.role = "verifier";
  c.ok = false;
  c.error_code = 3;
  c.error = "bad \"thing\"\n";
  c.prompt = {{"system", "s"}, {"user", "u\u00e9"}};
  c.candidates = {{"text 1", "42", 1, "stop", "</s>"}, {"text 2", "", -1, "length", ""}};
  c.calls = 2;
  c.prompt_tokens = 11;
  c.cached_prompt_tokens = 5;
  c.completion_tokens = 7;
  c.latency_ms = 1.5;
  c.backend = "scripted:x";
  c.sampling_json = R"({"n":2,"seed":3})";
  c.step_seqs = {4, 5};
  c.created_ms = 123;
  memory::CallRecord other = c;
  other.run_id = "run-10";
  memory::StepRecord s;
  s.run_id = "run-1";
  s.seq = 4;
  s.role = "verifier";
  s.prompt = c.prompt;
  memory::WriteSet set;
  set.steps = {s};
  set.calls = {c, other};
  REQUIRE(store.commit(set).ok());

  auto calls = store.read_calls("run-1");
  REQUIRE(calls.ok());
  REQUIRE(calls->size() == 1);
  const auto& r = (*calls)[0];
  CHECK(r.run_id == c.run_id);
  CHECK(r.key == c.key);
  CHECK(r.request_id == c.request_id);
  CHECK(r.role == c.role);
  CHECK(r.ok == c.ok);
  CHECK(r.error_code == c.error_code);
  CHECK(r.error == c.error);
  REQUIRE(r.prompt.size() == 2);
  CHECK(r.prompt[1].content == "u\u00e9");
  REQUIRE(r.candidates.size() == 2);
  CHECK(r.candidates[0].text == "text 1");
  CHECK(r.candidates[0].answer == "42");
  CHECK(r.candidates[0].verdict == 1);
  CHECK(r.candidates[0].stop_string == "</s>");
  CHECK(r.candidates[1].finish == "length");
  CHECK(r.candidates[1].verdict == -1);
  CHECK(r.calls == 2);
  CHECK(r.prompt_tokens == 11);
  CHECK(r.cached_prompt_tokens == 5);
  CHECK(r.completion_tokens == 7);
  CHECK(r.latency_ms == 1.5);
  CHECK(r.backend == c.backend);
  CHECK(r.sampling_json == c.sampling_json);
  CHECK(r.step_seqs == c.step_seqs);
  CHECK(r.created_ms == 123);
  CHECK(store.read_steps("run-1")->size() == 1);
  CHECK(store.read_calls("run-10")->size() == 1);
  CHECK(store.read_calls("run-2")->empty());

  auto bad = memory::decode_call(R"({"candidates":{}})");
  CHECK_FALSE(bad.ok());
  auto bad2 = memory::decode_call(R"({"step_seqs":"x"})");
  REQUIRE_FALSE(bad2.ok());
  CHECK(bad2.error().message.find("step_seqs") != std::string::npos);
}

TEST_CASE("the scripted backend's request log gets one fsynced line per request received", "[durable][scripted]") {
  testing::TempDir dir;
  const std::string log = dir.file("requests.log");
  auto fx = engine::ScriptedBackend::parse_fixture("default: \"ok\"\nrequest_log: \"" + log + "\"\n", "inline");
  REQUIRE(fx.ok());
  CHECK(fx->request_log == log);
  {
    engine::ScriptedBackend backend(*fx);
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    for (const char* id : {"a/k#0/try-1", "a/k#1/try-2"}) {
      engine::GenerateRequest r;
      r.id = id;
      r.messages.push_back({"user", "hi"});
      backend.submit(r, [&](Result<engine::GenerateResult>) {
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == 2; });
  }
  const std::string hash = sha256_hex("user: hi");
  CHECK(testing::read_file(log) == "a/k#0/try-1\t" + hash + "\na/k#1/try-2\t" + hash + "\n");
}
