// Store::open() and the RocksDB implementation of Store (see store.hpp for
// the contract, keys.hpp and records.hpp for the encoding).
#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include "common/ids.hpp"
#include "memory/keys.hpp"
#include "memory/records.hpp"
#include "memory/step_json.hpp"
#include "memory/store.hpp"

namespace troupe::memory {
namespace {

namespace fs = std::filesystem;

enum Family : size_t { kRuns, kSteps, kBlobs, kPairs, kMeta, kCalls, kFamilyCount };
constexpr std::array<const char*, kFamilyCount> kFamilyNames = {"runs", "steps", "blobs", "pairs", "meta", "calls"};
constexpr const char* kSchemaKey = "schema_version";
// Blob keys known to be committed, so repeated prompts skip a lookup and a
// rewrite. Cleared when it reaches this size (it is only an optimisation).
constexpr size_t kKnownBlobsLimit = 1 << 16;

Error io_error(const std::string& what, const rocksdb::Status& s) {
  return Error(ErrorCode::io, what + ": " + s.ToString());
}

Error corrupt(Family f, std::string_view key, const Error& e) {
  return Error(ErrorCode::parse, std::string("corrupt record in '") + kFamilyNames[f] + "' at key '" +
                                     printable_key(kFamilyNames[f], key) + "': " + e.message);
}

std::string_view view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// A record's prompt, stored once as a blob: read through `cache` so a run's
// repeated prompts are decoded once. Errors name the record (family, key).
using PromptCache = std::unordered_map<std::string, std::vector<Message>>;
Result<const std::vector<Message>*> cached_prompt(rocksdb::DB& db, const rocksdb::ReadOptions& ro,
                                                  rocksdb::ColumnFamilyHandle* blobs, PromptCache& cache,
                                                  const std::string& blob_key, Family f, std::string_view key) {
  auto found = cache.find(blob_key);
  if (found == cache.end()) {
    std::string blob;
    auto s = db.Get(ro, blobs, blob_key, &blob);
    if (s.IsNotFound()) return corrupt(f, key, Error(ErrorCode::not_found, "prompt blob '" + blob_key + "' is missing"));
    if (!s.ok()) return io_error("cannot read blob '" + blob_key + "'", s);
    auto messages = decode_messages(blob);
    if (!messages) return corrupt(kBlobs, blob_key, messages.error());
    found = cache.emplace(blob_key, std::move(messages.value())).first;
  }
  return &found->second;
}

bool same_messages(const std::vector<Message>& a, const std::vector<Message>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].role != b[i].role || a[i].content != b[i].content) return false;
  }
  return true;
}

class RocksStore final : public Store {
 public:
  RocksStore(std::string path, bool read_only, bool sync) : path_(std::move(path)), read_only_(read_only) {
    write_options_.sync = sync;
    write_options_.disableWAL = false;
  }

  ~RocksStore() override {
    if (!db_) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
  }

  Status open(const StoreOptions& options);

  Status put_run(const RunRecord& run) override { return write({}, {}, {run}); }
  Result<std::optional<RunRecord>> get_run(const std::string& id) override;
  Status for_each_run(std::optional<RunStatus> status,
                      const std::function<bool(const RunRecord&)>& visit) override;
  Status append_steps(const std::vector<StepRecord>& steps) override { return write(steps, {}, {}); }
  Status write(const std::vector<StepRecord>& steps, const std::vector<PairRecord>& pairs,
               const std::vector<RunRecord>& runs) override;
  Status commit(const WriteSet& set) override;
  Result<std::vector<StepRecord>> read_steps(const std::string& run_id) override;
  Result<std::vector<CallRecord>> read_calls(const std::string& run_id) override;
  Status put_pairs(const std::vector<PairRecord>& pairs) override { return write({}, pairs, {}); }
  Status for_each_pair(const std::function<bool(const PairRecord&)>& visit) override;
  Result<std::string> put_blob(const std::string& text) override;
  Result<std::optional<std::string>> get_blob(const std::string& key) override;
  Result<size_t> count_blobs() override;
  int schema_version() const override { return schema_version_; }
  const std::string& path() const override { return path_; }

 private:
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return families_[f]; }
  Status check_writable() const;
  Status commit(rocksdb::WriteBatch& batch, const std::unordered_set<std::string>& blobs);
  Status write_all(const std::vector<StepRecord>& steps, const std::vector<PairRecord>& pairs,
                   const std::vector<RunRecord>& runs, const std::vector<CallRecord>& calls);
  // The key of a prompt blob, adding the blob to `batch` when it is new.
  std::string stage_prompt(rocksdb::WriteBatch& batch, std::unordered_set<std::string>& batch_blobs,
                           const std::vector<Message>& prompt);
  // Likewise for a step's prompt token ids (pack_token_ids() text).
  std::string stage_token_ids(rocksdb::WriteBatch& batch, std::unordered_set<std::string>& batch_blobs,
                              const std::vector<int32_t>& ids);
  // True when `key` is a committed blob (remembered or found in the db).
  bool blob_exists(const std::string& key);
  Status read_schema_version(bool created);
  // Calls visit(key, value) for every entry of `f` in key order until it
  // returns false or fails.
  Status scan(Family f, const std::function<Result<bool>(std::string_view, std::string_view)>& visit);

  std::string path_;
  bool read_only_;
  rocksdb::WriteOptions write_options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> families_{};
  int schema_version_ = 0;

  std::mutex known_blobs_mu_;
  std::unordered_set<std::string> known_blobs_;

  // The last prompt encoded and its blob key: steps of one role share their
  // prompt, and comparing is much cheaper than encoding and hashing again.
  std::mutex last_prompt_mu_;
  std::vector<Message> last_prompt_;
  std::string last_prompt_key_;
  // Blob key of `prompt`; `blob` gets its encoding when it was computed (a
  // key from the cache leaves `blob` empty).
  std::string prompt_key(const std::vector<Message>& prompt, std::string& blob);
};

std::string RocksStore::prompt_key(const std::vector<Message>& prompt, std::string& blob) {
  {
    std::lock_guard<std::mutex> lock(last_prompt_mu_);
    if (!last_prompt_key_.empty() && same_messages(prompt, last_prompt_)) return last_prompt_key_;
  }
  blob = encode_messages(prompt);
  std::string key = sha256_hex(blob);
  std::lock_guard<std::mutex> lock(last_prompt_mu_);
  last_prompt_ = prompt;
  last_prompt_key_ = key;
  return key;
}

Status RocksStore::open(const StoreOptions& options) {
  std::error_code ec;
  const auto st = fs::status(path_, ec);
  const bool exists = fs::exists(st);
  if (exists && !fs::is_directory(st))
    return Error(ErrorCode::invalid_argument, "'" + path_ + "' is not a troupe store: it is a file, not a directory");
  const bool has_db = exists && fs::exists(fs::path(path_) / "CURRENT", ec);
  if (!has_db) {
    if (exists && !fs::is_empty(path_, ec))
      return Error(ErrorCode::invalid_argument,
                   "'" + path_ + "' is not a troupe store: the directory holds other files and no database");
    if (options.read_only || !options.create_if_missing)
      return Error(ErrorCode::not_found, "no troupe store at '" + path_ + "'");
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !has_db;
  db_options.create_missing_column_families = !read_only_;
  db_options.keep_log_file_num = 4;

  std::vector<std::string> names;
  if (has_db) {
    auto s = rocksdb::DB::ListColumnFamilies(db_options, path_, &names);
    if (!s.ok()) return io_error("'" + path_ + "' is not a readable troupe store", s);
    if (std::find(names.begin(), names.end(), "meta") == names.end())
      return Error(ErrorCode::invalid_argument,
                   "'" + path_ + "' is not a troupe store: a RocksDB database without the 'meta' column family");
  } else {
    names.push_back(rocksdb::kDefaultColumnFamilyName);
  }
  for (const char* name : kFamilyNames) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    // The call journal came later: an older store opened read-only simply
    // has none (read_calls() answers empty).
    if (read_only_ && std::string_view(name) == "calls") continue;
    if (read_only_)
      return Error(ErrorCode::invalid_argument,
                   "'" + path_ + "' is not a troupe store: column family '" + name + "' is missing");
    names.push_back(name);
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = read_only_
                          ? rocksdb::DB::OpenForReadOnly(db_options, path_, descriptors, &handles_, &raw)
                          : rocksdb::DB::Open(db_options, path_, descriptors, &handles_, &raw);
  if (!s.ok()) return io_error("cannot open troupe store '" + path_ + "'", s);
  db_.reset(raw);
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t f = 0; f < kFamilyCount; ++f) {
      if (names[i] == kFamilyNames[f]) families_[f] = handles_[i];
    }
  }
  return read_schema_version(!has_db);
}

Status RocksStore::read_schema_version(bool created) {
  if (created) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto s = db_->Put(wo, cf(kMeta), kSchemaKey, std::to_string(kSchemaVersion));
    if (!s.ok()) return io_error("cannot initialise troupe store '" + path_ + "'", s);
    schema_version_ = kSchemaVersion;
    return {};
  }
  std::string text;
  auto s = db_->Get(rocksdb::ReadOptions(), cf(kMeta), kSchemaKey, &text);
  if (s.IsNotFound())
    return Error(ErrorCode::invalid_argument, "'" + path_ + "' is not a troupe store: no schema_version in 'meta'");
  if (!s.ok()) return io_error("cannot read the schema version of '" + path_ + "'", s);
  int version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1)
    return Error(ErrorCode::parse, "'" + path_ + "': schema_version '" + printable_key("meta", text) + "' is not a version number");
  if (version > kSchemaVersion)
    return Error(ErrorCode::unsupported, "'" + path_ + "' was written with store schema version " +
                                             std::to_string(version) + "; this troupe reads up to version " +
                                             std::to_string(kSchemaVersion) + " (upgrade troupe)");
  schema_version_ = version;
  return {};
}

Status RocksStore::check_writable() const {
  if (read_only_) return Error(ErrorCode::invalid_argument, "troupe store '" + path_ + "' is open read-only");
  return {};
}

bool RocksStore::blob_exists(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(known_blobs_mu_);
    if (known_blobs_.count(key)) return true;
  }
  rocksdb::PinnableSlice value;
  if (!db_->Get(rocksdb::ReadOptions(), cf(kBlobs), key, &value).ok()) return false;
  std::lock_guard<std::mutex> lock(known_blobs_mu_);
  if (known_blobs_.size() >= kKnownBlobsLimit) known_blobs_.clear();
  known_blobs_.insert(key);
  return true;
}

Status RocksStore::commit(rocksdb::WriteBatch& batch, const std::unordered_set<std::string>& blobs) {
  auto s = db_->Write(write_options_, &batch);
  if (!s.ok()) return io_error("write to troupe store '" + path_ + "' failed", s);
  std::lock_guard<std::mutex> lock(known_blobs_mu_);
  if (known_blobs_.size() + blobs.size() > kKnownBlobsLimit) known_blobs_.clear();
  known_blobs_.insert(blobs.begin(), blobs.end());
  return {};
}

std::string RocksStore::stage_token_ids(rocksdb::WriteBatch& batch, std::unordered_set<std::string>& batch_blobs,
                                        const std::vector<int32_t>& ids) {
  if (ids.empty()) return {};
  std::string blob = pack_token_ids(ids);
  std::string blob_key = sha256_hex(blob);
  if (!batch_blobs.count(blob_key) && !blob_exists(blob_key)) batch.Put(cf(kBlobs), blob_key, blob);
  batch_blobs.insert(blob_key);
  return blob_key;
}

std::string RocksStore::stage_prompt(rocksdb::WriteBatch& batch, std::unordered_set<std::string>& batch_blobs,
                                     const std::vector<Message>& prompt) {
  if (prompt.empty()) return {};
  std::string blob;
  std::string blob_key = prompt_key(prompt, blob);
  if (!batch_blobs.count(blob_key) && !blob_exists(blob_key)) {
    if (blob.empty()) blob = encode_messages(prompt);
    batch.Put(cf(kBlobs), blob_key, blob);
  }
  batch_blobs.insert(blob_key);
  return blob_key;
}

Status RocksStore::write(const std::vector<StepRecord>& steps, const std::vector<PairRecord>& pairs,
                         const std::vector<RunRecord>& runs) {
  return write_all(steps, pairs, runs, {});
}

Status RocksStore::commit(const WriteSet& set) { return write_all(set.steps, set.pairs, set.runs, set.calls); }

Status RocksStore::write_all(const std::vector<StepRecord>& steps, const std::vector<PairRecord>& pairs,
                             const std::vector<RunRecord>& runs, const std::vector<CallRecord>& calls) {
  if (auto st = check_writable(); !st) return st;
  rocksdb::WriteBatch batch;
  std::unordered_set<std::string> batch_blobs;
  for (const auto& step : steps) {
    if (!valid_run_id(step.run_id))
      return Error(ErrorCode::invalid_argument, "step " + std::to_string(step.seq) +
                                                    " has an empty run id or one containing NUL");
    std::string blob_key = stage_prompt(batch, batch_blobs, step.prompt);
    std::string ids_key = stage_token_ids(batch, batch_blobs, step.prompt_token_ids);
    batch.Put(cf(kSteps), step_key(step.run_id, step.seq), encode_step(step, blob_key, ids_key));
  }
  for (const auto& call : calls) {
    if (!valid_run_id(call.run_id) || call.key.empty())
      return Error(ErrorCode::invalid_argument, "a journaled call has an empty key, or a run id that is empty or contains NUL");
    std::string blob_key = stage_prompt(batch, batch_blobs, call.prompt);
    batch.Put(cf(kCalls), call_key(call.run_id, call.key), encode_call(call, blob_key));
  }
  for (const auto& pair : pairs) {
    if (pair.id.empty()) return Error(ErrorCode::invalid_argument, "a pair has an empty id");
    batch.Put(cf(kPairs), pair.id, encode_pair(pair));
  }
  for (const auto& run : runs) {
    if (run.id.empty()) return Error(ErrorCode::invalid_argument, "a run has an empty id");
    batch.Put(cf(kRuns), run.id, encode_run(run));
  }
  return commit(batch, batch_blobs);
}

Result<std::optional<RunRecord>> RocksStore::get_run(const std::string& id) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), cf(kRuns), id, &value);
  if (s.IsNotFound()) return std::optional<RunRecord>();
  if (!s.ok()) return io_error("cannot read run '" + id + "' from '" + path_ + "'", s);
  auto run = decode_run(value);
  if (!run) return corrupt(kRuns, id, run.error());
  return std::optional<RunRecord>(std::move(run.value()));
}

Status RocksStore::scan(Family f, const std::function<Result<bool>(std::string_view, std::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(f)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto more = visit(view(it->key()), view(it->value()));
    if (!more) return more.error();
    if (!*more) return {};
  }
  if (!it->status().ok()) return io_error(std::string("cannot scan '") + kFamilyNames[f] + "' in '" + path_ + "'", it->status());
  return {};
}

Status RocksStore::for_each_run(std::optional<RunStatus> status,
                                const std::function<bool(const RunRecord&)>& visit) {
  return scan(kRuns, [&](std::string_view key, std::string_view value) -> Result<bool> {
    auto run = decode_run(value);
    if (!run) return corrupt(kRuns, key, run.error());
    if (status && run->status != *status) return true;
    return visit(*run);
  });
}

Status RocksStore::for_each_pair(const std::function<bool(const PairRecord&)>& visit) {
  return scan(kPairs, [&](std::string_view key, std::string_view value) -> Result<bool> {
    auto pair = decode_pair(value);
    if (!pair) return corrupt(kPairs, key, pair.error());
    return visit(*pair);
  });
}

Result<std::vector<StepRecord>> RocksStore::read_steps(const std::string& run_id) {
  // One snapshot for the steps and their blobs: a concurrent write is seen
  // wholly or not at all.
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  const std::string begin = step_prefix(run_id);
  const std::string end = step_prefix_end(run_id);
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;

  std::vector<StepRecord> steps;
  PromptCache prompts;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kSteps)));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    const auto key = view(it->key());
    auto decoded = decode_step(view(it->value()));
    if (!decoded) return corrupt(kSteps, key, decoded.error());
    StepRecord& step = decoded->step;
    if (!decoded->prompt_blob.empty()) {
      auto prompt = cached_prompt(*db_, ro, cf(kBlobs), prompts, decoded->prompt_blob, kSteps, key);
      if (!prompt) return prompt.error();
      step.prompt = **prompt;
    }
    if (!decoded->prompt_ids_blob.empty()) {
      std::string blob;
      auto s = db_->Get(ro, cf(kBlobs), decoded->prompt_ids_blob, &blob);
      if (s.IsNotFound())
        return corrupt(kSteps, key, Error(ErrorCode::not_found, "prompt ids blob '" + decoded->prompt_ids_blob + "' is missing"));
      if (!s.ok()) return io_error("cannot read blob '" + decoded->prompt_ids_blob + "'", s);
      auto ids = unpack_token_ids(blob);
      if (!ids) return corrupt(kBlobs, decoded->prompt_ids_blob, ids.error());
      step.prompt_token_ids = std::move(ids.value());
    }
    steps.push_back(std::move(step));
  }
  if (!it->status().ok()) return io_error("cannot read the steps of run '" + run_id + "'", it->status());
  return steps;
}

Result<std::vector<CallRecord>> RocksStore::read_calls(const std::string& run_id) {
  std::vector<CallRecord> calls;
  if (!cf(kCalls)) return calls;  // an older store opened read-only
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  const std::string begin = step_prefix(run_id);
  const std::string end = step_prefix_end(run_id);
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  PromptCache prompts;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kCalls)));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    const auto key = view(it->key());
    auto decoded = decode_call(view(it->value()));
    if (!decoded) return corrupt(kCalls, key, decoded.error());
    CallRecord& call = decoded->call;
    if (!decoded->prompt_blob.empty()) {
      auto prompt = cached_prompt(*db_, ro, cf(kBlobs), prompts, decoded->prompt_blob, kCalls, key);
      if (!prompt) return prompt.error();
      call.prompt = **prompt;
    }
    calls.push_back(std::move(call));
  }
  if (!it->status().ok()) return io_error("cannot read the call journal of run '" + run_id + "'", it->status());
  return calls;
}

Result<std::string> RocksStore::put_blob(const std::string& text) {
  if (auto st = check_writable(); !st) return st.error();
  std::string key = sha256_hex(text);
  if (blob_exists(key)) return key;
  rocksdb::WriteBatch batch;
  batch.Put(cf(kBlobs), key, text);
  if (auto st = commit(batch, {key}); !st) return st.error();
  return key;
}

Result<std::optional<std::string>> RocksStore::get_blob(const std::string& key) {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), cf(kBlobs), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return io_error("cannot read blob '" + key + "'", s);
  return std::optional<std::string>(std::move(value));
}

Result<size_t> RocksStore::count_blobs() {
  size_t n = 0;
  auto st = scan(kBlobs, [&](std::string_view, std::string_view) -> Result<bool> {
    ++n;
    return true;
  });
  if (!st) return st.error();
  return n;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path, StoreOptions options) {
  auto store = std::make_unique<RocksStore>(path, options.read_only, options.sync);
  if (auto st = store->open(options); !st) return st.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace troupe::memory
