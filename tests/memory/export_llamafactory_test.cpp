// LLaMA-Factory export (memory/export.hpp) and the sharegpt layout rules
// (memory/sharegpt.hpp).
#include <catch2/catch.hpp>

#include <sstream>

#include <simdjson.h>

#include "memory/export.hpp"
#include "memory/sample_records.hpp"
#include "memory/sharegpt.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::memory;
using namespace troupe::memory::test;
using troupe::testing::read_file;
using troupe::testing::TempDir;
using troupe::testing::write_file;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Human at odd positions (1st, 3rd, ...), gpt at even.
void check_alternation(const ShareGptConversation& conv) {
  for (size_t i = 0; i < conv.turns.size(); ++i) CHECK(conv.turns[i].from == (i % 2 == 0 ? "human" : "gpt"));
}

std::unique_ptr<Store> open_store(const TempDir& dir) {
  auto s = Store::open(dir.file("db"));
  REQUIRE(s.ok());
  return std::move(s.value());
}

}  // namespace

TEST_CASE("sharegpt moves system messages to the system string and maps roles") {
  auto conv = to_sharegpt({{"system", "Be brief."},
                           {"user", "Q1"},
                           {"assistant", "A1"},
                           {"system", "Also be kind."},
                           {"user", "Q2"}});
  CHECK(conv.system == "Be brief.\n\nAlso be kind.");
  REQUIRE(conv.turns.size() == 3);
  check_alternation(conv);
  CHECK(conv.turns[0].value == "Q1");
  CHECK(conv.turns[1].value == "A1");
  CHECK(conv.turns[2].value == "Q2");
}

TEST_CASE("sharegpt merges consecutive turns of one speaker with a blank line") {
  auto conv = to_sharegpt({{"user", "a"}, {"user", "b"}, {"tool", "c"}, {"assistant", "d"}, {"assistant", "e"},
                           {"user", ""}, {"user", "f"}});
  REQUIRE(conv.turns.size() == 3);
  check_alternation(conv);
  CHECK(conv.turns[0].value == "a\n\nb\n\nc");
  CHECK(conv.turns[1].value == "d\n\ne");
  CHECK(conv.turns[2].value == "f");
}

TEST_CASE("sharegpt keeps assistant text before the first user message as human text") {
  auto conv = to_sharegpt({{"assistant", "Hello, I can help."}, {"user", "Q"}, {"assistant", "A"}});
  REQUIRE(conv.turns.size() == 2);
  check_alternation(conv);
  CHECK(conv.turns[0].value == "Hello, I can help.\n\nQ");
}

TEST_CASE("sharegpt sft rows need a human turn and end with gpt") {
  CHECK_FALSE(sharegpt_sft_row({{"system", "s"}, {"assistant", "A"}}).has_value());
  CHECK_FALSE(sharegpt_sft_row({}).has_value());
  CHECK(sharegpt_sft_row({{"user", "Q"}, {"assistant", "A"}}).value() ==
        R"({"conversations":[{"from":"human","value":"Q"},{"from":"gpt","value":"A"}],"system":""})");
}

TEST_CASE("sharegpt dpo rows end with human and continue a trailing assistant message") {
  CHECK(sharegpt_dpo_row({{"system", "s"}, {"user", "Q"}}, "good", "bad").value() ==
        R"({"conversations":[{"from":"human","value":"Q"}],"system":"s",)"
        R"("chosen":{"from":"gpt","value":"good"},"rejected":{"from":"gpt","value":"bad"}})");
  CHECK(sharegpt_dpo_row({{"user", "Q"}, {"assistant", "So "}}, "4", "5").value() ==
        R"({"conversations":[{"from":"human","value":"Q"}],"system":"",)"
        R"("chosen":{"from":"gpt","value":"So 4"},"rejected":{"from":"gpt","value":"So 5"}})");
  CHECK_FALSE(sharegpt_dpo_row({{"assistant", "only"}}, "a", "b").has_value());
}

TEST_CASE("llamafactory sft writes alternating sharegpt rows and its dataset_info entry") {
  TempDir dir;
  auto store = open_store(dir);
  StepRecord good = sample_step("run-1", 0, {{"system", "S"}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}});
  good.completion = "A2";
  good.label = true;
  StepRecord bad = sample_step("run-1", 1);
  bad.label = false;
  StepRecord no_user = sample_step("run-1", 2, {{"system", "S"}});
  no_user.label = true;
  REQUIRE(store->write({good, bad, no_user}, {}, {sample_run("run-1")}).ok());

  const std::string out = dir.file("lf");
  auto stats = export_llamafactory(*store, ExportFormat::llamafactory_sft, {}, out);
  REQUIRE(stats.ok());
  CHECK(stats->rows == 1);
  CHECK(stats->skipped == 1);
  auto lines = lines_of(read_file(out + "/troupe_sft.jsonl"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"({"conversations":[{"from":"human","value":"Q1"},{"from":"gpt","value":"A1"},)"
        R"({"from":"human","value":"Q2"},{"from":"gpt","value":"A2"}],"system":"S"})");
  CHECK(read_file(out + "/dataset_info.json") ==
        R"({"troupe_sft":{"file_name":"troupe_sft.jsonl","formatting":"sharegpt",)"
        R"("columns":{"messages":"conversations","system":"system"}}})"
        "\n");
}

TEST_CASE("llamafactory dpo writes ranking rows and merges into an existing dataset_info.json") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->write({}, {sample_pair("pair-1", "run-1")}, {sample_run("run-1")}).ok());
  const std::string out = dir.file("lf");
  std::filesystem::create_directories(out);
  write_file(out + "/dataset_info.json",
             R"({"alpaca_en": {"file_name": "alpaca.json"}, "troupe_dpo": {"file_name": "old.json"}})");

  auto stats = export_llamafactory(*store, ExportFormat::llamafactory_dpo, {}, out);
  REQUIRE(stats.ok());
  CHECK(stats->rows == 1);
  CHECK(stats->runs == 1);
  auto lines = lines_of(read_file(out + "/troupe_dpo.jsonl"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"({"conversations":[{"from":"human","value":"What is 2+2?"}],"system":"You are careful.",)"
        R"("chosen":{"from":"gpt","value":"It is 4."},"rejected":{"from":"gpt","value":"It is 5."}})");
  CHECK(read_file(out + "/dataset_info.json") ==
        R"({"alpaca_en":{"file_name":"alpaca.json"},)"
        R"("troupe_dpo":{"file_name":"troupe_dpo.jsonl","formatting":"sharegpt","ranking":true,)"
        R"("columns":{"messages":"conversations","chosen":"chosen","rejected":"rejected","system":"system"}}})"
        "\n");

  // The sft export adds its own entry beside both.
  REQUIRE(export_llamafactory(*store, ExportFormat::llamafactory_sft, {}, out).ok());
  simdjson::dom::parser parser;
  simdjson::dom::object info = parser.load(out + "/dataset_info.json");
  size_t entries = 0;
  for (auto field : info) {
    (void)field;
    ++entries;
  }
  CHECK(entries == 3);
  CHECK(std::string_view(info["troupe_sft"]["file_name"]) == "troupe_sft.jsonl");
  CHECK(std::string_view(info["troupe_dpo"]["file_name"]) == "troupe_dpo.jsonl");
}

TEST_CASE("an unreadable dataset_info.json is an error and is left as it was") {
  TempDir dir;
  auto store = open_store(dir);
  const std::string out = dir.file("lf");
  std::filesystem::create_directories(out);
  write_file(out + "/dataset_info.json", "{not json");
  auto stats = export_llamafactory(*store, ExportFormat::llamafactory_sft, {}, out);
  REQUIRE_FALSE(stats.ok());
  CHECK(stats.error().code == ErrorCode::parse);
  CHECK_THAT(stats.error().message, Catch::Contains("dataset_info.json"));
  CHECK(read_file(out + "/dataset_info.json") == "{not json");
  CHECK_FALSE(std::filesystem::exists(out + "/troupe_sft.jsonl"));
}
