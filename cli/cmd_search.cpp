// troupe search SPACE.yaml --dev DEV.jsonl --budget CALLS [--out best.yaml] [--out-json best.json]
// Archon's architecture search (pipelines.md §4(e)); docs/search.md.
#include <cstdio>
#include <fstream>

#include "cli/commands.hpp"
#include "workflows/inputs.hpp"
#include "workflows/runner.hpp"
#include "workflows/search.hpp"
#include "workflows/search_eval.hpp"
#include "workflows/search_space.hpp"

namespace troupe::cli {
namespace {

namespace ws = workflows::search;

struct SearchArgs {
  std::string space;
  std::string dev;
  int64_t budget = 0;
  std::string out = "best.yaml";
  std::string out_json;
  std::string db;
  std::string algorithm;
  int64_t seed = -1;
};

// Reports each evaluation on stderr as it finishes.
class ReportingEvaluator : public ws::Evaluator {
 public:
  explicit ReportingEvaluator(ws::RunnerEvaluator& inner) : inner_(inner) {}
  int dev_items() const override { return inner_.dev_items(); }
  int64_t calls_per_item(const ws::Point& p) const override { return inner_.calls_per_item(p); }
  int64_t predicted_calls(const ws::Point& p, int items) const override { return inner_.predicted_calls(p, items); }
  ws::Evaluation evaluate(const ws::Point& p, int items) override {
    ws::Evaluation e = inner_.evaluate(p, items);
    ++count_;
    if (e.error.empty() && e.calls == 0 && inner_.repeats_earlier_point(p))
      std::fprintf(stderr, "troupe: eval %d: same layers as an earlier point, score %.3f (not run again): %s\n",
                   count_, e.score, ws::layout_summary(inner_.config_of(p)).c_str());
    else if (e.error.empty())
      std::fprintf(stderr, "troupe: eval %d: score %.3f on %d items, %lld calls: %s\n", count_, e.score, items,
                   static_cast<long long>(e.calls), ws::layout_summary(inner_.config_of(p)).c_str());
    else
      std::fprintf(stderr, "troupe: eval %d failed (%s): %s\n", count_,
                   ws::layout_summary(inner_.config_of(p)).c_str(), e.error.c_str());
    return e;
  }

 private:
  ws::RunnerEvaluator& inner_;
  int count_ = 0;
};

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

int run_search_command(const SearchArgs& args) {
  if (args.budget <= 0) {
    print_error("--budget must be a positive number of model calls");
    return 2;
  }
  auto spec = ws::load_search_spec(args.space);
  if (!spec.ok()) {
    print_error(spec.error().message);
    return 1;
  }
  if (!args.algorithm.empty()) {
    if (args.algorithm != "random" && args.algorithm != "grid" && args.algorithm != "greedy" &&
        args.algorithm != "halving") {
      print_error("--algorithm: unknown algorithm '" + args.algorithm + "' (random, grid, greedy, halving)");
      return 2;
    }
    spec->options.algorithm = args.algorithm;
  }
  if (args.seed >= 0) spec->options.seed = static_cast<uint64_t>(args.seed);

  // The dev set, read whole (it is small by design).
  auto in = workflows::JsonlInputs::open(args.dev);
  if (!in.ok()) {
    print_error(in.error().message);
    return 1;
  }
  std::vector<actors::RunInput> dev;
  for (;;) {
    auto next = (*in)->next();
    if (!next.ok()) {
      print_error(next.error().message);
      return 1;
    }
    if (!*next) break;
    dev.push_back(std::move(**next));
  }
  if (dev.empty()) {
    print_error(args.dev + ": no dev items");
    return 1;
  }

  auto backend = workflows::make_backend(spec->base.backend);
  if (!backend.ok()) {
    print_error(backend.error().message);
    return 1;
  }
  const std::string db = args.db.empty() ? spec->base.store_path : args.db;
  auto store = memory::Store::open(db);
  if (!store.ok()) {
    print_error(store.error().message);
    return 1;
  }
  std::shared_ptr<memory::Store> shared_store(std::move(store.value()));
  ws::RunnerEvaluator evaluator(*spec, dev, *backend, shared_store);

  int64_t spent = 0;
  if (spec->layout.rank_models) {
    // ITAS step 1: the power ranking orders the models before the search.
    std::vector<std::pair<std::string, ws::Evaluation>> table;
    auto ranking = ws::power_rank(evaluator, static_cast<int>(dev.size()), args.budget, spent, &table);
    if (!ranking.ok()) {
      print_error(ranking.error().message);
      return 1;
    }
    std::printf("power ranking (each model alone on %zu items):\n", dev.size());
    for (const auto& [model, e] : table)
      std::printf("  %-24s %.3f  %lld calls\n", model.c_str(), e.score, static_cast<long long>(e.calls));
    std::string order;
    for (const auto& m : *ranking) order += (order.empty() ? "" : ", ") + m;
    std::printf("models, best first: %s\n\n", order.c_str());
    evaluator.set_models(*ranking);
  }

  ws::Space space = ws::layout_space(evaluator.spec().layout);
  ws::SearchOptions options = evaluator.spec().options;
  options.budget_calls = args.budget - spent;
  ReportingEvaluator reporting(evaluator);
  auto result = options.budget_calls > 0 ? ws::run_search(space, reporting, options)
                                         : Result<ws::SearchResult>(ws::SearchResult{});
  if (!result.ok()) {
    print_error(result.error().message);
    return 1;
  }
  spent += result->spent;

  std::printf("%-5s %-7s %-6s %-7s %s\n", "rank", "score", "items", "calls", "layout");
  // One row per distinct layout (points that give the same layers show once).
  std::vector<ws::Trial> ranked;
  for (const auto& t : result->ranked())
    if (t.over_cap || !evaluator.repeats_earlier_point(t.point)) ranked.push_back(t);
  int rank = 0;
  for (const auto& t : ranked) {
    ++rank;
    const std::string layout = ws::layout_summary(evaluator.config_of(t.point));
    std::string score;
    char buf[32];
    if (t.over_cap || !t.error.empty()) {
      score = "-1";
    } else {
      std::snprintf(buf, sizeof buf, "%.3f", t.score);
      score = buf;
    }
    std::string note;
    if (t.over_cap)
      note = "  (over the cap: " + std::to_string(evaluator.calls_per_item(t.point)) + " calls per item)";
    if (!t.error.empty()) note = "  (failed: " + t.error + ")";
    std::printf("%-5d %-7s %-6d %-7lld %s%s\n", rank, score.c_str(), t.items, static_cast<long long>(t.calls),
                layout.c_str(), note.c_str());
  }
  std::printf("\nalgorithm %s, %zu points, %lld layouts run, spent %lld of %lld calls; %s\n",
              options.algorithm.c_str(), result->trials.size(), static_cast<long long>(evaluator.layouts_run()),
              static_cast<long long>(spent), static_cast<long long>(args.budget),
              result->stop_reason.empty() ? "budget spent on the power ranking" : result->stop_reason.c_str());

  if (ranked.empty() || ranked.front().items == 0 || !ranked.front().error.empty()) {
    print_error("no layout was scored within the budget; nothing written");
    return 1;
  }
  const ws::Trial& best = ranked.front();
  workflows::ArchonConfig config = evaluator.config_of(best.point);
  if (!write_text(args.out, ws::workflow_yaml(evaluator.spec(), config, config.name))) {
    print_error(args.out + ": cannot write");
    return 1;
  }
  std::printf("best: %s (score %.3f) -> %s\n", ws::layout_summary(config).c_str(), best.score, args.out.c_str());
  if (!args.out_json.empty()) {
    if (!write_text(args.out_json, ws::layout_json(config))) {
      print_error(args.out_json + ": cannot write");
      return 1;
    }
    std::printf("archon config: %s\n", args.out_json.c_str());
  }
  return 0;
}

}  // namespace

void add_search_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Search Archon layer layouts on a dev set (docs/search.md)");
  cmd->add_option("space", args->space, "Search space file (YAML)")->required();
  cmd->add_option("--dev", args->dev, "Dev items, one JSON object per line: question, id, answer")->required();
  cmd->add_option("--budget", args->budget, "Model calls the whole search may spend")->required();
  cmd->add_option("--out,-o", args->out, "Write the best configuration as a workflow file (default best.yaml)");
  cmd->add_option("--out-json", args->out_json, "Also write it as an Archon JSON config");
  cmd->add_option("--db", args->db, "Store path (default: the space file's store.path)");
  cmd->add_option("--algorithm", args->algorithm, "Override search.algorithm: random | grid | greedy | halving");
  cmd->add_option("--seed", args->seed, "Override search.seed");
  cmd->callback([args, &action] { action = [args] { return run_search_command(*args); }; });
}

}  // namespace troupe::cli
