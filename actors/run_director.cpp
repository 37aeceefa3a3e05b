#include "actors/run_director.hpp"

#include <chrono>
#include <exception>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/json_writer.hpp"
#include "tools/answer.hpp"

namespace troupe::actors {
namespace {

class DirectorState;
using director_pointer = run_director::stateful_pointer<DirectorState>;

class DirectorState : public RunContext {
 public:
  static inline const char* name = "run_director";

  director_pointer self = nullptr;
  DirectorConfig cfg;
  caf::typed_response_promise<RunOutcome> promise;
  Stopwatch clock;
  int64_t created_ms = 0;
  uint64_t next_seq = 0;
  std::map<uint64_t, memory::StepRecord> steps;
  std::vector<uint64_t> labelled;
  std::vector<memory::PairRecord> pairs;
  int64_t calls = 0, prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  int in_flight = 0;
  bool started = false, ended = false, cancel_requested = false, wall_expired = false;

  const std::string& run_id() const override { return cfg.run_id; }
  const RunInput& input() const override { return cfg.input; }
  bool has_role(const std::string& role) const override { return cfg.roles.count(role) > 0; }

  const memory::StepRecord* step(uint64_t seq) const override {
    auto it = steps.find(seq);
    return it == steps.end() ? nullptr : &it->second;
  }

  void label_step(uint64_t seq, bool good) override {
    auto it = steps.find(seq);
    if (it == steps.end()) return;
    it->second.label = good;
    labelled.push_back(seq);
  }

  void add_pair(std::vector<memory::Message> prompt, uint64_t chosen_seq, uint64_t rejected_seq,
                std::string reason, double margin) override {
    const auto* chosen = step(chosen_seq);
    const auto* rejected = step(rejected_seq);
    if (!chosen || !rejected) return;
    memory::PairRecord p;
    p.id = new_id("pair");
    p.run_id = cfg.run_id;
    p.workflow = cfg.workflow;
    p.prompt = std::move(prompt);
    p.chosen = chosen->completion;
    p.rejected = rejected->completion;
    p.source_steps = {chosen_seq, rejected_seq};
    p.reason = std::move(reason);
    p.margin = margin;
    p.created_ms = now_unix_ms();
    pairs.push_back(std::move(p));
  }

  // Why no further call may start, or ok.
  std::optional<Error> refusal() const {
    if (cancel_requested) return Error{ErrorCode::cancelled, "run " + cfg.run_id + " was cancelled"};
    if (wall_expired)
      return Error{ErrorCode::budget_exhausted,
                   "wall-time budget of " + std::to_string(cfg.budget.wall_time_s) + " s exhausted"};
    if (cfg.budget.max_calls > 0 && calls >= cfg.budget.max_calls)
      return Error{ErrorCode::budget_exhausted,
                   "call budget of " + std::to_string(cfg.budget.max_calls) + " calls exhausted"};
    if (cfg.budget.max_tokens > 0 && prompt_tokens + completion_tokens >= cfg.budget.max_tokens)
      return Error{ErrorCode::budget_exhausted,
                   "token budget of " + std::to_string(cfg.budget.max_tokens) + " tokens exhausted"};
    return std::nullopt;
  }

  template <class F>
  void guarded(const char* where, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      fail(Error{ErrorCode::internal, std::string("pipeline ") + cfg.pipeline_name + " (" + where + "): " + e.what()});
    } catch (...) {
      fail(Error{ErrorCode::internal, std::string("pipeline ") + cfg.pipeline_name + " (" + where + "): unknown exception"});
    }
  }

  void call(const std::string& role, RoleTask task, StepInfo info, RoleThen then) override {
    if (ended) return;
    if (auto why = refusal()) {
      RoleOutput out;
      out.ok = false;
      out.role = role;
      out.error_code = static_cast<int>(why->code);
      out.error = why->message;
      guarded("budget continuation", [&] { then(out, {}); });
      return;
    }
    auto it = cfg.roles.find(role);
    if (it == cfg.roles.end()) {
      fail(Error{ErrorCode::invalid_argument, "pipeline " + cfg.pipeline_name + " asked for role '" + role +
                                                  "', which this workflow does not define"});
      return;
    }
    task.run_id = cfg.run_id;
    task.request_id = new_id("req");
    if (cfg.budget.max_tokens > 0) {
      int64_t left = cfg.budget.max_tokens - prompt_tokens - completion_tokens;
      if (task.max_tokens == 0 || task.max_tokens > left) task.max_tokens = std::max<int64_t>(1, left);
    }
    ++in_flight;
    auto* st = this;
    self->request(it->second, caf::infinite, std::move(task))
        .then(
            [st, role, info, then](RoleOutput& out) {
              --st->in_flight;
              st->calls += out.calls;
              st->prompt_tokens += out.prompt_tokens;
              st->cached_prompt_tokens += out.cached_prompt_tokens;
              st->completion_tokens += out.completion_tokens;
              if (st->ended) return;
              if (!out.ok && out.error_code == static_cast<int>(ErrorCode::cancelled) && st->wall_expired &&
                  !st->cancel_requested) {
                out.error_code = static_cast<int>(ErrorCode::budget_exhausted);
                out.error = "wall-time budget of " + std::to_string(st->cfg.budget.wall_time_s) + " s exhausted";
              }
              st->record_then(std::move(out), info, then);
            },
            [st, role](caf::error& err) {
              --st->in_flight;
              st->fail(Error{ErrorCode::internal, "role " + role + " failed: " + st->self->system().render(err)});
            });
  }

  // Records one step per candidate, then continues the pipeline.
  void record_then(RoleOutput out, const StepInfo& info, const RoleThen& then) {
    StoreWrite w;
    std::vector<uint64_t> seqs;
    size_t n = out.candidates.size();
    for (size_t i = 0; i < n; ++i) {
      const Candidate& c = out.candidates[i];
      memory::StepRecord s;
      s.run_id = cfg.run_id;
      s.seq = next_seq++;
      s.role = out.role;
      s.kind = info.kind;
      s.parents = info.parents;
      s.prompt = out.prompt;
      s.completion = c.text;
      s.answer = c.answer;
      if (c.verdict >= 0) s.verdict = c.verdict == 1;
      // Usage is per call; the prompt is charged to the first candidate and
      // completion tokens are split evenly between siblings.
      s.prompt_tokens = i == 0 ? out.prompt_tokens : 0;
      s.cached_prompt_tokens = i == 0 ? out.cached_prompt_tokens : 0;
      s.completion_tokens = n ? out.completion_tokens / static_cast<int64_t>(n) : 0;
      s.finish_reason = c.finish;
      s.latency_ms = out.latency_ms;
      s.backend = out.backend;
      s.sampling_json = out.sampling_json;
      if (out.calls > 1) s.meta_json = "{\"calls\":" + std::to_string(out.calls) + "}";
      s.created_ms = now_unix_ms();
      seqs.push_back(s.seq);
      steps[s.seq] = s;
      w.steps.push_back(std::move(s));
    }
    if (w.steps.empty()) {
      guarded("continuation", [&] { then(out, seqs); });
      return;
    }
    auto* st = this;
    self->request(cfg.writer, caf::infinite, std::move(w))
        .then(
            [st, out, seqs, then](StoreAck& ack) {
              if (st->ended) return;
              if (!ack.ok) {
                st->fail(Error{ErrorCode::io, "recording steps: " + ack.error});
                return;
              }
              st->guarded("continuation", [&] { then(out, seqs); });
            },
            [st](caf::error& err) {
              st->fail(Error{ErrorCode::internal, "store writer failed: " + st->self->system().render(err)});
            });
  }

  std::string metrics_json(const std::string& stop) const {
    std::string out;
    JsonWriter w(out);
    w.begin_object()
        .field("calls", calls)
        .field("prompt_tokens", prompt_tokens)
        .field("cached_prompt_tokens", cached_prompt_tokens)
        .field("completion_tokens", completion_tokens)
        .field("steps", static_cast<int64_t>(steps.size()))
        .field("pairs", static_cast<int64_t>(pairs.size()))
        .field("wall_ms", clock.elapsed_ms());
    if (!stop.empty()) w.field("stop", stop);
    w.end_object();
    return out;
  }

  memory::RunRecord base_record() const {
    memory::RunRecord r;
    r.id = cfg.run_id;
    r.workflow = cfg.workflow;
    r.workflow_hash = cfg.workflow_hash;
    r.pipeline = cfg.pipeline_name;
    r.item_id = cfg.input.item_id;
    r.input_json = cfg.input.raw_json;
    r.gold = cfg.input.gold.value_or("");
    r.created_ms = created_ms;
    r.updated_ms = now_unix_ms();
    return r;
  }

  void end(memory::RunStatus status, std::string answer, std::string error) {
    if (ended) return;
    ended = true;
    if (in_flight > 0) self->send(cfg.gateway, cancel_run_atom_v, cfg.run_id);
    memory::RunRecord r = base_record();
    r.status = status;
    r.answer = answer;
    r.error = error;
    if (cfg.input.gold && status == memory::RunStatus::succeeded)
      r.correct = tools::answers_match(answer, *cfg.input.gold);
    std::string stop = wall_expired ? "wall_time" : cancel_requested ? "cancelled" : "";
    r.metrics_json = metrics_json(stop);
    StoreWrite w;
    for (uint64_t seq : labelled) w.steps.push_back(steps[seq]);
    w.pairs = pairs;
    w.runs.push_back(r);
    RunOutcome o;
    o.run_id = cfg.run_id;
    o.item_id = cfg.input.item_id;
    o.status = memory::to_string(status);
    o.answer = answer;
    o.correct = r.correct ? (*r.correct ? 1 : 0) : -1;
    o.error = error;
    o.calls = calls;
    o.prompt_tokens = prompt_tokens;
    o.completion_tokens = completion_tokens;
    o.steps = static_cast<int64_t>(steps.size());
    o.pairs = static_cast<int64_t>(pairs.size());
    o.wall_ms = clock.elapsed_ms();
    auto* st = this;
    self->request(cfg.writer, caf::infinite, std::move(w))
        .then(
            [st, o](StoreAck& ack) mutable {
              if (!ack.ok) {
                o.status = "failed";
                o.error = (o.error.empty() ? "" : o.error + "; ") + "recording the run's end: " + ack.error;
              }
              st->promise.deliver(std::move(o));
              st->self->quit();
            },
            [st, o](caf::error& err) mutable {
              o.status = "failed";
              o.error = "store writer failed: " + st->self->system().render(err);
              st->promise.deliver(std::move(o));
              st->self->quit();
            });
  }

  void finish(std::string answer) override {
    end(cancel_requested ? memory::RunStatus::cancelled : memory::RunStatus::succeeded, std::move(answer), "");
  }

  void fail(Error error) override {
    bool cancelled = cancel_requested || error.code == ErrorCode::cancelled;
    end(cancelled ? memory::RunStatus::cancelled : memory::RunStatus::failed, "", error.describe());
  }
};

run_director::behavior_type director(director_pointer self, DirectorConfig cfg) {
  self->state.self = self;
  self->state.cfg = std::move(cfg);
  return {
      [self](start_atom) -> caf::result<RunOutcome> {
        auto& st = self->state;
        st.promise = self->make_response_promise<RunOutcome>();
        if (st.started) {
          RunOutcome o;
          o.run_id = st.cfg.run_id;
          o.status = "failed";
          o.error = "run already started";
          return o;
        }
        st.started = true;
        st.created_ms = now_unix_ms();
        st.clock.reset();
        StoreWrite w;
        memory::RunRecord r = st.base_record();
        r.status = memory::RunStatus::running;
        w.runs.push_back(std::move(r));
        self->request(st.cfg.writer, caf::infinite, std::move(w))
            .then(
                [self](StoreAck& ack) {
                  auto& st = self->state;
                  if (!ack.ok) {
                    st.fail(Error{ErrorCode::io, "recording the run's start: " + ack.error});
                    return;
                  }
                  if (st.cfg.budget.wall_time_s > 0)
                    self->delayed_send(self, std::chrono::milliseconds(static_cast<int64_t>(st.cfg.budget.wall_time_s * 1000)),
                                       wall_timeout_atom_v);
                  st.guarded("start", [&] { st.cfg.pipeline->start(st); });
                },
                [self](caf::error& err) {
                  self->state.fail(Error{ErrorCode::internal, "store writer failed: " + self->system().render(err)});
                });
        return st.promise;
      },
      [self](cancel_atom) {
        auto& st = self->state;
        if (st.ended || st.cancel_requested) return;
        st.cancel_requested = true;
        self->send(st.cfg.gateway, cancel_run_atom_v, st.cfg.run_id);
      },
      [self](wall_timeout_atom) {
        auto& st = self->state;
        if (st.ended) return;
        st.wall_expired = true;
        self->send(st.cfg.gateway, cancel_run_atom_v, st.cfg.run_id);
      },
  };
}

}  // namespace

run_director spawn_run_director(caf::actor_system& sys, DirectorConfig config) {
  return sys.spawn(director, std::move(config));
}

}  // namespace troupe::actors
