// export_jsonl: TRL conversational JSONL (sft, dpo, kto).
#include <ostream>

#include "common/json_writer.hpp"
#include "memory/export_scan.hpp"

namespace troupe::memory {
namespace {

void write_messages(JsonWriter& w, const std::vector<Message>& messages) {
  w.begin_array();
  for (const auto& m : messages) w.begin_object().field("role", m.role).field("content", m.content).end_object();
  w.end_array();
}

void write_assistant(JsonWriter& w, const std::string& content) {
  w.begin_array().begin_object().field("role", "assistant").field("content", content).end_object().end_array();
}

std::string sft_row(const StepRecord& step) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("messages");
  write_messages(w, detail::completed_conversation(step));
  w.end_object();
  return out;
}

std::string kto_row(const StepRecord& step) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("prompt");
  write_messages(w, step.prompt);
  w.key("completion");
  write_assistant(w, step.completion);
  w.field("label", *step.label).end_object();
  return out;
}

std::string dpo_row(const PairRecord& pair) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("prompt");
  write_messages(w, pair.prompt);
  w.key("chosen");
  write_assistant(w, pair.chosen);
  w.key("rejected");
  write_assistant(w, pair.rejected);
  w.end_object();
  return out;
}

}  // namespace

Result<ExportStats> export_jsonl(Store& store, ExportFormat format, const ExportFilter& filter,
                                 std::ostream& out) {
  ExportStats stats;
  detail::RowWriter emit(out, stats);
  if (format == ExportFormat::rollouts || format == ExportFormat::verl || format == ExportFormat::sft_turns)
    return export_rl_jsonl(store, format, filter, out);
  Status st;
  switch (format) {
    case ExportFormat::sft:
      st = detail::for_each_labelled_step(store, filter, stats, [&](const StepRecord& step) -> Status {
        return *step.label ? emit(sft_row(step)) : Status();
      });
      break;
    case ExportFormat::kto:
      st = detail::for_each_labelled_step(store, filter, stats,
                                          [&](const StepRecord& step) { return emit(kto_row(step)); });
      break;
    case ExportFormat::dpo:
      st = detail::for_each_matching_pair(store, filter, stats,
                                          [&](const PairRecord& pair) { return emit(dpo_row(pair)); });
      break;
    default:
      return Error(ErrorCode::invalid_argument, std::string("export_jsonl does not write '") +
                                                    to_string(format) + "' (use export_llamafactory)");
  }
  if (!st) return st.error();
  out.flush();
  if (!out) return Error(ErrorCode::io, "writing the export failed");
  return stats;
}

}  // namespace troupe::memory
