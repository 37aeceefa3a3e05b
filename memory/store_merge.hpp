// Several stores read as one (`troupe export --store A --store B ...`;
// docs/scale-out.md): the stores of daemons that shared work through NATS
// each hold the runs they executed, and a run redelivered after a daemon
// died may be in two of them. The merged view holds every run once.
//
// Callers may rely on:
// - The rule for a run id held by several stores: the record with the
//   highest status rank wins (succeeded > failed > cancelled > interrupted >
//   running > queued), then the later updated_ms, then the store given
//   first. The run's steps, journaled calls and pairs come from the winning
//   store alone, so no step is written twice.
// - for_each_run visits each run id once: store by store in the order given,
//   each store in id order; a run is visited where its winning record is.
//   It streams: per run it reads that id's record in the other stores (a
//   point lookup each), never a whole store. Skipped copies are counted in
//   copies_skipped().
// - A pair whose run is in no store is kept from every store holding it
//   (pairs are stored with their run, so this does not happen for the
//   daemon's stores).
// - get_blob returns the first store's copy. Writes fail (unsupported): the
//   view is read-only. Errors of a store name its path.
// Not thread-safe for concurrent use (export reads it from one thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "memory/store.hpp"

namespace troupe::memory {

class MergedStore : public Store {
 public:
  // `stores` non-empty; each opened by the caller (read-only is enough).
  explicit MergedStore(std::vector<std::unique_ptr<Store>> stores);

  Status put_run(const RunRecord& run) override;
  Result<std::optional<RunRecord>> get_run(const std::string& id) override;
  Status for_each_run(std::optional<RunStatus> status, const std::function<bool(const RunRecord&)>& visit) override;
  Status append_steps(const std::vector<StepRecord>& steps) override;
  Status write(const std::vector<StepRecord>& steps, const std::vector<PairRecord>& pairs,
               const std::vector<RunRecord>& runs) override;
  Result<std::vector<StepRecord>> read_steps(const std::string& run_id) override;
  Result<std::vector<CallRecord>> read_calls(const std::string& run_id) override;
  Status put_pairs(const std::vector<PairRecord>& pairs) override;
  Status for_each_pair(const std::function<bool(const PairRecord&)>& visit) override;
  Result<std::string> put_blob(const std::string& text) override;
  Result<std::optional<std::string>> get_blob(const std::string& key) override;
  int schema_version() const override;
  const std::string& path() const override;

  // Copies of runs left out because another store's record won.
  size_t copies_skipped() const { return skipped_; }

 private:
  struct Winner {
    int store = -1;  // -1: in no store
    std::optional<RunRecord> record;
  };
  // The winning store for `id`; `known` is store `at`'s record, already read.
  Result<Winner> winner(const std::string& id, int at = -1, const RunRecord* known = nullptr);

  std::vector<std::unique_ptr<Store>> stores_;
  std::string path_;
  size_t skipped_ = 0;
  std::string cached_id_;  // the last winner looked up (export reads a run's steps right after its record)
  Winner cached_;
};

// 5 for succeeded down to 0 for queued: the merge's order of preference.
int merge_status_rank(RunStatus s);

}  // namespace troupe::memory
