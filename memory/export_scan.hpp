// Internal to export: the streaming walks over a Store that every export
// format shares, and the filter rules. Not a public API.
//
// - for_each_labelled_step visits, run by run in id order, every step with
//   a label of every run matching the filter (stats.runs counts the runs).
// - for_each_matching_pair visits every pair matching the filter
//   (stats.runs counts distinct run ids).
// - A visitor returns a Status; the first error stops the walk and is
//   returned.
// - completed_conversation(step) is the prompt followed by the completion as
//   an assistant message; when the prompt ends with an assistant message
//   (a continuation) the completion is appended to its content directly.
#pragma once

#include <functional>
#include <ostream>

#include "memory/export.hpp"

namespace troupe::memory::detail {

bool matches(const ExportFilter& filter, const std::string& run_id, const std::string& workflow, int64_t created_ms);

Status for_each_labelled_step(Store& store, const ExportFilter& filter, ExportStats& stats,
                              const std::function<Status(const StepRecord&)>& visit);

// Every run matching the filter with all its steps (one run's steps in
// memory at a time); stats.runs counts the runs.
Status for_each_run_steps(Store& store, const ExportFilter& filter, ExportStats& stats,
                          const std::function<Status(const RunRecord&, const std::vector<StepRecord>&)>& visit);

Status for_each_matching_pair(Store& store, const ExportFilter& filter, ExportStats& stats,
                              const std::function<Status(const PairRecord&)>& visit);

std::vector<Message> completed_conversation(const StepRecord& step);

// Writes one JSONL row (the row, then '\n') and counts it in stats.rows; a
// failed write is an io error.
class RowWriter {
 public:
  RowWriter(std::ostream& out, ExportStats& stats) : out_(out), stats_(stats) {}
  Status operator()(const std::string& row);

 private:
  std::ostream& out_;
  ExportStats& stats_;
};

}  // namespace troupe::memory::detail
