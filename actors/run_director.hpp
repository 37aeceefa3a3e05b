// The run director: one actor per run. It owns the run's Pipeline and is
// its RunContext (see actors/pipeline.hpp for what pipelines may rely on).
// `start` writes the run record (status running), starts the pipeline and
// answers, when the run ends, with a RunOutcome, after the final run
// record, step labels and preference pairs are committed. `cancel` stops
// in-flight generation in the engine and the run's tools (its cancel flag,
// actors/run_cancellation.hpp: a command verifier's processes are killed)
// and ends the run as cancelled once the pipeline has seen its cancelled
// outputs; `cancel, stored` does the same and answers once `cancelled` is
// committed as the run's status, so a restart never resumes the run. The
// flag is also set on a wall-time expiry and when a run ends with work in
// flight. A failing pipeline (an
// exception, an error reply) fails this run only, with the reason stored.
//
// Durable runs (cfg.journal set; docs/durability.md): every role reply is
// committed in the same store batch as its steps, as a journal record keyed
// by the call's content hash and occurrence index (actors/journal.hpp). A
// director started for a run id that already has a record resumes it: it
// keeps the record's created_ms, loads the run's steps (new steps continue
// after the highest committed seq) and its journal, and answers every call
// found in the journal from it (asynchronously, like a real reply: no
// backend request, no new step, counted in budgets, replayed_calls and the
// receipt). Calls not in the journal (never made, or in flight at a crash)
// go to the backend. A run whose record is already terminal is not run
// again: start answers its stored outcome. The final run record's
// metrics_json carries "replayed_calls" and "receipt", one entry per call
// in the order replies reached the pipeline: {key, role, backend, model,
// seed, replayed, calls, prompt_tokens, cached_prompt_tokens,
// completion_tokens, request_id}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "actors/engine_gateway.hpp"
#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "actors/store_writer.hpp"

namespace troupe::actors {

struct Budget {
  int64_t max_calls = 0;   // 0 = unlimited
  int64_t max_tokens = 0;  // prompt + completion tokens, 0 = unlimited
  double wall_time_s = 0;  // 0 = unlimited
};

struct DirectorConfig {
  std::string run_id;
  std::string workflow;
  std::string workflow_hash;
  std::string pipeline_name;
  // Written into every record of the run (memory::RunRecord::origin).
  std::string origin;
  RunInput input;
  Budget budget;
  std::map<std::string, role_actor> roles;
  engine_gateway gateway;
  store_writer writer;
  std::shared_ptr<Pipeline> pipeline;
  // Durable runs (the daemon): when set, every role call's result is
  // journaled in this store together with its steps, and a run restarted
  // with the same run_id replays committed calls from the journal instead
  // of asking the backend again (exactly-once; see docs/daemon.md).
  // Must be the store `writer` writes to.
  std::shared_ptr<memory::Store> journal;
  // Per role: what the role adds to a call's identity (role_identity() of
  // its RoleSpec; workflows::director_config() fills it). Part of every
  // journal key.
  std::map<std::string, std::string> role_identity;
  // Called in the director, after each step is committed (live events).
  // Steps replayed from the journal were announced when first committed
  // and are not announced again.
  std::function<void(const memory::StepRecord&)> on_step;
};

using run_director = caf::typed_actor<caf::replies_to<start_atom>::with<RunOutcome>,
                                      caf::reacts_to<cancel_atom>,
                                      // The durable cancel: answers true once the
                                      // run's record says `cancelled` in the store,
                                      // false when the run had already ended (or
                                      // the write failed).
                                      caf::replies_to<cancel_atom, stored_atom>::with<bool>,
                                      caf::reacts_to<wall_timeout_atom>,
                                      // Internal: deliver a replayed call.
                                      caf::reacts_to<replay_atom, uint64_t>>;

run_director spawn_run_director(caf::actor_system& sys, DirectorConfig config);

}  // namespace troupe::actors
