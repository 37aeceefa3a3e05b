#include "memory/store_merge.hpp"

namespace troupe::memory {
namespace {

Error read_only() { return Error(ErrorCode::unsupported, "a merged view of several stores is read-only"); }

// True when `a` (from store ia) wins over `b` (from store ib).
bool better(const RunRecord& a, int ia, const RunRecord& b, int ib) {
  int ra = merge_status_rank(a.status), rb = merge_status_rank(b.status);
  if (ra != rb) return ra > rb;
  if (a.updated_ms != b.updated_ms) return a.updated_ms > b.updated_ms;
  return ia < ib;
}

}  // namespace

int merge_status_rank(RunStatus s) {
  switch (s) {
    case RunStatus::succeeded: return 5;
    case RunStatus::failed: return 4;
    case RunStatus::cancelled: return 3;
    case RunStatus::interrupted: return 2;
    case RunStatus::running: return 1;
    case RunStatus::queued: return 0;
  }
  return 0;
}

MergedStore::MergedStore(std::vector<std::unique_ptr<Store>> stores) : stores_(std::move(stores)) {
  for (const auto& s : stores_) path_ += (path_.empty() ? "" : "+") + s->path();
}

Result<MergedStore::Winner> MergedStore::winner(const std::string& id, int at, const RunRecord* known) {
  if (id == cached_id_ && !cached_id_.empty()) return cached_;
  Winner w;
  for (int i = 0; i < static_cast<int>(stores_.size()); ++i) {
    std::optional<RunRecord> r;
    if (i == at && known) {
      r = *known;
    } else {
      auto got = stores_[i]->get_run(id);
      if (!got.ok()) return got.error().with_context(stores_[i]->path());
      r = std::move(got.value());
    }
    if (r && (w.store < 0 || better(*r, i, *w.record, w.store))) {
      w.store = i;
      w.record = std::move(r);
    }
  }
  cached_id_ = id;
  cached_ = w;
  return w;
}

Result<std::optional<RunRecord>> MergedStore::get_run(const std::string& id) {
  auto w = winner(id);
  if (!w.ok()) return w.error();
  return w->record;
}

Status MergedStore::for_each_run(std::optional<RunStatus> status, const std::function<bool(const RunRecord&)>& visit) {
  Status failure;
  bool stop = false;
  for (int i = 0; i < static_cast<int>(stores_.size()) && !stop; ++i) {
    Status s = stores_[i]->for_each_run(status, [&](const RunRecord& r) {
      auto w = winner(r.id, i, &r);
      if (!w.ok()) {
        failure = w.error();
        stop = true;
        return false;
      }
      if (w->store != i) {
        ++skipped_;
        return true;
      }
      if (!visit(r)) stop = true;
      return !stop;
    });
    if (!s.ok()) return s.error().with_context(stores_[i]->path());
  }
  return failure;
}

Result<std::vector<StepRecord>> MergedStore::read_steps(const std::string& run_id) {
  auto w = winner(run_id);
  if (!w.ok()) return w.error();
  if (w->store < 0) return std::vector<StepRecord>{};
  return stores_[w->store]->read_steps(run_id);
}

Result<std::vector<CallRecord>> MergedStore::read_calls(const std::string& run_id) {
  auto w = winner(run_id);
  if (!w.ok()) return w.error();
  if (w->store < 0) return std::vector<CallRecord>{};
  return stores_[w->store]->read_calls(run_id);
}

Status MergedStore::for_each_pair(const std::function<bool(const PairRecord&)>& visit) {
  Status failure;
  bool stop = false;
  for (int i = 0; i < static_cast<int>(stores_.size()) && !stop; ++i) {
    Status s = stores_[i]->for_each_pair([&](const PairRecord& p) {
      auto w = winner(p.run_id);
      if (!w.ok()) {
        failure = w.error();
        stop = true;
        return false;
      }
      if (w->store >= 0 && w->store != i) return true;
      if (!visit(p)) stop = true;
      return !stop;
    });
    if (!s.ok()) return s.error().with_context(stores_[i]->path());
  }
  return failure;
}

Result<std::optional<std::string>> MergedStore::get_blob(const std::string& key) {
  for (auto& s : stores_) {
    auto b = s->get_blob(key);
    if (!b.ok()) return b.error().with_context(s->path());
    if (*b) return b;
  }
  return std::optional<std::string>{};
}

Status MergedStore::put_run(const RunRecord&) { return read_only(); }
Status MergedStore::append_steps(const std::vector<StepRecord>&) { return read_only(); }
Status MergedStore::write(const std::vector<StepRecord>&, const std::vector<PairRecord>&,
                          const std::vector<RunRecord>&) {
  return read_only();
}
Status MergedStore::put_pairs(const std::vector<PairRecord>&) { return read_only(); }
Result<std::string> MergedStore::put_blob(const std::string&) { return read_only(); }
int MergedStore::schema_version() const { return stores_.front()->schema_version(); }
const std::string& MergedStore::path() const { return path_; }

}  // namespace troupe::memory
