// Runs left `running` by a process that stopped before they ended.
//
// A batch run (`troupe run`, origin kRunOriginCli) lives only as long as its
// process: nothing resumes it. If that process is killed, its runs stay
// `running` in the store. A writable open of a store is exclusive (RocksDB's
// lock), so whoever holds one knows that no other process is driving that
// store's cli runs: every cli run still `running` then was interrupted.
// Daemon runs (origin "", see RunRecord::origin) are left alone: the daemon
// resumes its `running` runs on its next start (docs/daemon.md).
//
// Callers may rely on:
// - mark_interrupted_runs() changes only the status, error and updated_ms of
//   runs with origin kRunOriginCli and status running, in one batch; their
//   steps, pairs and journal are untouched. It returns the runs it marked
//   (as written), oldest first. Call it only on a store opened writable by
//   a process that drives no runs yet.
// - find_running_runs() reads only; it works on a read-only store.
#pragma once

#include <cstdint>
#include <vector>

#include "common/error.hpp"
#include "memory/store.hpp"

namespace troupe::memory {

// The message recorded as the error of an interrupted run.
inline constexpr const char* kInterruptedError =
    "interrupted: the troupe run process running it stopped before the run ended (killed or crashed); "
    "its recorded steps are kept";

Result<std::vector<RunRecord>> mark_interrupted_runs(Store& store, int64_t now_ms);

// Runs with status `running`, oldest first, split by who drives them.
struct RunningRuns {
  std::vector<RunRecord> cli;     // a batch process was running them: interrupted if none is now
  std::vector<RunRecord> daemon;  // origin "": the daemon resumes them on its next start
};
Result<RunningRuns> find_running_runs(Store& store);

}  // namespace troupe::memory
