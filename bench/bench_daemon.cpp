// Load on the daemon: N runs queued at once over HTTP on the scripted TEST
// backend (two steps a run: solve, verify), one SSE client per run reading
// its events. Reports, for a 100-run baseline and a 1,000-run phase in the
// same process: throughput, p50/p99 event latency (step committed in the
// store -> the SSE event parsed by a client, from the event's committed_us)
// and peak RSS of each phase (VmHWM, reset between phases), with the ratio.
// Not a Google Benchmark program: it prints one table.
//   bench_daemon [runs=1000] [concurrency=16] [clients=32]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "daemon/http_api.hpp"
#include "daemon/run_service.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;

namespace {

const char* kWorkflow = R"(pipeline: spoc
roles:
  solver:
    template: "SOLVE: {question}"
  verifier:
    template: "VERIFY {question} => {solution}"
params:
  max_turns: 2
)";

const char* kFixture = R"(rules:
  - match: "VERIFY"
    reply: "Checked. Verdict: Yes"
  - match: "SOLVE:"
    reply: "So \\boxed{4}"
)";

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// VmHWM (peak RSS) in KiB, and resetting it (Linux >= 4.0).
long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

struct PhaseResult {
  int runs = 0;
  double seconds = 0;
  long peak_kb = 0;
  size_t live_events = 0, store_events = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  int succeeded = 0;
};

PhaseResult phase(daemon::ApiServer& api, int runs, int clients, const std::string& token) {
  reset_peak_rss();
  PhaseResult res;
  res.runs = runs;
  httplib::Client c("127.0.0.1", api.port());
  httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  auto t0 = std::chrono::steady_clock::now();
  // Queue every run in one request: the queue holds them all at once.
  std::string body = R"({"workflow":"spoc","inputs":[)";
  for (int i = 0; i < runs; ++i) body += (i ? "," : "") + std::string(R"({"question":"q)") + std::to_string(i) + "\"}";
  body += "]}";
  auto r = c.Post("/v1/runs", auth, body, "application/json");
  if (!r || r->status != 202) {
    std::fprintf(stderr, "submit failed: %s\n", r ? r->body.c_str() : "no reply");
    std::exit(1);
  }
  std::vector<std::string> ids;
  simdjson::dom::parser p;
  for (auto id : p.parse(r->body)["run_ids"].get_array()) ids.emplace_back(std::string_view(id));

  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<double> lat_ms;
  std::atomic<size_t> store_events{0};
  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&] {
      httplib::Client cl("127.0.0.1", api.port());
      cl.set_read_timeout(60, 0);
      simdjson::dom::parser jp;
      std::vector<double> mine;
      for (size_t i = next++; i < ids.size(); i = next++) {
        std::string buf;
        cl.Get(("/v1/runs/" + ids[i] + "/events").c_str(), auth, [&](const char* d, size_t n) {
          buf.append(d, n);
          size_t end;
          while ((end = buf.find("\n\n")) != std::string::npos) {
            std::string ev = buf.substr(0, end);
            buf.erase(0, end + 2);
            size_t dpos = ev.find("data: ");
            if (dpos == std::string::npos) continue;
            std::string data = ev.substr(dpos + 6);
            int64_t received = now_us();
            simdjson::dom::element doc;
            if (jp.parse(data).get(doc)) continue;
            int64_t committed = 0;
            if (ev.find("event: end") != std::string::npos) {
              std::string_view st;
              if (!doc["status"].get(st) && st == "succeeded") succeeded++;
            } else if (!doc["committed_us"].get(committed)) {
              mine.push_back((received - committed) / 1000.0);
            } else {
              store_events++;
            }
          }
          return true;
        });
      }
      std::lock_guard<std::mutex> lock(mu);
      lat_ms.insert(lat_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.peak_kb = peak_rss_kb();
  std::sort(lat_ms.begin(), lat_ms.end());
  res.live_events = lat_ms.size();
  res.store_events = store_events;
  res.succeeded = succeeded;
  if (!lat_ms.empty()) {
    res.p50_ms = lat_ms[lat_ms.size() / 2];
    res.p99_ms = lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(lat_ms.size() * 0.99))];
    res.max_ms = lat_ms.back();
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 1000;
  int concurrency = argc > 2 ? std::atoi(argv[2]) : 16;
  int clients = argc > 3 ? std::atoi(argv[3]) : 32;
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "workflows");
  testing::write_file(dir.file("workflows/spoc.yaml"), kWorkflow);
  testing::write_file(dir.file("rules.yaml"), kFixture);
  testing::write_file(dir.file("troupe.yaml"),
                      "listen: {host: 127.0.0.1, port: 0}\ntoken: bench\nworkflows_dir: workflows\ndb: troupe.db\n"
                      "concurrency: " + std::to_string(concurrency) + "\nhttp_threads: " +
                          std::to_string(clients + 8) + "\nmax_body_bytes: 16777216\n"
                          "backends:\n  scripted: {kind: scripted, fixture: rules.yaml}\n");
  auto cfg = daemon::load_daemon_config(dir.file("troupe.yaml"));
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 1;
  }
  auto svc = daemon::RunService::start(std::move(cfg.value()));
  if (!svc.ok()) {
    std::fprintf(stderr, "%s\n", svc.error().message.c_str());
    return 1;
  }
  daemon::ApiServer api(**svc);
  if (!api.start().ok()) return 1;

  PhaseResult base = phase(api, 100, clients, "bench");
  PhaseResult load = phase(api, runs, clients, "bench");
  api.stop();
  (*svc)->shutdown(0);

  std::printf("troupe daemon load (scripted TEST backend, 2 steps/run, concurrency %d, %d SSE clients)\n",
              concurrency, clients);
  std::printf("%-8s %10s %10s %9s %9s %9s %12s %12s %12s\n", "runs", "ok", "runs/s", "p50 ms", "p99 ms", "max ms",
              "live events", "store evts", "peak RSS MiB");
  for (const PhaseResult* r : {&base, &load})
    std::printf("%-8d %10d %10.1f %9.2f %9.2f %9.2f %12zu %12zu %12.1f\n", r->runs, r->succeeded,
                r->runs / r->seconds, r->p50_ms, r->p99_ms, r->max_ms, r->live_events, r->store_events,
                r->peak_kb / 1024.0);
  std::printf("peak RSS ratio (%d runs / 100 runs): %.2f\n", runs,
              base.peak_kb > 0 ? static_cast<double>(load.peak_kb) / base.peak_kb : 0.0);
  return (base.succeeded == 100 && load.succeeded == runs) ? 0 : 1;
}
