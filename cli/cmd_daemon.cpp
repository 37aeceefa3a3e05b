// troupe daemon --config troupe.yaml [--db PATH] [--nats URL]: the
// long-running service (docs/daemon.md); --nats shares work with other
// daemons through NATS JetStream (docs/scale-out.md). SIGTERM/SIGINT: stop taking work, let in-flight runs
// finish for shutdown_grace_s, leave the rest checkpointed for the next
// start (their tools, such as command verifiers, are killed), flush, exit 0.
// A watchdog ends the process (exit 1) if that has not happened within
// shutdown_grace_s + kShutdownSlack: every acknowledged write is already in
// the store's log, so nothing committed is lost.
#include <semaphore.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/commands.hpp"
#include "daemon/http_api.hpp"
#include "daemon/nats_queue.hpp"
#include "daemon/run_service.hpp"

namespace troupe::cli {
namespace {

sem_t g_stop;
void on_signal(int) { sem_post(&g_stop); }  // async-signal-safe

// How long past the grace the flush and teardown may take.
constexpr double kShutdownSlack = 10;

struct DaemonArgs {
  std::string config;
  std::string db;
  int port = -1;
  std::string nats;
};

int daemon_main(const DaemonArgs& a) {
  auto cfg = daemon::load_daemon_config(a.config);
  if (!cfg.ok()) {
    print_error(cfg.error().message);
    return 2;
  }
  if (!a.db.empty()) cfg->db = a.db;
  if (a.port >= 0) cfg->port = a.port;
  if (!a.nats.empty()) cfg->nats.url = a.nats;
  if (!cfg->nats.url.empty() && !daemon::nats_built_in()) {
    print_error("--nats / nats.url: this troupe was built without the NATS client (libnats-dev); install it "
                "(scripts/setup does) and build again");
    return 2;
  }
  sem_init(&g_stop, 0, 0);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  double grace = cfg->shutdown_grace_s;
  auto svc = daemon::RunService::start(std::move(cfg.value()));
  if (!svc.ok()) {
    print_error(svc.error().message);
    return 1;
  }
  daemon::ApiServer server(**svc);
  Status s = server.start();
  if (!s.ok()) {
    print_error(s.error().message);
    return 1;
  }
  const auto& nats = (*svc)->config().nats;
  if (!nats.url.empty())
    std::fprintf(stderr, "troupe daemon: sharing work through NATS %s (stream %s, consumer %s)\n", nats.url.c_str(),
                 nats.stream.c_str(), nats.consumer.c_str());
  std::fprintf(stderr, "troupe daemon: listening on %s (store %s, %lld run(s) resumed)\n", server.base_url().c_str(),
               (*svc)->config().db.c_str(), static_cast<long long>((*svc)->resumed_runs()));
  std::fflush(stderr);
  while (sem_wait(&g_stop) != 0) {
  }
  std::fprintf(stderr, "troupe daemon: stopping (grace %.0f s)\n", grace);
  std::fflush(stderr);
  std::thread([grace] {
    std::this_thread::sleep_for(std::chrono::duration<double>(grace + kShutdownSlack));
    std::fprintf(stderr, "troupe daemon: shutdown did not finish within %.0f s; exiting\n", grace + kShutdownSlack);
    std::fflush(stderr);
    ::_exit(1);
  }).detach();
  (*svc)->drain(grace);  // no new work; in-flight runs may finish
  server.stop();         // event streams end; HTTP threads are joined
  (*svc)->shutdown(0);   // the rest stays `running` for the next start
  svc->reset();
  std::fprintf(stderr, "troupe daemon: stopped\n");
  return 0;
}

}  // namespace

void add_daemon_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<DaemonArgs>();
  CLI::App* cmd = app.add_subcommand("daemon", "Run the agent service: HTTP API, run queue, OpenAI-compatible front");
  cmd->add_option("--config,-c", a->config, "Daemon config file (troupe.yaml)")->required();
  cmd->add_option("--db", a->db, "Store path (overrides the config's db)");
  cmd->add_option("--port,-p", a->port, "Port (overrides the config's listen.port; 0 = any free port)");
  cmd->add_option("--nats", a->nats,
                  "Share work with other daemons through this NATS JetStream server (overrides nats.url; "
                  "docs/scale-out.md)");
  cmd->callback([a, &action] { action = [a] { return daemon_main(*a); }; });
}

}  // namespace troupe::cli
