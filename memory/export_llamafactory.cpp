// export_llamafactory: sharegpt JSONL plus the dataset_info.json entry.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <simdjson.h>

#include "common/json_writer.hpp"
#include "memory/export_scan.hpp"
#include "memory/sharegpt.hpp"

namespace troupe::memory {
namespace {

namespace fs = std::filesystem;

struct Target {
  const char* name;       // dataset_info key
  const char* file_name;  // rows file in out_dir
  bool ranking;
};

Target target_of(ExportFormat format) {
  if (format == ExportFormat::llamafactory_dpo) return {"troupe_dpo", "troupe_dpo.jsonl", true};
  return {"troupe_sft", "troupe_sft.jsonl", false};
}

std::string dataset_entry(const Target& t) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("file_name", t.file_name).field("formatting", "sharegpt");
  if (t.ranking) w.field("ranking", true);
  w.key("columns").begin_object().field("messages", "conversations");
  if (t.ranking) w.field("chosen", "chosen").field("rejected", "rejected");
  w.field("system", "system").end_object().end_object();
  return out;
}

// Writes `text` to `path` via a temporary file and a rename.
Status write_file_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Error(ErrorCode::io, "cannot write '" + tmp.string() + "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error(ErrorCode::io, "cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + ec.message());
  return {};
}

// The existing dataset_info.json with our entry added or replaced (in place),
// other entries kept as they were (minified).
Result<std::string> merged_dataset_info(const fs::path& path, const Target& t) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  bool replaced = false;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) return Error(ErrorCode::io, "cannot read '" + path.string() + "'");
    const std::string text = ss.str();
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (auto err = parser.parse(text).get(obj))
      return Error(ErrorCode::parse, std::string("'").append(path.string()) + "' is not a JSON object (" +
                                         simdjson::error_message(err) + "); not overwriting it");
    for (auto field : obj) {
      w.key(field.key);
      if (field.key == t.name) {
        w.raw(dataset_entry(t));
        replaced = true;
      } else {
        w.raw(simdjson::minify(field.value));
      }
    }
  }
  if (!replaced) w.key(t.name).raw(dataset_entry(t));
  w.end_object();
  out.push_back('\n');
  return out;
}

}  // namespace

Result<ExportStats> export_llamafactory(Store& store, ExportFormat format, const ExportFilter& filter,
                                        const std::string& out_dir) {
  if (format != ExportFormat::llamafactory_sft && format != ExportFormat::llamafactory_dpo)
    return Error(ErrorCode::invalid_argument, std::string("export_llamafactory does not write '") +
                                                  to_string(format) + "' (use export_jsonl)");
  const Target target = target_of(format);
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(ErrorCode::io, "cannot create '" + out_dir + "': " + ec.message());

  // Check dataset_info.json before writing rows, so a bad one fails early.
  const fs::path info_path = dir / "dataset_info.json";
  auto info = merged_dataset_info(info_path, target);
  if (!info) return info.error();

  const fs::path rows_path = dir / target.file_name;
  const fs::path tmp_path = rows_path.string() + ".tmp";
  std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
  if (!out) return Error(ErrorCode::io, "cannot write '" + tmp_path.string() + "'");

  ExportStats stats;
  auto emit = [&](const std::optional<std::string>& row) -> Status {
    if (!row) {
      ++stats.skipped;
      return {};
    }
    out << *row << '\n';
    if (!out) return Error(ErrorCode::io, "cannot write '" + tmp_path.string() + "'");
    ++stats.rows;
    return {};
  };
  Status st;
  if (format == ExportFormat::llamafactory_sft) {
    st = detail::for_each_labelled_step(store, filter, stats, [&](const StepRecord& step) -> Status {
      if (!*step.label) return {};
      return emit(sharegpt_sft_row(detail::completed_conversation(step)));
    });
  } else {
    st = detail::for_each_matching_pair(store, filter, stats, [&](const PairRecord& pair) {
      return emit(sharegpt_dpo_row(pair.prompt, pair.chosen, pair.rejected));
    });
  }
  out.close();
  if (!st || !out) {
    fs::remove(tmp_path, ec);
    if (!st) return st.error();
    return Error(ErrorCode::io, "cannot write '" + tmp_path.string() + "'");
  }
  fs::rename(tmp_path, rows_path, ec);
  if (ec) return Error(ErrorCode::io, "cannot rename '" + tmp_path.string() + "': " + ec.message());
  if (auto w = write_file_atomically(info_path, *info); !w) return w.error();
  return stats;
}

}  // namespace troupe::memory
