#include "memory/export_scan.hpp"

#include <unordered_set>

namespace troupe::memory {

Result<ExportFormat> parse_export_format(std::string_view name) {
  for (auto f : {ExportFormat::sft, ExportFormat::dpo, ExportFormat::kto, ExportFormat::llamafactory_sft,
                 ExportFormat::llamafactory_dpo, ExportFormat::rollouts, ExportFormat::verl,
                 ExportFormat::sft_turns}) {
    if (name == to_string(f)) return f;
  }
  return Error(ErrorCode::invalid_argument,
               "unknown export format '" + std::string(name) +
                   "' (expected sft, dpo, kto, llamafactory-sft, llamafactory-dpo, rollouts, verl or sft-turns)");
}

const char* to_string(ExportFormat format) {
  switch (format) {
    case ExportFormat::sft: return "sft";
    case ExportFormat::dpo: return "dpo";
    case ExportFormat::kto: return "kto";
    case ExportFormat::llamafactory_sft: return "llamafactory-sft";
    case ExportFormat::llamafactory_dpo: return "llamafactory-dpo";
    case ExportFormat::rollouts: return "rollouts";
    case ExportFormat::verl: return "verl";
    case ExportFormat::sft_turns: return "sft-turns";
  }
  return "unknown";
}

namespace detail {

bool matches(const ExportFilter& filter, const std::string& run_id, const std::string& workflow, int64_t created_ms) {
  if (!filter.run_id.empty() && run_id != filter.run_id) return false;
  if (!filter.workflow.empty() && workflow != filter.workflow) return false;
  if (filter.since_ms && created_ms < *filter.since_ms) return false;
  return true;
}

Status for_each_labelled_step(Store& store, const ExportFilter& filter, ExportStats& stats,
                              const std::function<Status(const StepRecord&)>& visit) {
  return for_each_run_steps(store, filter, stats, [&](const RunRecord&, const std::vector<StepRecord>& steps) {
    for (const auto& step : steps) {
      if (!step.label) continue;
      if (auto r = visit(step); !r) return r;
    }
    return Status();
  });
}

Status for_each_run_steps(Store& store, const ExportFilter& filter, ExportStats& stats,
                          const std::function<Status(const RunRecord&, const std::vector<StepRecord>&)>& visit) {
  Status failure;
  auto visit_run = [&](const RunRecord& run) {
    if (!matches(filter, run.id, run.workflow, run.created_ms)) return true;
    ++stats.runs;
    auto steps = store.read_steps(run.id);
    if (!steps) {
      failure = steps.error();
      return false;
    }
    if (auto r = visit(run, *steps); !r) {
      failure = r;
      return false;
    }
    return true;
  };
  if (!filter.run_id.empty()) {
    auto run = store.get_run(filter.run_id);
    if (!run) return run.error();
    if (*run) visit_run(**run);
    return failure;
  }
  auto st = store.for_each_run(std::nullopt, visit_run);
  if (!st) return st;
  return failure;
}

Status for_each_matching_pair(Store& store, const ExportFilter& filter, ExportStats& stats,
                              const std::function<Status(const PairRecord&)>& visit) {
  Status failure;
  std::unordered_set<std::string> runs;
  auto st = store.for_each_pair([&](const PairRecord& pair) {
    if (!matches(filter, pair.run_id, pair.workflow, pair.created_ms)) return true;
    runs.insert(pair.run_id);
    if (auto r = visit(pair); !r) {
      failure = r;
      return false;
    }
    return true;
  });
  stats.runs = runs.size();
  if (!st) return st;
  return failure;
}

std::vector<Message> completed_conversation(const StepRecord& step) {
  std::vector<Message> messages = step.prompt;
  if (!messages.empty() && messages.back().role == "assistant") {
    messages.back().content += step.completion;
  } else {
    messages.push_back({"assistant", step.completion});
  }
  return messages;
}

Status RowWriter::operator()(const std::string& row) {
  out_ << row << '\n';
  if (!out_) return Error(ErrorCode::io, "writing the export failed");
  ++stats_.rows;
  return {};
}

}  // namespace detail
}  // namespace troupe::memory
