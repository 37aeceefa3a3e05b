// The daemon's run service: a durable queue of runs over one actor system,
// one store (and its store writer), the configured backends (one engine
// gateway each) and the role actors of each workflow in use.
//
// Callers may rely on:
// - submit() returns run ids only after their `queued` run records (and the
//   bound workflow text they refer to, a blob under the run's
//   workflow_hash) are committed: a daemon killed right after a 2xx reply
//   still runs them when it starts again.
// - At most config.concurrency runs execute at once; the rest wait in FIFO
//   order. In memory the service keeps only the queued runs' ids and the
//   executing runs; a finished run lives in the store alone.
// - start() resumes the store's queued and running runs (creation order)
//   under the same run ids, each with DirectorConfig::journal = the store,
//   so committed role calls are replayed, not asked again (docs/durability.md).
// - Every committed step is published to the EventHub (and counted in the
//   metrics) after it is in the store; a run's end event after its final
//   record is.
// - cancel() of a queued run records it cancelled at once; of a running run
//   it returns `requested` only after the director has committed the run's
//   status as `cancelled` (so no later start resumes it) and stopped its
//   in-flight generation in the engine and its tools (a command verifier's
//   processes are killed); the run's final record follows shortly after.
// - shutdown(grace) stops launching, waits up to `grace` seconds for the
//   executing runs, and leaves the others as `running` in the store (their
//   committed steps are the checkpoint; the next start resumes them); their
//   tools are stopped, so it returns shortly after `grace` whatever the
//   pipelines are doing. Every write acknowledged before it is durable.
//   Idempotent; the destructor calls shutdown(0).
// - Inline workflows are loaded untrusted (no programs, files or
//   environment variables; docs/daemon.md, "Trust model"); the catalog's
//   are trusted, with file params confined to the workflows folder.
// - A request with an idempotency key names its runs keyed_run_id(key, n)
//   (daemon/shared_run.hpp): submitted again, the runs already in the store
//   are returned, not queued twice.
// - With config.nats.url (docs/scale-out.md), submit() without on_end
//   publishes each run to JetStream (Nats-Msg-Id = the run id) and returns
//   once JetStream has stored it; nothing is written to this store: the
//   daemon that fetches a run stores and runs it (origin kRunOriginNats) and
//   acknowledges the message after the run's final record is committed. A
//   fetched run that this store holds as ended is acknowledged, not run
//   again. A request with on_end (the OpenAI front waits on it) runs here.
//   start() does not resume runs of origin kRunOriginNats: it records them
//   `interrupted`, and JetStream redelivers them (to this daemon or another).
// Thread-safe: HTTP handler threads call in concurrently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"
#include "common/error.hpp"
#include "daemon/config.hpp"
#include "daemon/event_hub.hpp"
#include "daemon/metrics.hpp"
#include "daemon/workflow_catalog.hpp"
#include "engine/backend.hpp"
#include "memory/store.hpp"

namespace troupe::daemon {

struct ServiceOptions {
  // Backends to use instead of building them from the config, by name (tests
  // and the bench pass scripted backends they can inspect).
  std::map<std::string, std::shared_ptr<engine::Backend>> backends;
  std::shared_ptr<memory::Store> store;  // an open store instead of config.db
};

struct SubmitRequest {
  std::string workflow;       // a workflow name from the catalog, or
  std::string workflow_yaml;  // a workflow given inline
  std::string backend;        // a configured backend name; "" = the default
  std::vector<actors::RunInput> inputs;
  std::string idempotency_key;  // "" = none; see keyed_run_id()
  // Called once per run when it ends (in memory only; not after a restart).
  std::function<void(const memory::RunRecord&)> on_end;
};

// The origin of a run this daemon fetched from NATS JetStream.
inline constexpr const char* kRunOriginNats = "nats";

enum class CancelResult { cancelled, requested, not_found, already_finished };

class RunService {
 public:
  static Result<std::unique_ptr<RunService>> start(DaemonConfig config, ServiceOptions options = {});
  ~RunService();
  RunService(const RunService&) = delete;
  RunService& operator=(const RunService&) = delete;

  // invalid_argument / not_found / parse for a bad request (named workflow,
  // backend, params, inputs); unavailable-while-stopping is ErrorCode::cancelled;
  // io when the store write fails.
  Result<std::vector<std::string>> submit(SubmitRequest request);
  Result<std::optional<memory::RunRecord>> get(const std::string& id);
  // Runs in creation order after `after` (a run id; "" = from the start),
  // filtered, at most `limit`.
  Result<std::vector<memory::RunRecord>> list(std::optional<memory::RunStatus> status, const std::string& workflow,
                                              const std::string& after, size_t limit);
  Result<CancelResult> cancel(const std::string& id);
  void shutdown(double grace_s);
  // The first half of shutdown: refuses new work and waits up to grace_s for
  // the executing runs. Call shutdown() after the threads that called into
  // the service (the HTTP server's) have stopped: the actor system can only
  // be torn down once they are gone.
  void drain(double grace_s);

  EventHub& hub();
  memory::Store& store();
  const DaemonConfig& config() const;
  const WorkflowCatalog& catalog() const;
  std::string metrics_text();
  Metrics& metrics();
  int64_t resumed_runs() const;  // how many runs start() resumed

  struct Impl;

 private:
  explicit RunService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace troupe::daemon
