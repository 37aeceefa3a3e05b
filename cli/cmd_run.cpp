// troupe run WORKFLOW.yaml [--input ITEMS.jsonl] [--output RESULTS.jsonl] [--db PATH]
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "common/clock.hpp"
#include "common/json_writer.hpp"
#include "memory/interrupted_runs.hpp"
#include "workflows/inputs.hpp"
#include "workflows/runner.hpp"
#include "workflows/workflow.hpp"

namespace troupe::cli {
namespace {

struct RunArgs {
  std::string workflow;
  std::string input;
  std::string output;
  std::string db;
  std::string question;
  int concurrency = 0;
};

std::string outcome_line(const actors::RunOutcome& o) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("id", o.item_id).field("run_id", o.run_id).field("status", o.status).field("answer", o.answer);
  w.key("correct");
  if (o.correct < 0) w.null();
  else w.value(o.correct == 1);
  if (!o.error.empty()) w.field("error", o.error);
  w.field("calls", o.calls)
      .field("prompt_tokens", o.prompt_tokens)
      .field("completion_tokens", o.completion_tokens)
      .field("steps", o.steps)
      .field("pairs", o.pairs)
      .field("wall_ms", o.wall_ms)
      .end_object();
  return out;
}

void print_summary(const workflows::RunSummary& s, const std::string& db) {
  std::string acc = "-";
  if (s.with_gold > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld/%lld (%.1f%%)", static_cast<long long>(s.correct),
                  static_cast<long long>(s.with_gold), 100.0 * s.correct / s.with_gold);
    acc = buf;
  }
  std::printf("\n%-8s %-10s %-7s %-10s %-18s %-7s %-10s %-9s\n", "items", "succeeded", "failed", "cancelled",
              "accuracy", "calls", "tokens", "wall");
  std::printf("%-8lld %-10lld %-7lld %-10lld %-18s %-7lld %-10lld %.2fs\n", static_cast<long long>(s.items),
              static_cast<long long>(s.succeeded), static_cast<long long>(s.failed),
              static_cast<long long>(s.cancelled), acc.c_str(), static_cast<long long>(s.calls),
              static_cast<long long>(s.prompt_tokens + s.completion_tokens), s.wall_s);
  std::printf("store: %s\n", db.c_str());
}

int run_workflow(const RunArgs& args) {
  auto wf = workflows::load_workflow(args.workflow);
  if (!wf.ok()) {
    print_error(wf.error().message);
    return 1;
  }
  std::unique_ptr<workflows::InputSource> inputs;
  int64_t total = 0;
  if (!args.question.empty()) {
    actors::RunInput item;
    item.item_id = "1";
    item.question = args.question;
    item.raw_json = "{\"question\":" + json_quote(args.question) + "}";
    inputs = std::make_unique<workflows::VectorInputs>(std::vector<actors::RunInput>{item});
    total = 1;
  } else if (!args.input.empty()) {
    auto in = workflows::JsonlInputs::open(args.input);
    if (!in.ok()) {
      print_error(in.error().message);
      return 1;
    }
    inputs = std::move(in.value());
    total = workflows::count_input_lines(args.input);
  } else {
    print_error("nothing to run: give --input ITEMS.jsonl or --question TEXT");
    return 2;
  }
  std::unique_ptr<std::ofstream> out;
  if (!args.output.empty()) {
    out = std::make_unique<std::ofstream>(args.output, std::ios::binary | std::ios::trunc);
    if (!*out) {
      print_error(args.output + ": cannot open for writing");
      return 1;
    }
  }
  workflows::RunnerOptions opts;
  opts.db_path = args.db;
  opts.concurrency = args.concurrency;
  std::string db = args.db.empty() ? wf->store_path : args.db;
  // This writable open is exclusive: runs an earlier `troupe run` left
  // `running` have no process any more. Mark them before starting new ones.
  auto store = memory::Store::open(db);
  if (!store.ok()) {
    print_error(store.error().message);
    return 1;
  }
  opts.store = std::shared_ptr<memory::Store>(std::move(store.value()));
  auto interrupted = memory::mark_interrupted_runs(*opts.store, now_unix_ms());
  if (!interrupted.ok()) {
    print_error(interrupted.error().message);
    return 1;
  }
  if (!interrupted->empty()) {
    std::string ids;
    for (const auto& r : *interrupted) ids += (ids.empty() ? "" : ", ") + r.id;
    std::fprintf(stderr,
                 "troupe: marked %zu run(s) interrupted in %s (their troupe run process stopped before they ended; "
                 "their recorded steps are kept): %s\n",
                 interrupted->size(), db.c_str(), ids.c_str());
  }
  auto runner = workflows::Runner::create(std::move(wf.value()), opts);
  if (!runner.ok()) {
    print_error(runner.error().message);
    return 1;
  }
  const bool live = isatty(STDERR_FILENO);
  auto progress = [&](const workflows::RunSummary& s, int64_t in_flight) {
    if (!live) return;
    std::fprintf(stderr, "\r\033[K[%lld/%lld done, %lld running] calls %lld  tokens %lld  %.1fs",
                 static_cast<long long>(s.items), static_cast<long long>(total), static_cast<long long>(in_flight),
                 static_cast<long long>(s.calls), static_cast<long long>(s.prompt_tokens + s.completion_tokens),
                 s.wall_s);
    std::fflush(stderr);
  };
  int64_t ended = 0;  // every run started is reported here before run() returns
  auto on_outcome = [&](const actors::RunOutcome& o, const workflows::RunSummary& s) {
    ++ended;
    if (out) *out << outcome_line(o) << '\n' << std::flush;
    if (o.status != "succeeded") {
      if (live) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "troupe: item %s (%s) %s: %s\n", o.item_id.c_str(), o.run_id.c_str(), o.status.c_str(),
                   o.error.c_str());
    }
    progress(s, 0);
  };
  auto result = (*runner)->run(*inputs, on_outcome, progress);
  if (live) std::fprintf(stderr, "\r\033[K");
  if (!result.ok()) {
    if (ended == 0) print_error(result.error().message + " (no run was started)");
    else
      print_error(result.error().message + " (the " + std::to_string(ended) +
                  " run(s) started before it finished and are in the store " + db + ")");
    return 1;
  }
  print_summary(*result, db);
  return result->failed > 0 ? 1 : 0;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a workflow over input items, recording every step");
  cmd->add_option("workflow", args->workflow, "Workflow file (YAML)")->required();
  cmd->add_option("--input,-i", args->input, "Input items, one JSON object per line: question, id, answer");
  cmd->add_option("--question,-q", args->question, "Run one question given on the command line");
  cmd->add_option("--output,-o", args->output, "Write one result line per item (JSONL)");
  cmd->add_option("--db", args->db, "Store path (default: the workflow's store.path)");
  cmd->add_option("--concurrency,-j", args->concurrency, "Items run at once (default: the workflow's)");
  cmd->callback([args, &action] { action = [args] { return run_workflow(*args); }; });
}

void print_error(const std::string& message) { std::fprintf(stderr, "troupe: %s\n", message.c_str()); }

}  // namespace troupe::cli
