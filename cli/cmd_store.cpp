// Commands that read a store: export, runs, show. They open it read-only,
// so they work while another process (troupe run, the daemon) writes it.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "common/clock.hpp"
#include "memory/export.hpp"
#include "memory/store.hpp"
#include "memory/store_merge.hpp"

namespace troupe::cli {
namespace {

Result<std::unique_ptr<memory::Store>> open_read_only(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  return memory::Store::open(path, o);
}

struct ExportArgs {
  std::string db = "troupe.db";
  bool db_given = false;
  std::vector<std::string> stores;  // --store, repeated: merged (memory/store_merge.hpp)
  std::string format;
  std::string out;
  std::string workflow;
  std::string since;
};

int do_export(const ExportArgs& a) {
  auto format = memory::parse_export_format(a.format);
  if (!format.ok()) {
    print_error(format.error().message);
    return 2;
  }
  memory::ExportFilter filter;
  filter.workflow = a.workflow;
  if (!a.since.empty()) {
    auto t = parse_time(a.since, now_unix_ms());
    if (!t) {
      print_error("--since '" + a.since + "': expected a time like 2026-11-28T10:00:00Z, 2026-11-28 or 2h");
      return 2;
    }
    filter.since_ms = *t;
  }
  // One store, or several read as one: each run once (memory/store_merge.hpp).
  std::vector<std::string> paths = a.stores;
  if (paths.empty() || a.db_given) paths.insert(paths.begin(), a.db);
  std::vector<std::unique_ptr<memory::Store>> opened;
  for (const auto& p : paths) {
    auto one = open_read_only(p);
    if (!one.ok()) {
      print_error(one.error().message);
      return 1;
    }
    opened.push_back(std::move(one.value()));
  }
  memory::MergedStore* merged = nullptr;
  Result<std::unique_ptr<memory::Store>> store = std::unique_ptr<memory::Store>();
  if (opened.size() > 1) {
    auto m = std::make_unique<memory::MergedStore>(std::move(opened));
    merged = m.get();
    store = std::unique_ptr<memory::Store>(std::move(m));
  } else {
    store = std::move(opened.front());
  }
  Result<memory::ExportStats> stats = memory::ExportStats{};
  if (*format == memory::ExportFormat::llamafactory_sft || *format == memory::ExportFormat::llamafactory_dpo) {
    if (a.out.empty()) {
      print_error("--format " + a.format + " writes a folder: give --out DIR");
      return 2;
    }
    stats = memory::export_llamafactory(**store, *format, filter, a.out);
  } else if (a.out.empty() || a.out == "-") {
    stats = memory::export_jsonl(**store, *format, filter, std::cout);
    std::cout.flush();
  } else {
    std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
    if (!out) {
      print_error(a.out + ": cannot open for writing");
      return 1;
    }
    stats = memory::export_jsonl(**store, *format, filter, out);
    out.flush();
    if (!out) {
      print_error(a.out + ": write failed");
      return 1;
    }
  }
  if (!stats.ok()) {
    print_error(stats.error().message);
    return 1;
  }
  std::fprintf(stderr, "troupe: exported %zu %s rows from %zu runs\n", stats->rows, a.format.c_str(), stats->runs);
  if (merged)
    std::fprintf(stderr, "troupe: merged %zu stores; %zu copies of runs held by more than one store left out\n",
                 paths.size(), merged->copies_skipped());
  return 0;
}

struct RunsArgs {
  std::string db = "troupe.db";
  std::string status;
};

std::string clip(const std::string& s, size_t n) {
  std::string flat;
  for (char c : s) flat.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  return flat.size() <= n ? flat : flat.substr(0, n - 3) + "...";
}

int do_runs(const RunsArgs& a) {
  std::optional<memory::RunStatus> status;
  if (!a.status.empty()) {
    status = memory::run_status_from_string(a.status);
    if (!status) {
      print_error("--status '" + a.status + "': expected queued, running, succeeded, failed, cancelled or interrupted");
      return 2;
    }
  }
  auto store = open_read_only(a.db);
  if (!store.ok()) {
    print_error(store.error().message);
    return 1;
  }
  std::printf("%-34s %-16s %-11s %-8s %-8s %-24s %s\n", "run", "workflow", "status", "item", "correct", "created",
              "answer");
  size_t n = 0;
  Status s = (*store)->for_each_run(status, [&](const memory::RunRecord& r) {
    std::printf("%-34s %-16s %-11s %-8s %-8s %-24s %s\n", r.id.c_str(), clip(r.workflow, 16).c_str(),
                memory::to_string(r.status), clip(r.item_id, 8).c_str(),
                r.correct ? (*r.correct ? "yes" : "no") : "-", format_utc(r.created_ms).c_str(),
                clip(r.answer.empty() ? r.error : r.answer, 40).c_str());
    ++n;
    return true;
  });
  if (!s.ok()) {
    print_error(s.error().message);
    return 1;
  }
  std::printf("%zu runs\n", n);
  return 0;
}

struct ShowArgs {
  std::string db = "troupe.db";
  std::string run_id;
  bool open = false;
  std::string url = "http://127.0.0.1:8080";
};

// The viewer's page for one run (docs/viewer.md): the daemon's base URL,
// then the run id, percent-encoded, in the fragment.
std::string viewer_url(std::string base, const std::string& run_id) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string out = base + "/#/runs/";
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : run_id) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

int do_show(const ShowArgs& a) {
  if (a.open) {
    if (a.url.rfind("http://", 0) != 0 && a.url.rfind("https://", 0) != 0) {
      print_error("--url '" + a.url + "': expected the daemon's address, like http://127.0.0.1:8080");
      return 2;
    }
    std::printf("%s\n", viewer_url(a.url, a.run_id).c_str());
    return 0;
  }
  auto store = open_read_only(a.db);
  if (!store.ok()) {
    print_error(store.error().message);
    return 1;
  }
  auto run = (*store)->get_run(a.run_id);
  if (!run.ok()) {
    print_error(run.error().message);
    return 1;
  }
  if (!*run) {
    print_error("no run '" + a.run_id + "' in " + a.db);
    return 1;
  }
  const memory::RunRecord& r = **run;
  std::printf("run       %s\nworkflow  %s (%s)\nstatus    %s\nitem      %s\ncreated   %s\n", r.id.c_str(),
              r.workflow.c_str(), r.pipeline.c_str(), memory::to_string(r.status), r.item_id.c_str(),
              format_utc(r.created_ms).c_str());
  std::printf("input     %s\n", r.input_json.c_str());
  if (!r.gold.empty()) std::printf("gold      %s\n", r.gold.c_str());
  std::printf("answer    %s%s\n", r.answer.c_str(), r.correct ? (*r.correct ? "  (correct)" : "  (incorrect)") : "");
  if (!r.error.empty()) std::printf("error     %s\n", r.error.c_str());
  if (!r.origin.empty()) std::printf("origin    %s\n", r.origin.c_str());
  std::printf("metrics   %s\n", r.metrics_json.c_str());
  auto steps = (*store)->read_steps(a.run_id);
  if (!steps.ok()) {
    print_error(steps.error().message);
    return 1;
  }
  for (const auto& s : *steps) {
    std::string parents;
    for (auto p : s.parents) parents += (parents.empty() ? "" : ",") + std::to_string(p);
    std::printf("\n--- step %llu  %s/%s  parents [%s]  tokens %lld+%lld  %s", static_cast<unsigned long long>(s.seq),
                s.role.c_str(), s.kind.c_str(), parents.c_str(), static_cast<long long>(s.prompt_tokens),
                static_cast<long long>(s.completion_tokens), s.finish_reason.c_str());
    if (s.verdict) std::printf("  verdict %s", *s.verdict ? "yes" : "no");
    if (s.label) std::printf("  label %s", *s.label ? "good" : "bad");
    if (!s.answer.empty()) std::printf("  answer %s", s.answer.c_str());
    std::printf("\n");
    if (!s.prompt.empty()) std::printf("[%s] %s\n", s.prompt.back().role.c_str(), clip(s.prompt.back().content, 160).c_str());
    std::printf("%s\n", s.completion.c_str());
  }
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Write fine-tuning and RL data (TRL, LLaMA-Factory, verl, token-exact rollouts) from a store");
  CLI::Option* db = cmd->add_option("--db", a->db, "Store path")->capture_default_str();
  cmd->add_option("--store", a->stores,
                  "A store to merge (repeat it: each run is written once; see docs/scale-out.md)");
  cmd->add_option("--format,-f", a->format, "sft | dpo | kto | llamafactory-sft | llamafactory-dpo | rollouts | verl | sft-turns")->required();
  cmd->add_option("--out,-o", a->out, "Output file (JSONL; default stdout) or folder (llamafactory-*)");
  cmd->add_option("--workflow", a->workflow, "Only runs of this workflow name");
  cmd->add_option("--since", a->since, "Only runs created at or after this time (ISO-8601, or 90s/15m/2h/7d ago)");
  cmd->callback([a, db, &action] {
    a->db_given = db->count() > 0;
    action = [a] { return do_export(*a); };
  });
}

void add_runs_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<RunsArgs>();
  CLI::App* cmd = app.add_subcommand("runs", "List the runs in a store");
  cmd->add_option("--db", a->db, "Store path")->capture_default_str();
  cmd->add_option("--status", a->status, "Only runs with this status");
  cmd->callback([a, &action] { action = [a] { return do_runs(*a); }; });
}

void add_show_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ShowArgs>();
  CLI::App* cmd = app.add_subcommand("show", "Show a run and its steps as text");
  cmd->add_option("run_id", a->run_id, "Run id (see troupe runs)")->required();
  cmd->add_option("--db", a->db, "Store path")->capture_default_str();
  cmd->add_flag("--open", a->open, "Print the run's page in the daemon's viewer (see --url) instead of the text");
  cmd->add_option("--url", a->url, "The daemon's address, for --open")->capture_default_str();
  cmd->callback([a, &action] { action = [a] { return do_show(*a); }; });
}

}  // namespace troupe::cli
