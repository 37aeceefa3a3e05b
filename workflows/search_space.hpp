// The search-space file of `troupe search` (docs/search.md) and the Archon
// layouts it describes (pipelines.md §4(e) step 2).
//
// Callers may rely on:
// - load_search_spec() returns a SearchSpec whose base is a validated
//   archon Workflow (the file's workflow keys: name, backend, store, roles,
//   budget, concurrency, checked by the workflow loader with the file's own
//   line numbers), or an Error "FILE:LINE:COL: message" naming the first
//   problem (unknown keys, wrong types, out-of-range choices, an unknown
//   algorithm or scoring method, `params` — which the search chooses).
// - layout_space() lists the dimensions in a fixed order (kDimensionNames);
//   layout_config() turns a point of it into an ArchonConfig; the same
//   point always gives the same config.
// - workflow_yaml() is a workflow file (inline layers) that `troupe run`
//   loads: the base keys as given, with backend paths made absolute.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "workflows/archon/archon.hpp"
#include "workflows/search.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows::search {

// The choices of each layout dimension (the `space:` map).
struct LayoutSpace {
  std::vector<std::string> models;          // power ranking, best first (required)
  std::vector<int> generators{1};           // model_top_k: the top-k models generate, one generator each
  std::vector<int> samples{1};              // samples per generator
  std::vector<int> fuser_layers{0};         // fusion layers before the final stage
  std::vector<int> fusers{1};               // fusers per fusion layer
  std::vector<bool> critic{false};          // a critic before each fusion stage
  std::vector<bool> ranker{false};          // a ranker before each fusion stage
  std::vector<int> ranker_top_k{5};         // candidates the ranker keeps
  std::vector<bool> final_fuser{true};      // end with one fuser (else a ranker keeps 1)
  std::vector<std::string> aggregator{"top1"};  // model of critic, ranker, final fuser; top1 = models[0]
  bool rank_models = false;                 // compute the power ranking first (ITAS step 1)
};

// Dimension names, in layout_space() order.
extern const std::vector<std::string> kDimensionNames;

// How a configuration's answers are scored (the `scoring:` map).
struct ScoringSpec {
  std::string method = "exact";  // exact | judge
  std::string model;             // judge: backend model ("" = the backend's)
  std::string system;            // judge: system prompt
  std::string template_text;     // judge: {question} {answer} {reference}
  int max_tokens = 64;           // judge: reply length
  double scale = 10;             // judge: a numeric reply n scores n / scale
};

struct SearchSpec {
  std::string file;
  Workflow base;          // pipeline archon, no params
  std::string base_yaml;  // the base keys as YAML (no name, pipeline, params)
  LayoutSpace layout;
  SearchOptions options;  // budget_calls is the caller's (--budget)
  ScoringSpec scoring;
};

Result<SearchSpec> load_search_spec(const std::string& path);
Result<SearchSpec> parse_search_spec(const std::string& text, const std::string& path);

Space layout_space(const LayoutSpace& layout);
ArchonConfig layout_config(const LayoutSpace& layout, const Point& p, const std::string& name);
// Model calls per item when nothing is retried: generator and fuser
// `samples`, one per critic and ranker.
int64_t calls_per_item(const ArchonConfig& config);
// One line: "gen a,b x2 > critic > rank top5 > fuser a".
std::string layout_summary(const ArchonConfig& config);
// Archon's JSON shape: {"name": ..., "layers": [[{...}]]}.
std::string layout_json(const ArchonConfig& config);
// The layers alone as one-line JSON: what inline `params.layers` carries.
std::string layers_json(const ArchonConfig& config);
// A workflow file running `config` with the spec's base.
std::string workflow_yaml(const SearchSpec& spec, const ArchonConfig& config, const std::string& name);

}  // namespace troupe::workflows::search
