#include "actors/run_director.hpp"

#include <chrono>
#include <exception>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "actors/journal.hpp"
#include "actors/run_cancellation.hpp"
#include "common/json_writer.hpp"
#include "scoring/answer.hpp"

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
  // Reaches the run's tools that work outside messages (run_cancellation.hpp).
  CancelFlag cancel_flag;

  // Stops the run's in-flight work: generation in the engine, tools.
  void stop_in_flight() {
    self->send(cfg.gateway, cancel_run_atom_v, cfg.run_id);
    stop_run_tools(cfg.run_id);
  }

  // Durable runs: the committed journal (key -> call), how many calls with
  // each content hash were made so far, and replies waiting to be replayed.
  std::map<std::string, memory::CallRecord> journal;
  std::map<std::string, int64_t> occurrences;
  struct Replay {
    RoleOutput out;
    std::vector<uint64_t> seqs;
    RoleThen then;
    std::string key, request_id, model;
  };
  std::map<uint64_t, Replay> replays;
  uint64_t next_replay = 0;
  int64_t replayed_calls = 0;

  // One entry per role reply the pipeline saw, in that order.
  struct ReceiptEntry {
    std::string key, request_id, role, backend, model;
    std::optional<int64_t> seed;
    bool replayed = false;
    int64_t calls = 0, prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  };
  std::vector<ReceiptEntry> receipt;

  void note_receipt(const std::string& key, const std::string& request_id, const RoleOutput& out,
                    const std::string& model_override, bool replayed) {
    ReceiptEntry e;
    e.key = key;
    e.request_id = request_id;
    e.role = out.role;
    e.backend = out.backend;
    if (!model_override.empty()) {
      e.model = model_override;
    } else {
      auto colon = out.backend.find(':');
      e.model = colon == std::string::npos ? "" : out.backend.substr(colon + 1);
    }
    e.seed = sampling_seed(out.sampling_json);
    e.replayed = replayed;
    e.calls = out.calls;
    e.prompt_tokens = out.prompt_tokens;
    e.cached_prompt_tokens = out.cached_prompt_tokens;
    e.completion_tokens = out.completion_tokens;
    receipt.push_back(std::move(e));
  }

  void account(const RoleOutput& out) {
    calls += out.calls;
    prompt_tokens += out.prompt_tokens;
    cached_prompt_tokens += out.cached_prompt_tokens;
    completion_tokens += out.completion_tokens;
  }

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

  void refuse(const std::string& role, const Error& why, const RoleThen& then) {
    RoleOutput out;
    out.ok = false;
    out.role = role;
    out.error_code = static_cast<int>(why.code);
    out.error = why.message;
    guarded("budget continuation", [&] { then(out, {}); });
  }

  void call(const std::string& role, RoleTask task, StepInfo info, RoleThen then) override {
    if (ended) return;
    // Durable runs: the call's key. Every call gets its occurrence index,
    // refused or not, so the k-th identical call is the k-th on every replay.
    std::string key;
    if (cfg.journal) {
      auto id = cfg.role_identity.find(role);
      std::string hash = call_content_hash(role, id == cfg.role_identity.end() ? "" : id->second, task, info);
      key = journal_key(hash, occurrences[hash]++);
    }
    if (!cancel_requested && !wall_expired && !key.empty()) {
      auto j = journal.find(key);
      if (j != journal.end()) {
        // Committed before: answer from the journal, asynchronously like a
        // real reply, with the steps it was recorded as.
        uint64_t token = next_replay++;
        replays[token] = Replay{from_call_record(j->second), j->second.step_seqs, std::move(then), key,
                                j->second.request_id, task.model};
        ++in_flight;
        self->send(self, replay_atom_v, token);
        return;
      }
    }
    if (auto why = refusal()) return refuse(role, *why, then);
    auto it = cfg.roles.find(role);
    if (it == cfg.roles.end()) {
      fail(Error{ErrorCode::invalid_argument, "pipeline " + cfg.pipeline_name + " asked for role '" + role +
                                                  "', which this workflow does not define"});
      return;
    }
    task.run_id = cfg.run_id;
    // A durable call's request id names its journal key (plus a fresh,
    // time-ordered attempt id), so backend-side logs can be matched to the
    // journal: "<run>/<key>/try-<id>".
    task.request_id = key.empty() ? new_id("req") : cfg.run_id + "/" + key + "/" + new_id("try");
    if (cfg.budget.max_tokens > 0) {
      int64_t left = cfg.budget.max_tokens - prompt_tokens - completion_tokens;
      if (task.max_tokens == 0 || task.max_tokens > left) task.max_tokens = std::max<int64_t>(1, left);
    }
    ++in_flight;
    auto* st = this;
    std::string request_id = task.request_id;
    std::string model = task.model;
    self->request(it->second, caf::infinite, std::move(task))
        .then(
            [st, role, info, then, key, request_id, model](RoleOutput& out) {
              --st->in_flight;
              st->account(out);
              if (st->ended) return;
              if (!out.ok && out.error_code == static_cast<int>(ErrorCode::cancelled) && st->wall_expired &&
                  !st->cancel_requested) {
                out.error_code = static_cast<int>(ErrorCode::budget_exhausted);
                out.error = "wall-time budget of " + std::to_string(st->cfg.budget.wall_time_s) + " s exhausted";
              }
              st->note_receipt(key, request_id, out, model, false);
              st->record_then(std::move(out), info, then, key, request_id);
            },
            [st, role](caf::error& err) {
              --st->in_flight;
              st->fail(Error{ErrorCode::internal, "role " + role + " failed: " + st->self->system().render(err)});
            });
  }

  void deliver_replay(uint64_t token) {
    auto it = replays.find(token);
    if (it == replays.end()) return;
    Replay r = std::move(it->second);
    replays.erase(it);
    --in_flight;
    account(r.out);
    ++replayed_calls;
    if (ended) return;
    note_receipt(r.key, r.request_id, r.out, r.model, true);
    guarded("continuation", [&] { r.then(r.out, r.seqs); });
  }

  // Records one step per candidate, then continues the pipeline.
  void record_then(RoleOutput out, const StepInfo& info, const RoleThen& then, const std::string& key,
                   const std::string& request_id) {
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
      s.prompt_token_ids = out.prompt_token_ids;
      s.completion_token_ids = c.token_ids;
      s.token_logprobs = c.logprobs;
      s.top_logprobs_json = c.top_logprobs_json;
      s.tokens_unavailable = c.unavailable;
      s.token_info = out.token_info;
      seqs.push_back(s.seq);
      steps[s.seq] = s;  // kept whole: a labelled step is written again when the run ends
      w.steps.push_back(std::move(s));
    }
    // Durable runs journal the reply with its steps, in the same batch. A
    // reply cut short by cancellation is not a result: a resumed run asks
    // again.
    if (cfg.journal && !key.empty() && !(!out.ok && (out.error_code == static_cast<int>(ErrorCode::cancelled) ||
                                                      out.error_code == static_cast<int>(ErrorCode::budget_exhausted))))
      w.calls.push_back(to_call_record(cfg.run_id, key, request_id, out, seqs));
    if (w.steps.empty() && w.calls.empty()) {
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
              if (st->cfg.on_step) {
                for (uint64_t seq : seqs) {
                  auto it = st->steps.find(seq);
                  if (it != st->steps.end()) st->guarded("on_step", [&] { st->cfg.on_step(it->second); });
                }
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
        .field("wall_ms", clock.elapsed_ms())
        .field("replayed_calls", replayed_calls);
    if (!stop.empty()) w.field("stop", stop);
    w.key("receipt").begin_array();
    for (const auto& e : receipt) {
      w.begin_object();
      if (!e.key.empty()) w.field("key", e.key);
      if (!e.request_id.empty()) w.field("request_id", e.request_id);
      w.field("role", e.role).field("backend", e.backend).field("model", e.model);
      if (e.seed) w.field("seed", static_cast<long long>(*e.seed));
      else w.key("seed").null();
      w.field("replayed", e.replayed)
          .field("calls", e.calls)
          .field("prompt_tokens", e.prompt_tokens)
          .field("cached_prompt_tokens", e.cached_prompt_tokens)
          .field("completion_tokens", e.completion_tokens)
          .end_object();
    }
    w.end_array();
    w.end_object();
    return out;
  }

  memory::RunRecord base_record() const {
    memory::RunRecord r;
    r.id = cfg.run_id;
    r.workflow = cfg.workflow;
    r.workflow_hash = cfg.workflow_hash;
    r.pipeline = cfg.pipeline_name;
    r.origin = cfg.origin;
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
    if (in_flight > 0) stop_in_flight();
    memory::RunRecord r = base_record();
    r.status = status;
    r.answer = answer;
    r.error = error;
    if (cfg.input.gold && status == memory::RunStatus::succeeded)
      r.correct = scoring::answers_match(answer, *cfg.input.gold);
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
    o.replayed_calls = replayed_calls;
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

  // Durable runs: picks up what a previous execution of this run committed
  // (record, steps, journal). Sets `done` when the run already ended.
  Status load_journal(std::optional<RunOutcome>& done) {
    auto where = [&](const Error& e) { return e.with_context("resuming run " + cfg.run_id); };
    auto rec = cfg.journal->get_run(cfg.run_id);
    if (!rec) return where(rec.error());
    if (*rec) {
      const memory::RunRecord& r = **rec;
      if (r.created_ms > 0) created_ms = r.created_ms;
      if (r.status == memory::RunStatus::succeeded || r.status == memory::RunStatus::failed ||
          r.status == memory::RunStatus::cancelled) {
        RunOutcome o;
        o.run_id = r.id;
        o.item_id = r.item_id;
        o.status = memory::to_string(r.status);
        o.answer = r.answer;
        o.correct = r.correct ? (*r.correct ? 1 : 0) : -1;
        o.error = r.error;
        done = std::move(o);
        return {};
      }
    }
    auto loaded_steps = cfg.journal->read_steps(cfg.run_id);
    if (!loaded_steps) return where(loaded_steps.error());
    for (auto& s : *loaded_steps) {
      next_seq = std::max(next_seq, s.seq + 1);
      uint64_t seq = s.seq;
      steps[seq] = std::move(s);
    }
    auto loaded_calls = cfg.journal->read_calls(cfg.run_id);
    if (!loaded_calls) return where(loaded_calls.error());
    for (auto& c : *loaded_calls) {
      std::string key = c.key;
      journal[key] = std::move(c);
    }
    return {};
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
        st.cancel_flag = run_cancel_flag(st.cfg.run_id);
        if (st.cfg.journal) {
          std::optional<RunOutcome> done;
          if (auto loaded = st.load_journal(done); !loaded) {
            st.fail(loaded.error());
            return st.promise;
          }
          if (done) {
            // Already over: report what is stored, run nothing.
            st.ended = true;
            st.promise.deliver(std::move(*done));
            self->quit();
            return st.promise;
          }
        }
        if (st.cancel_requested) {
          // Cancelled before it started (the cancel is already committed).
          st.fail(Error{ErrorCode::cancelled, "run " + st.cfg.run_id + " was cancelled before it started"});
          return st.promise;
        }
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
        st.stop_in_flight();
      },
      [self](cancel_atom, stored_atom) -> caf::result<bool> {
        // The durable cancel: once the request is marked, every way this
        // run can end records it cancelled, so committing `cancelled` now
        // agrees with the final record, and a restarted daemon never
        // resumes the run.
        auto& st = self->state;
        if (st.ended) return false;
        if (!st.cancel_requested) {
          st.cancel_requested = true;
          if (st.started) st.stop_in_flight();
          else stop_run_tools(st.cfg.run_id);
        }
        StoreWrite w;
        memory::RunRecord r = st.base_record();
        if (!st.started) r.created_ms = 0;  // keep the stored one (see below)
        r.status = memory::RunStatus::cancelled;
        r.error = "cancel requested; stopping";
        if (!st.started && st.cfg.journal) {
          // Not started: the stored record (queued or running, from a
          // previous daemon) has the creation time to keep.
          auto rec = st.cfg.journal->get_run(st.cfg.run_id);
          if (rec.ok() && *rec) r.created_ms = (*rec)->created_ms;
        }
        w.runs.push_back(std::move(r));
        auto promise = self->make_response_promise<bool>();
        self->request(st.cfg.writer, caf::infinite, std::move(w))
            .then([promise](StoreAck& ack) mutable { promise.deliver(ack.ok); },
                  [promise](caf::error&) mutable { promise.deliver(false); });
        return promise;
      },
      [self](replay_atom, uint64_t token) { self->state.deliver_replay(token); },
      [self](wall_timeout_atom) {
        auto& st = self->state;
        if (st.ended) return;
        st.wall_expired = true;
        st.stop_in_flight();
      },
  };
}

}  // namespace

run_director spawn_run_director(caf::actor_system& sys, DirectorConfig config) {
  return sys.spawn(director, std::move(config));
}

}  // namespace troupe::actors
