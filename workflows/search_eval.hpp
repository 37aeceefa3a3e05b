// Scores Archon layouts on a dev set by running them (the Evaluator that
// `troupe search` uses). Each evaluation builds a workflow in memory
// (pipeline archon, inline layers, the spec's base) named
// "<base name>@<layout key>" and runs the first `items` dev items through a
// workflows::Runner sharing one backend and one store, so every evaluation
// run is recorded like any run, and its workflow hash is that of the
// workflow file workflow_yaml() writes for the same layout.
//
// Scores: exact = RunSummary correct / with_gold (a failed run counts as
// wrong; dev items without `answer` are an error); judge = the mean judge
// score: a second in-memory archon workflow with one generator (model
// scoring.model, the judge prompt as its whole user message) is asked per
// item; a reply whose last Yes/No word is Yes scores 1, No 0, otherwise its
// first number n scores min(1, n / scale), and a reply with neither scores 0.
// Calls are the runs' real calls (judge calls included).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"
#include "engine/backend.hpp"
#include "memory/store.hpp"
#include "workflows/search.hpp"
#include "workflows/search_space.hpp"

namespace troupe::workflows::search {

// The score a judge reply gives (see above).
double judge_score(const std::string& reply, double scale);

class RunnerEvaluator : public Evaluator {
 public:
  // `backend` and `store` are shared by every evaluation.
  RunnerEvaluator(SearchSpec spec, std::vector<actors::RunInput> dev, std::shared_ptr<engine::Backend> backend,
                  std::shared_ptr<memory::Store> store);

  int dev_items() const override { return static_cast<int>(dev_.size()); }
  int64_t calls_per_item(const Point& p) const override;
  int64_t predicted_calls(const Point& p, int items) const override;
  // Layers already scored on as many items are not run again: the earlier
  // score comes back with 0 calls (and predicted_calls() is 0).
  Evaluation evaluate(const Point& p, int items) override;
  // True when an earlier evaluated point gave the same layers.
  bool repeats_earlier_point(const Point& p) const;
  // Layouts actually run (repeats and over-cap points not counted).
  int64_t layouts_run() const { return layouts_run_; }

  // Runs one layout (also used for the power ranking); config.name names
  // the workflow its runs are recorded under.
  Evaluation evaluate_config(const ArchonConfig& config, int items);
  // The layout of a point, named "<base name>@<key>".
  ArchonConfig config_of(const Point& p) const;
  const SearchSpec& spec() const { return spec_; }
  // Replaces the power ranking (after power_rank()).
  void set_models(std::vector<std::string> models) { spec_.layout.models = std::move(models); }

 private:
  SearchSpec spec_;
  std::vector<actors::RunInput> dev_;
  std::shared_ptr<engine::Backend> backend_;
  std::shared_ptr<memory::Store> store_;
  std::map<std::pair<std::string, int>, Evaluation> scored_;  // (layers JSON, items)
  std::map<std::string, Point> first_point_;                  // layers JSON -> first point giving them
  int64_t layouts_run_ = 0;
};

// ITAS step 1, simplified: each model alone (one generator, one sample, no
// fuser) scored on `items` dev items; returns the models best first (ties
// keep the given order) and adds the calls spent to `spent`. Stops early
// (returning the given order) when the next run would exceed `budget`.
Result<std::vector<std::string>> power_rank(RunnerEvaluator& ev, int items, int64_t budget, int64_t& spent,
                                            std::vector<std::pair<std::string, Evaluation>>* table = nullptr);

}  // namespace troupe::workflows::search
