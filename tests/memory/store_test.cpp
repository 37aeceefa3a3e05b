// The RocksDB trajectory store (memory/store.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include "common/ids.hpp"
#include "memory/keys.hpp"
#include "memory/records.hpp"
#include "memory/record_equality.hpp"
#include "memory/sample_records.hpp"
#include "memory/store.hpp"
#include "memory/store_testing.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::memory;
using namespace troupe::memory::test;
using troupe::testing::TempDir;

namespace {

std::unique_ptr<Store> open_store(const std::string& path, StoreOptions options = {}) {
  auto store = Store::open(path, options);
  if (!store) FAIL(store.error().describe());
  return std::move(store.value());
}

std::vector<uint64_t> seqs_of(const std::vector<StepRecord>& steps) {
  std::vector<uint64_t> out;
  for (const auto& s : steps) out.push_back(s.seq);
  return out;
}

std::vector<std::string> run_ids(Store& store, std::optional<RunStatus> status = std::nullopt) {
  std::vector<std::string> ids;
  auto st = store.for_each_run(status, [&](const RunRecord& r) {
    ids.push_back(r.id);
    return true;
  });
  REQUIRE(st.ok());
  return ids;
}

}  // namespace

TEST_CASE("a new store records the current schema version") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  CHECK(store->schema_version() == kSchemaVersion);
  CHECK(store->path() == dir.file("db"));
}

TEST_CASE("a run round-trips through put_run and get_run, an unknown id is nullopt") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  RunRecord run = sample_run("run-1");
  REQUIRE(store->put_run(run).ok());
  auto back = store->get_run("run-1");
  REQUIRE(back.ok());
  REQUIRE(back->has_value());
  check_same(**back, run);

  run.status = RunStatus::failed;
  run.correct.reset();
  run.error = "budget exhausted";
  REQUIRE(store->put_run(run).ok());  // replaces
  back = store->get_run("run-1");
  REQUIRE(back.ok());
  check_same(**back, run);

  auto missing = store->get_run("run-2");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("every step field, prompt included, round-trips through the store") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  StepRecord a = sample_step("run-1", 0);
  StepRecord b = sample_step("run-1", 1, {{"user", "naïve \xF0\x9F\x98\x80\n\t"}, {"assistant", "partial"}});
  b.verdict = false;
  b.score = 0.5;
  b.label = true;
  b.meta_json = R"({"segment":2})";
  StepRecord c = sample_step("run-1", 2, {});
  REQUIRE(store->append_steps({a, b, c}).ok());
  auto steps = store->read_steps("run-1");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 3);
  check_same((*steps)[0], a);
  check_same((*steps)[1], b);
  check_same((*steps)[2], c);
}

TEST_CASE("steps come back in seq order when written out of order across several batches") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  REQUIRE(store->append_steps({sample_step("run-1", 300), sample_step("run-1", 2)}).ok());
  REQUIRE(store->append_steps({sample_step("run-1", 256), sample_step("run-1", 0)}).ok());
  REQUIRE(store->append_steps({sample_step("run-1", 1)}).ok());
  auto steps = store->read_steps("run-1");
  REQUIRE(steps.ok());
  CHECK(seqs_of(*steps) == std::vector<uint64_t>{0, 1, 2, 256, 300});
}

TEST_CASE("the steps of run-1 and run-10 do not mix") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  REQUIRE(store->append_steps({sample_step("run-10", 0), sample_step("run-1", 0), sample_step("run-10", 1),
                               sample_step("run-", 5), sample_step("run-1", 1)})
              .ok());
  auto one = store->read_steps("run-1");
  auto ten = store->read_steps("run-10");
  auto none = store->read_steps("run-2");
  REQUIRE(one.ok());
  REQUIRE(ten.ok());
  REQUIRE(none.ok());
  CHECK(one->size() == 2);
  CHECK(ten->size() == 2);
  CHECK(none->empty());
  for (const auto& s : *one) CHECK(s.run_id == "run-1");
  for (const auto& s : *ten) CHECK(s.run_id == "run-10");
}

TEST_CASE("steps that share a prompt store it once") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  REQUIRE(store->append_steps({sample_step("run-1", 0), sample_step("run-1", 1)}).ok());
  REQUIRE(store->append_steps({sample_step("run-2", 0)}).ok());
  CHECK(store->count_blobs().value() == 1);
  REQUIRE(store->append_steps({sample_step("run-2", 1, sample_prompt("What is 3+3?"))}).ok());
  CHECK(store->count_blobs().value() == 2);

  // Also after reopening (the remembered blob keys are gone).
  const std::string path = store->path();
  store.reset();
  store = open_store(path);
  REQUIRE(store->append_steps({sample_step("run-3", 0)}).ok());
  CHECK(store->count_blobs().value() == 2);
  auto steps = store->read_steps("run-3");
  REQUIRE(steps.ok());
  check_same_messages((*steps)[0].prompt, sample_prompt());
}

TEST_CASE("put_blob returns the sha256 key and get_blob reads the text back") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  auto key = store->put_blob("some prompt text");
  REQUIRE(key.ok());
  CHECK(*key == sha256_hex("some prompt text"));
  CHECK(store->put_blob("some prompt text").value() == *key);
  auto text = store->get_blob(*key);
  REQUIRE(text.ok());
  CHECK(text->value() == "some prompt text");
  CHECK_FALSE(store->get_blob(sha256_hex("other")).value().has_value());
  CHECK(store->count_blobs().value() == 1);
}

TEST_CASE("for_each_run visits runs in id order, filters by status and stops on false") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  RunRecord a = sample_run("run-a");
  RunRecord b = sample_run("run-b");
  RunRecord c = sample_run("run-c");
  a.status = RunStatus::succeeded;
  b.status = RunStatus::failed;
  c.status = RunStatus::succeeded;
  REQUIRE(store->write({}, {}, {c, a, b}).ok());
  CHECK(run_ids(*store) == std::vector<std::string>{"run-a", "run-b", "run-c"});
  CHECK(run_ids(*store, RunStatus::succeeded) == std::vector<std::string>{"run-a", "run-c"});
  CHECK(run_ids(*store, RunStatus::failed) == std::vector<std::string>{"run-b"});
  CHECK(run_ids(*store, RunStatus::running).empty());

  int visited = 0;
  REQUIRE(store->for_each_run(std::nullopt, [&](const RunRecord&) { return ++visited < 2; }).ok());
  CHECK(visited == 2);
}

TEST_CASE("pairs come back in id order with every field") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  PairRecord p2 = sample_pair("pair-2", "run-1");
  PairRecord p1 = sample_pair("pair-1", "run-1");
  p1.margin = -2.5;
  REQUIRE(store->put_pairs({p2, p1}).ok());
  std::vector<PairRecord> seen;
  REQUIRE(store->for_each_pair([&](const PairRecord& p) {
    seen.push_back(p);
    return true;
  }).ok());
  REQUIRE(seen.size() == 2);
  check_same(seen[0], p1);
  check_same(seen[1], p2);
}

TEST_CASE("write() stores steps, pairs and runs together") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  REQUIRE(store->write({sample_step("run-1", 0)}, {sample_pair("pair-1", "run-1")}, {sample_run("run-1")}).ok());
  CHECK(store->read_steps("run-1").value().size() == 1);
  CHECK(store->get_run("run-1").value().has_value());
  int pairs = 0;
  REQUIRE(store->for_each_pair([&](const PairRecord&) { return ++pairs > 0; }).ok());
  CHECK(pairs == 1);
}

TEST_CASE("invalid ids are rejected before anything is written") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  auto st = store->write({sample_step("run-1", 0), sample_step("", 1)}, {}, {sample_run("run-1")});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::invalid_argument);
  CHECK(store->read_steps("run-1").value().empty());
  CHECK_FALSE(store->get_run("run-1").value().has_value());
  CHECK_FALSE(store->append_steps({sample_step(std::string("a\0b", 3), 0)}).ok());
  CHECK_FALSE(store->put_run(sample_run("")).ok());
}

TEST_CASE("reopening a store after closing it keeps everything") {
  TempDir dir;
  const std::string path = dir.file("db");
  {
    auto store = open_store(path);
    REQUIRE(store->write({sample_step("run-1", 1), sample_step("run-1", 0)}, {sample_pair("pair-1", "run-1")},
                         {sample_run("run-1")})
                .ok());
  }
  auto store = open_store(path, {.create_if_missing = false});
  CHECK(store->schema_version() == kSchemaVersion);
  auto run = store->get_run("run-1");
  REQUIRE(run.ok());
  REQUIRE(run->has_value());
  check_same(**run, sample_run("run-1"));
  auto steps = store->read_steps("run-1");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 2);
  check_same((*steps)[0], sample_step("run-1", 0));
  check_same((*steps)[1], sample_step("run-1", 1));
  int pairs = 0;
  REQUIRE(store->for_each_pair([&](const PairRecord& p) {
    check_same(p, sample_pair("pair-1", "run-1"));
    return ++pairs > 0;
  }).ok());
  CHECK(pairs == 1);
}

TEST_CASE("a store written by a newer schema version fails to open with a clear error") {
  TempDir dir;
  const std::string path = dir.file("db");
  open_store(path).reset();
  REQUIRE(troupe::memory::testing::write_raw(path, "meta", "schema_version", std::to_string(kSchemaVersion + 1)).ok());
  for (bool read_only : {false, true}) {
    auto store = Store::open(path, {.read_only = read_only});
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().code == ErrorCode::unsupported);
    CHECK_THAT(store.error().message, Catch::Contains(path) && Catch::Contains("schema version 2"));
  }
  REQUIRE(troupe::memory::testing::write_raw(path, "meta", "schema_version", "one").ok());
  auto garbled = Store::open(path);
  REQUIRE_FALSE(garbled.ok());
  CHECK_THAT(garbled.error().message, Catch::Contains("schema_version"));
}

TEST_CASE("opening a path that is not a troupe store fails naming the path") {
  TempDir dir;
  SECTION("a plain file") {
    const std::string path = dir.file("notes.txt");
    troupe::testing::write_file(path, "hello");
    auto store = Store::open(path);
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(store.error().message, Catch::Contains(path) && Catch::Contains("not a troupe store"));
    CHECK(troupe::testing::read_file(path) == "hello");
  }
  SECTION("a directory of other files") {
    troupe::testing::write_file(dir.file("x.txt"), "x");
    auto store = Store::open(dir.path().string());
    REQUIRE_FALSE(store.ok());
    CHECK_THAT(store.error().message, Catch::Contains(dir.path().string()) && Catch::Contains("not a troupe store"));
  }
  SECTION("a missing store when creation is off or the open is read-only") {
    auto store = Store::open(dir.file("absent"), {.create_if_missing = false});
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().code == ErrorCode::not_found);
    CHECK_THAT(store.error().message, Catch::Contains(dir.file("absent")));
    CHECK_FALSE(Store::open(dir.file("absent"), {.read_only = true}).ok());
  }
}

TEST_CASE("a corrupt record is an error naming its key, not a crash") {
  TempDir dir;
  const std::string path = dir.file("db");
  {
    auto store = open_store(path);
    REQUIRE(store->write({sample_step("run-1", 0), sample_step("run-1", 1)}, {sample_pair("pair-1", "run-1")},
                         {sample_run("run-1")})
                .ok());
  }
  using troupe::memory::testing::write_raw;
  REQUIRE(write_raw(path, "steps", step_key("run-1", 1), "{\"seq\": oops").ok());
  REQUIRE(write_raw(path, "runs", "run-2", "\x01\x02garbage").ok());
  REQUIRE(write_raw(path, "pairs", "pair-0", "[]").ok());
  auto store = open_store(path);

  auto steps = store->read_steps("run-1");
  REQUIRE_FALSE(steps.ok());
  CHECK(steps.error().code == ErrorCode::parse);
  CHECK_THAT(steps.error().message, Catch::Contains("'steps'") && Catch::Contains("run-1#1"));

  auto runs = store->for_each_run(std::nullopt, [](const RunRecord&) { return true; });
  REQUIRE_FALSE(runs.ok());
  CHECK_THAT(runs.error().message, Catch::Contains("'runs'") && Catch::Contains("run-2"));
  auto run = store->get_run("run-2");
  REQUIRE_FALSE(run.ok());
  CHECK_THAT(run.error().message, Catch::Contains("run-2"));
  CHECK(store->get_run("run-1").ok());

  auto pairs = store->for_each_pair([](const PairRecord&) { return true; });
  REQUIRE_FALSE(pairs.ok());
  CHECK_THAT(pairs.error().message, Catch::Contains("pair-0"));
}

TEST_CASE("a step whose prompt blob is corrupt is an error naming the blob") {
  TempDir dir;
  const std::string path = dir.file("db");
  {
    auto store = open_store(path);
    REQUIRE(store->append_steps({sample_step("run-1", 0)}).ok());
  }
  const std::string blob_key = sha256_hex(encode_messages(sample_prompt()));
  REQUIRE(troupe::memory::testing::write_raw(path, "blobs", blob_key, "[{\"role\":").ok());
  auto store = open_store(path);
  auto steps = store->read_steps("run-1");
  REQUIRE_FALSE(steps.ok());
  CHECK_THAT(steps.error().message, Catch::Contains("'blobs'") && Catch::Contains(blob_key));
}

TEST_CASE("a read-only store opens while a writable store has the path open") {
  TempDir dir;
  const std::string path = dir.file("db");
  auto writer = open_store(path);
  REQUIRE(writer->write({sample_step("run-1", 0)}, {}, {sample_run("run-1")}).ok());

  auto reader = open_store(path, {.read_only = true});
  auto steps = reader->read_steps("run-1");
  REQUIRE(steps.ok());
  CHECK(steps->size() == 1);
  CHECK(run_ids(*reader) == std::vector<std::string>{"run-1"});

  // The writer keeps writing; a reader opened later sees the new records.
  REQUIRE(writer->append_steps({sample_step("run-1", 1)}).ok());
  auto later = open_store(path, {.read_only = true});
  CHECK(later->read_steps("run-1").value().size() == 2);

  auto st = reader->put_run(sample_run("run-2"));
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("read-only"));
  CHECK_FALSE(reader->put_blob("x").ok());
}

TEST_CASE("a second writable open of the same path fails with an io error") {
  TempDir dir;
  const std::string path = dir.file("db");
  auto writer = open_store(path);
  auto second = Store::open(path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == ErrorCode::io);
  CHECK_THAT(second.error().message, Catch::Contains(path));
}

TEST_CASE("steps appended from several threads at once all land") {
  TempDir dir;
  auto store = open_store(dir.file("db"));
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        const std::string run = "run-" + std::to_string(t);
        auto st = store->append_steps({sample_step(run, 2 * b), sample_step(run, 2 * b + 1)});
        if (!st.ok()) throw std::runtime_error(st.error().describe());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    auto steps = store->read_steps("run-" + std::to_string(t));
    REQUIRE(steps.ok());
    CHECK(steps->size() == 2 * kBatches);
  }
  CHECK(store->count_blobs().value() == 1);
}
