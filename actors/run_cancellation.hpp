// Per-run cancellation flags: how a cancel reaches work that runs outside
// the actors' messages — a tool blocked in a subprocess (IAD's command
// verifier) polls its run's flag and kills the process when it is set.
//
// What callers may rely on: run_cancel_flag(id) returns the same flag
// object for the same run id for as long as anyone holds it (a run's
// director holds it from start to end). stop_run_tools(id) sets that flag
// and remembers the id (the most recent 4096), so a tool task of that run
// that starts later — still queued behind another when the run ended —
// gets a flag that is already set. A flag nobody holds, of a run never
// stopped, is forgotten. A flag once set stays set. Thread-safe; no CAF.
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace troupe::actors {

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

CancelFlag run_cancel_flag(const std::string& run_id);
void stop_run_tools(const std::string& run_id);

}  // namespace troupe::actors
