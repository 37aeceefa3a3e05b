// bench_routing: prefix-affinity routing against round robin over several
// real `troupe serve` processes (docs/routing.md "Bench").
//
// Starts --servers `troupe serve` processes on free loopback ports (a small
// model, few threads each), then for each policy sends the same two
// workloads through a RouterBackend over HttpBackends:
//   leap  --runs runs x --samples samples of one prompt per run, all of
//         them sent in one shuffled order (fixed seed), the runs interleaved;
//   iad   --runs runs x --turns turns, each turn's prompt the previous one
//         plus the text generated for it, all runs advancing together (each
//         turn's requests in a shuffled order).
// Prompts are salted per policy so that one policy's cached prefixes do not
// help the other. It prints, per policy and workload, the share of prompt
// tokens the servers reported as cached (usage.prompt_tokens_details.
// cached_tokens), requests/s and generated tokens/s, and the ratios
// affinity / round_robin. Not a Google Benchmark program: a driver with its
// own main (the numbers are whole-workload ratios).
//
//   bench_routing --troupe build/release/troupe
//       [--model M --tokenizer T] [--servers 4] [--threads 1]
//       [--runs 6 --samples 8 --turns 6 --concurrency 8 --max-tokens 12]
//       [--first round_robin|affinity]   (the policy measured first)
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "engine/http/http_backend.hpp"
#include "engine/router/router_backend.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

struct Options {
  std::string troupe = "build/release/troupe";
  std::string model = std::string(TROUPE_SHARED_DIR) + "/models/stories260K/stories260K.bin";
  std::string tokenizer = std::string(TROUPE_SHARED_DIR) + "/models/stories260K/tok512.bin";
  std::string first = "round_robin";  // the policy measured first
  int servers = 4, threads = 1, runs = 6, samples = 8, turns = 6, concurrency = 8, max_tokens = 12;
};

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

struct Server {
  pid_t pid = -1;
  std::string url;
};

Server start_server(const Options& o) {
  Server s;
  int port = free_port();
  s.url = "http://127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {o.troupe, "serve", o.model, "--tokenizer", o.tokenizer, "--threads",
                                   std::to_string(o.threads), "--port", std::to_string(port), "--model-name",
                                   "stories", "--context", "512", "--kv-mb", "32"};
  s.pid = ::fork();
  if (s.pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return s;
}

// A story-like prompt unique to (salt, run); ~400 characters.
std::string run_prompt(const std::string& salt, int run) {
  std::string p = "Story " + salt + "-" + std::to_string(run) + ". Once upon a time there was a little girl named Lily";
  const char* parts[] = {" who lived in a small house near the woods.", " She liked to play with her red ball.",
                         " One day her mom said they would go to the park.", " Lily was very happy and she ran outside.",
                         " In the park there was a big tree and a dog.", " The dog wanted to play with the ball too.",
                         " Lily smiled and threw the ball to the dog.", " They played all day until the sun went down."};
  for (int i = 0; i < 8; ++i) p += parts[(i + run) % 8];
  return p;
}

struct Tally {
  int64_t requests = 0, failures = 0, prompt = 0, cached = 0, generated = 0;
  double seconds = 0;
};

// Sends `prompts` with at most `limit` in flight; returns each reply's text.
std::vector<std::string> send_all(Backend& b, const std::vector<std::string>& prompts, int limit, int max_tokens,
                                  Tally& t) {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0, finished = 0;
  std::vector<std::string> texts(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < limit; });
      ++in_flight;
    }
    GenerateRequest r;
    r.kind = PromptKind::text;
    r.prompt = prompts[i];
    r.sampling.max_tokens = max_tokens;
    r.sampling.temperature = 0.8;
    r.sampling.seed = static_cast<int64_t>(i + 1);
    b.submit(std::move(r), [&, i](Result<GenerateResult> res) {
      std::lock_guard<std::mutex> lock(mu);
      ++t.requests;
      if (res.ok()) {
        t.prompt += res->usage.prompt_tokens;
        t.cached += res->usage.cached_prompt_tokens;
        t.generated += res->usage.completion_tokens;
        if (!res->choices.empty()) texts[i] = res->choices[0].text;
      } else {
        ++t.failures;
        std::fprintf(stderr, "request failed: %s\n", res.error().describe().c_str());
      }
      --in_flight;
      ++finished;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished == static_cast<int>(prompts.size()); });
  return texts;
}

Tally leap_like(Backend& b, const Options& o, const std::string& salt) {
  std::vector<std::string> prompts;
  for (int s = 0; s < o.samples; ++s)
    for (int run = 0; run < o.runs; ++run) prompts.push_back(run_prompt(salt, run) + " Sample:");
  // Runs interleave in no fixed pattern (a fixed pattern can line up with
  // round robin's turn and give it affinity by accident).
  std::mt19937 rng(7);
  std::shuffle(prompts.begin(), prompts.end(), rng);
  Tally t;
  auto start = std::chrono::steady_clock::now();
  send_all(b, prompts, o.concurrency, o.max_tokens, t);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

Tally iad_like(Backend& b, const Options& o, const std::string& salt) {
  std::vector<std::string> convo;
  for (int run = 0; run < o.runs; ++run) convo.push_back(run_prompt(salt + "i", run));
  Tally t;
  std::mt19937 rng(11);
  auto start = std::chrono::steady_clock::now();
  for (int turn = 0; turn < o.turns; ++turn) {
    std::vector<size_t> order(convo.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);  // runs answer in no fixed order
    std::vector<std::string> prompts;
    for (size_t i : order) prompts.push_back(convo[i] + " Then,");
    auto texts = send_all(b, prompts, o.concurrency, o.max_tokens, t);
    for (size_t k = 0; k < order.size(); ++k) convo[order[k]] = prompts[k] + texts[k];
  }
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

std::unique_ptr<router::RouterBackend> make_router(const std::vector<Server>& servers, const std::string& policy) {
  std::vector<router::Endpoint> eps;
  for (const auto& s : servers) {
    HttpBackend::Config c;
    c.base_url = s.url;
    c.model = "stories";
    c.api = "completions";
    c.max_retries = 1;
    auto b = HttpBackend::create(c);
    if (!b.ok()) return nullptr;
    eps.push_back({s.url, std::shared_ptr<Backend>(std::move(b.value())), router::http_health_probe(s.url, std::chrono::milliseconds(1000))});
  }
  router::RouterConfig rc;
  rc.policy = policy;
  rc.health_interval = std::chrono::milliseconds(0);
  auto r = router::RouterBackend::create(rc, std::move(eps));
  if (!r.ok()) return nullptr;
  return std::move(r.value());
}

bool parse(int argc, char** argv, Options& o) {
  std::map<std::string, int*> ints = {{"--servers", &o.servers}, {"--threads", &o.threads}, {"--runs", &o.runs},
                                      {"--samples", &o.samples}, {"--turns", &o.turns},
                                      {"--concurrency", &o.concurrency}, {"--max-tokens", &o.max_tokens}};
  std::map<std::string, std::string*> strs = {{"--troupe", &o.troupe}, {"--model", &o.model}, {"--tokenizer", &o.tokenizer},
                                              {"--first", &o.first}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (auto it = ints.find(k); it != ints.end()) {
      *it->second = std::atoi(argv[i + 1]);
      if (*it->second < 1) return std::fprintf(stderr, "%s: expected a whole number >= 1\n", k.c_str()), false;
    } else if (auto st = strs.find(k); st != strs.end()) {
      *st->second = argv[i + 1];
    } else {
      return std::fprintf(stderr, "unknown option %s\n", k.c_str()), false;
    }
  }
  if (argc % 2 == 0) return std::fprintf(stderr, "options come in pairs: --name value\n"), false;
  if (o.first != "round_robin" && o.first != "affinity")
    return std::fprintf(stderr, "--first: expected round_robin or affinity\n"), false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 2;
  if (::access(o.troupe.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "--troupe %s: not an executable (build the troupe target)\n", o.troupe.c_str());
    return 2;
  }
  std::vector<Server> servers;
  for (int i = 0; i < o.servers; ++i) servers.push_back(start_server(o));
  bool up = true;
  for (const auto& s : servers) {
    auto probe = router::http_health_probe(s.url, std::chrono::milliseconds(500));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!probe() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a process starting: polled, not a test
    if (!probe()) {
      std::fprintf(stderr, "%s did not come up\n", s.url.c_str());
      up = false;
    }
  }
  int rc = 0;
  if (up) {
    std::printf("bench_routing: %d troupe serve processes (%d thread(s) each), %d runs, %d samples, %d turns, "
                "%d in flight, %d tokens per reply\n\n",
                o.servers, o.threads, o.runs, o.samples, o.turns, o.concurrency, o.max_tokens);
    std::printf("%-8s %-12s %9s %8s %10s %10s %10s %8s\n", "workload", "policy", "requests", "failed", "cached",
                "req/s", "gen tok/s", "seconds");
    std::map<std::string, std::map<std::string, Tally>> all;
    std::vector<std::string> order = {"round_robin", "affinity"};
    if (o.first == "affinity") std::swap(order[0], order[1]);
    for (const std::string& policy : order) {
      auto router = make_router(servers, policy);
      if (!router) {
        rc = 1;
        break;
      }
      all["leap"][policy] = leap_like(*router, o, policy);
      all["iad"][policy] = iad_like(*router, o, policy);
    }
    for (const std::string w : {"leap", "iad"}) {
      for (const std::string policy : {"round_robin", "affinity"}) {
        const Tally& t = all[w][policy];
        std::printf("%-8s %-12s %9lld %8lld %9.1f%% %10.1f %10.1f %8.2f\n", w.c_str(), policy.c_str(),
                    static_cast<long long>(t.requests), static_cast<long long>(t.failures),
                    t.prompt ? 100.0 * t.cached / t.prompt : 0.0, t.requests / t.seconds, t.generated / t.seconds,
                    t.seconds);
        if (t.failures) rc = 1;
      }
      const Tally& a = all[w]["affinity"];
      const Tally& r = all[w]["round_robin"];
      double share_a = a.prompt ? double(a.cached) / a.prompt : 0, share_r = r.prompt ? double(r.cached) / r.prompt : 0;
      std::printf("%-8s %-12s %9s %8s %9.2fx %9.2fx %9.2fx\n", w.c_str(), "ratio a/rr", "", "",
                  share_r > 0 ? share_a / share_r : 0.0, (a.requests / a.seconds) / (r.requests / r.seconds),
                  (a.generated / a.seconds) / (r.generated / r.seconds));
    }
  } else {
    rc = 1;
  }
  for (const auto& s : servers)
    if (s.pid > 0) ::kill(s.pid, SIGTERM);
  for (const auto& s : servers)
    if (s.pid > 0) ::waitpid(s.pid, nullptr, 0);
  return rc;
}
