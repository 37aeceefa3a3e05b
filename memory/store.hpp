// The trajectory store: runs, their steps, content-addressed prompt blobs
// and preference pairs in one RocksDB database with the column families
// `runs`, `steps`, `blobs`, `pairs`, `calls` (the call journal of durable
// runs, see docs/durability.md) and `meta` for the schema version.
//
// Callers may rely on:
// - Every write is one rocksdb::WriteBatch with the WAL on: a batch of steps
//   is either wholly in the database after a crash or wholly absent.
// - Steps of a run come back in the order of their `seq` (keys are
//   run id + big-endian seq), whatever order they were written in.
// - Prompt text is stored once per distinct content (sha256 key), however
//   many steps share it.
// - Store is safe to use from several threads at once. DESIGN.md makes the
//   store-writer actor the only writer in a running system; readers
//   (export, `troupe runs`) may open the same path read-only while it runs.
// - Opening a database written by a newer schema fails with a clear error.
// - A stored record that does not decode makes the read return an Error
//   (ErrorCode::parse) naming the column family and key; nothing crashes.
// - commit() writes steps, pairs, runs and journaled calls in one batch: a
//   call's journal record and its steps are committed together or not at
//   all. read_calls() returns a run's journal (in key order).
// - A store created before the `calls` family existed gains it when opened
//   writable; opened read-only, it reads as having an empty journal.
// - Text is stored as given, except bytes that are not valid UTF-8, which
//   come back as U+FFFD (see records.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace troupe::memory {

inline constexpr int kSchemaVersion = 1;

struct Message {
  std::string role;
  std::string content;
};

// interrupted: the `troupe run` process that ran it stopped before the run
// ended (killed, crashed); set when that store is next opened by
// `troupe run` (memory/interrupted_runs.hpp). Its committed steps are kept.
enum class RunStatus { queued, running, succeeded, failed, cancelled, interrupted };
const char* to_string(RunStatus s);
std::optional<RunStatus> run_status_from_string(std::string_view s);

struct RunRecord {
  std::string id;
  std::string workflow;       // workflow name
  std::string workflow_hash;  // sha256 of the workflow file text
  std::string pipeline;       // "spoc", ...
  std::string item_id;        // the input line's id
  std::string input_json;     // the input line as given
  std::string gold;           // gold answer from the input, if any
  RunStatus status = RunStatus::queued;
  std::string answer;         // final answer
  std::optional<bool> correct;  // answer vs gold, when gold is known
  std::string error;          // why the run failed
  std::string metrics_json;   // {"calls":..,"prompt_tokens":..,...}
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // Who drives the run: kRunOriginCli for a batch run in one process
  // (`troupe run`, `troupe search`), which nobody resumes; "" for the
  // daemon's runs (it resumes them on its next start) and for records
  // written before origins were recorded.
  std::string origin;
};

inline constexpr const char* kRunOriginCli = "cli";

struct StepRecord {
  std::string run_id;
  uint64_t seq = 0;               // order within the run, from 0
  std::string role;               // solver, verifier, ...
  std::string kind;               // "generate", "verify", "decision", ...
  std::vector<uint64_t> parents;  // seqs of the steps this one follows from
  // The prompt the role sent: chat messages (stored as a blob), and the
  // model's completion.
  std::vector<Message> prompt;
  std::string completion;
  std::string answer;             // parsed answer, if any
  std::optional<bool> verdict;    // verifier: judged correct?
  std::optional<double> score;
  std::optional<bool> label;      // good (true) / bad (false) for SFT/KTO export
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string finish_reason;
  double latency_ms = 0.0;
  std::string backend;            // backend kind/model that produced it
  std::string sampling_json;      // the sampling parameters used
  std::string meta_json;          // anything else, a JSON object ("" = none)
  int64_t created_ms = 0;
  // Token-exact record of a model call (docs/store.md "Token ids"): the
  // prompt as the model saw it, the sampled tokens and their logprobs (one
  // per id; NaN where the backend gave none), top-k alternatives as JSON
  // when the role asked for them, which of these the backend could not
  // report, and how the prompt ids were made. Empty in steps that are not
  // model calls and in steps written before these fields existed.
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> completion_token_ids;
  std::vector<double> token_logprobs;
  std::string top_logprobs_json;
  std::vector<std::string> tokens_unavailable;
  std::string token_info;
};

struct PairRecord {
  std::string id;
  std::string run_id;
  std::string workflow;
  std::vector<Message> prompt;
  std::string chosen;
  std::string rejected;
  std::vector<uint64_t> source_steps;  // [chosen step, rejected step]
  std::string reason;
  double margin = 0.0;
  int64_t created_ms = 0;
};

// One role call of a durable run, journaled with the steps it produced so a
// restarted run can replay it instead of asking the backend again. Mirrors
// actors::RoleOutput (the candidates, usage and errors) plus the step seqs
// it was recorded as. `key` identifies the call within its run (see
// actors/journal.hpp); (run_id, key) is unique.
struct CallCandidate {
  std::string text;
  std::string answer;
  int verdict = -1;
  std::string finish;
  std::string stop_string;
};

struct CallRecord {
  std::string run_id;
  std::string key;
  std::string request_id;  // the request that produced it (engine-side id)
  std::string role;
  bool ok = true;
  int error_code = 0;
  std::string error;
  std::vector<Message> prompt;  // stored as a blob, like a step's prompt
  std::vector<CallCandidate> candidates;
  int64_t calls = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double latency_ms = 0.0;
  std::string backend;
  std::string sampling_json;
  std::vector<uint64_t> step_seqs;
  int64_t created_ms = 0;
};

// Everything one commit() writes.
struct WriteSet {
  std::vector<StepRecord> steps;
  std::vector<PairRecord> pairs;
  std::vector<RunRecord> runs;
  std::vector<CallRecord> calls;
};

struct StoreOptions {
  bool create_if_missing = true;
  bool read_only = false;
  bool sync = false;  // fsync every batch (WAL is always on)
};

class Store {
 public:
  // Opens (or, with create_if_missing, creates) the store at `path`, a
  // directory. Errors name the path: a plain file or a directory holding
  // something other than a troupe store is invalid_argument; a missing store
  // with create_if_missing=false or read_only=true is not_found; a store of
  // a newer schema is unsupported; RocksDB failures (for example the store
  // is locked by another writable open) are io. read_only=true opens with
  // RocksDB's OpenForReadOnly: it takes no lock, so it works while another
  // Store (in this or another process) writes the same path, and it sees the
  // writes made before it opened. Writes on a read-only store fail.
  static Result<std::unique_ptr<Store>> open(const std::string& path, StoreOptions options = {});
  virtual ~Store() = default;

  // Inserts or replaces a run record.
  virtual Status put_run(const RunRecord& run) = 0;
  virtual Result<std::optional<RunRecord>> get_run(const std::string& id) = 0;
  // Runs in id order (ids sort by creation time). Empty filter = all.
  virtual Status for_each_run(std::optional<RunStatus> status,
                              const std::function<bool(const RunRecord&)>& visit) = 0;

  // Writes all steps (and their prompt blobs) in one WriteBatch.
  virtual Status append_steps(const std::vector<StepRecord>& steps) = 0;
  // Writes steps and pairs and a run update in one WriteBatch (any may be empty).
  virtual Status write(const std::vector<StepRecord>& steps, const std::vector<PairRecord>& pairs,
                       const std::vector<RunRecord>& runs) = 0;
  virtual Result<std::vector<StepRecord>> read_steps(const std::string& run_id) = 0;

  // Writes a WriteSet in one WriteBatch. Stores without a call journal
  // accept sets without calls (and refuse the rest with unsupported).
  virtual Status commit(const WriteSet& set) {
    if (!set.calls.empty())
      return Error(ErrorCode::unsupported, "this store has no call journal");
    return write(set.steps, set.pairs, set.runs);
  }
  // The journaled calls of a run, by key.
  virtual Result<std::vector<CallRecord>> read_calls(const std::string& run_id) {
    (void)run_id;
    return Error(ErrorCode::unsupported, "this store has no call journal");
  }

  virtual Status put_pairs(const std::vector<PairRecord>& pairs) = 0;
  // Pairs in key order; `visit` returns false to stop.
  virtual Status for_each_pair(const std::function<bool(const PairRecord&)>& visit) = 0;

  // Content-addressed text: returns the key (sha256 hex).
  virtual Result<std::string> put_blob(const std::string& text) = 0;
  virtual Result<std::optional<std::string>> get_blob(const std::string& key) = 0;
  // How many distinct blobs the store holds (a full scan of `blobs`; for
  // tests and diagnostics). Stores that cannot count return unsupported.
  virtual Result<size_t> count_blobs() {
    return Error(ErrorCode::unsupported, "count_blobs is not supported by this store");
  }

  virtual int schema_version() const = 0;
  virtual const std::string& path() const = 0;
};

}  // namespace troupe::memory
