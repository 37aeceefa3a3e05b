// troupe: run reasoning pipelines, serve backends, export datasets.
#include <cstdio>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"troupe: actor runtime for inference-time reasoning pipelines", "troupe"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "troupe 0.1.0");
  troupe::cli::Action action;
  troupe::cli::add_run_command(app, action);
  troupe::cli::add_export_command(app, action);
  troupe::cli::add_runs_command(app, action);
  troupe::cli::add_show_command(app, action);
  troupe::cli::add_doctor_command(app, action);
  troupe::cli::add_serve_command(app, action);
  troupe::cli::add_generate_command(app, action);
  troupe::cli::add_prove_command(app, action);
  troupe::cli::add_mkmodel_command(app, action);
  troupe::cli::add_convert_command(app, action);
  troupe::cli::add_search_command(app, action);
  troupe::cli::add_daemon_command(app, action);
  troupe::cli::add_bench_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (!action) return 2;
  try {
    return action();
  } catch (const std::exception& e) {
    troupe::cli::print_error(std::string("internal error: ") + e.what());
    return 1;
  }
}
