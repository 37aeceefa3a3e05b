// The troupe command line. Each subcommand registers its options on the
// CLI11 app and returns its exit code when run: 0 success, 1 runtime
// error (bad files, unreachable servers, failed runs), 2 usage error.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace troupe::cli {

// Registers a subcommand; `run` is set to its action.
using Action = std::function<int()>;
void add_run_command(CLI::App& app, Action& run);
void add_export_command(CLI::App& app, Action& run);
void add_runs_command(CLI::App& app, Action& run);
void add_show_command(CLI::App& app, Action& run);
void add_doctor_command(CLI::App& app, Action& run);
void add_serve_command(CLI::App& app, Action& run);
void add_generate_command(CLI::App& app, Action& run);
void add_prove_command(CLI::App& app, Action& run);
void add_mkmodel_command(CLI::App& app, Action& run);
void add_convert_command(CLI::App& app, Action& run);
void add_search_command(CLI::App& app, Action& run);
void add_daemon_command(CLI::App& app, Action& run);
void add_bench_command(CLI::App& app, Action& run);

// "troupe: <message>" on stderr.
void print_error(const std::string& message);

}  // namespace troupe::cli
