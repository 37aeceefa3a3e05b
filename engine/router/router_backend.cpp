#include "engine/router/router_backend.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "engine/router/prefix_index.hpp"

namespace troupe::engine::router {

namespace {

// One request through its attempts. Fields other than the atomic are
// guarded by Impl::mu once the request is registered.
struct Pending {
  GenerateRequest request;  // as submitted, on_delta wrapped; copied per attempt
  GenerateCallback done;
  BlockChain chain;
  std::vector<bool> tried;
  int current = -1;
  bool cancelled = false;
  int attempts = 0;
  std::atomic<bool> output_sent{false};  // on_delta / on_logprobs reached the caller
  std::chrono::steady_clock::time_point start;
};

struct Slot {
  Endpoint ep;
  PrefixIndex index;
  EndpointStats st;
  int consecutive_failures = 0;
};

}  // namespace

Status validate(const RouterConfig& c) {
  auto bad = [](const std::string& key, const std::string& what) {
    return Error{ErrorCode::invalid_argument, "routing." + key + ": " + what};
  };
  if (c.policy != "affinity" && c.policy != "round_robin" && c.policy != "least_load")
    return bad("policy", "expected affinity, round_robin or least_load, got '" + c.policy + "'");
  if (!(c.beta >= 0)) return bad("beta", "must be at least 0, got " + std::to_string(c.beta));
  if (!(c.overload_ratio >= 1)) return bad("overload_ratio", "must be at least 1, got " + std::to_string(c.overload_ratio));
  if (c.eject_after < 1) return bad("eject_after", "must be at least 1, got " + std::to_string(c.eject_after));
  if (c.health_interval.count() < 0) return bad("health_interval_s", "must be at least 0");
  if (c.block_chars < 1) return bad("block_chars", "must be at least 1");
  if (c.index_capacity < 1) return bad("index_capacity", "must be at least 1");
  return Status{};
}

class RouterBackend::Impl {
 public:
  RouterConfig cfg;
  std::vector<Slot> slots;  // fixed after create; contents under mu
  mutable std::mutex mu;
  std::condition_variable cv;  // stop requested / a callback finished
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending;
  int64_t outstanding = 0;  // callbacks not yet returned
  bool stopping = false;
  uint64_t turn = 0;
  uint64_t next_id = 0;
  std::mutex round_mu;  // one health round at a time
  std::thread health;

  // Under mu: the endpoint for `p`'s next attempt, or -1 when none is left.
  int choose(const Pending& p) {
    const int n = static_cast<int>(slots.size());
    bool any_admitted = false;
    for (const auto& s : slots) any_admitted |= !s.st.ejected;
    std::vector<int> cand;
    double load_sum = 0;
    int load_count = 0;
    for (int i = 0; i < n; ++i) {
      const Slot& s = slots[i];
      if (any_admitted && s.st.ejected) continue;
      load_sum += static_cast<double>(s.st.in_flight);
      ++load_count;
      if (!p.tried[i]) cand.push_back(i);
    }
    if (cand.empty()) return -1;
    const uint64_t start = turn++;
    // Rotated position: earlier in this request's turn order wins a tie.
    auto order = [&](int i) { return (static_cast<uint64_t>(i) + n - start % n) % n; };
    if (cfg.policy == "round_robin")
      return *std::min_element(cand.begin(), cand.end(), [&](int a, int b) { return order(a) < order(b); });
    const double mean = load_count ? load_sum / load_count : 0;
    auto fewer = [&](int a, int b) {
      if (slots[a].st.in_flight != slots[b].st.in_flight) return slots[a].st.in_flight < slots[b].st.in_flight;
      return order(a) < order(b);
    };
    if (cfg.policy == "least_load") return *std::min_element(cand.begin(), cand.end(), fewer);
    // Overloaded: more in flight than overload_ratio x (the others' mean + 1).
    auto overloaded = [&](int i) {
      if (load_count < 2) return false;
      double others = (load_sum - static_cast<double>(slots[i].st.in_flight)) / (load_count - 1);
      return static_cast<double>(slots[i].st.in_flight) > cfg.overload_ratio * (others + 1);
    };
    if (!std::all_of(cand.begin(), cand.end(), overloaded))
      cand.erase(std::remove_if(cand.begin(), cand.end(), overloaded), cand.end());
    auto score = [&](int i) {
      double share = p.chain.chars ? static_cast<double>(slots[i].index.matched_chars(p.chain)) / p.chain.chars : 0;
      return share - cfg.beta * static_cast<double>(slots[i].st.in_flight) / (mean + 1);
    };
    int best = cand.front();
    double best_score = score(best);
    for (size_t k = 1; k < cand.size(); ++k) {
      int i = cand[k];
      double sc = score(i);
      if (sc > best_score + 1e-9 || (sc > best_score - 1e-9 && fewer(i, best))) {
        best = i;
        best_score = sc;
      }
    }
    return best;
  }

  // Under mu: books an attempt of `p` at endpoint `i`.
  void book(Pending& p, int i) {
    Slot& s = slots[i];
    p.current = i;
    p.tried[i] = true;
    size_t matched = s.index.matched_chars(p.chain);
    s.st.requests += 1;
    s.st.in_flight += 1;
    s.st.prompt_chars += static_cast<int64_t>(p.chain.chars);
    s.st.matched_prefix_chars += static_cast<int64_t>(matched);
    if (matched > 0) s.st.routed_by_affinity += 1;
    s.index.insert(p.chain);
  }

  // Not under mu: sends the booked attempt.
  void send(const std::shared_ptr<Pending>& p, int i) {
    GenerateRequest copy = p->request;
    Backend& child = *slots[i].ep.backend;
    child.submit(std::move(copy), [this, p, i](Result<GenerateResult> r) { on_result(p, i, std::move(r)); });
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu);
      cancelled = p->cancelled && p->current == i;
    }
    if (cancelled) child.cancel(p->request.id);  // cancel() raced with the send
  }

  void eject(Slot& s) {
    if (s.st.ejected) return;
    s.st.ejected = true;
    s.st.ejections += 1;
  }

  void on_result(const std::shared_ptr<Pending>& p, int i, Result<GenerateResult> r) {
    int next = -1;
    {
      std::lock_guard<std::mutex> lock(mu);
      Slot& s = slots[i];
      s.st.in_flight -= 1;
      p->attempts += r.ok() ? r->attempts : 1;
      if (r.ok()) {
        s.consecutive_failures = 0;
      } else if (r.error().code != ErrorCode::cancelled) {
        s.st.failures += 1;
        if (r.error().retryable && ++s.consecutive_failures >= cfg.eject_after) eject(s);
        if (r.error().retryable && !p->cancelled && !stopping && !p->output_sent.load()) {
          next = choose(*p);
          if (next >= 0) {
            s.st.failovers_from += 1;
            book(*p, next);
          }
        }
      }
    }
    if (next >= 0) {
      send(p, next);
      return;
    }
    if (r.ok()) {
      r->attempts = p->attempts;
      r->latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p->start).count();
    } else {
      r = r.error().with_context("router: endpoint " + slots[i].ep.name);
    }
    finish(p, std::move(r));
  }

  void finish(const std::shared_ptr<Pending>& p, Result<GenerateResult> r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      pending.erase(p->request.id);
    }
    GenerateCallback done = std::move(p->done);
    if (done) done(std::move(r));
    std::lock_guard<std::mutex> lock(mu);
    outstanding -= 1;
    cv.notify_all();
  }

  void health_round() {
    std::lock_guard<std::mutex> round(round_mu);
    std::vector<int> verdict(slots.size(), -1);  // -1 no probe, 0 failed, 1 passed
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i].ep.probe) verdict[i] = slots[i].ep.probe() ? 1 : 0;  // probe and ep are fixed: no lock
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (verdict[i] == 0) {
        eject(s);
      } else if (s.st.ejected) {
        s.st.ejected = false;
        s.consecutive_failures = 0;
      }
    }
  }

  void health_loop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      if (cv.wait_for(lock, cfg.health_interval, [&] { return stopping; })) break;
      lock.unlock();
      health_round();
      lock.lock();
    }
  }
};

Result<std::unique_ptr<RouterBackend>> RouterBackend::create(RouterConfig config, std::vector<Endpoint> endpoints) {
  if (auto st = validate(config); !st.ok()) return st.error();
  if (endpoints.empty()) return Error{ErrorCode::invalid_argument, "router: no endpoints given"};
  auto impl = std::make_shared<Impl>();
  impl->cfg = config;
  for (auto& ep : endpoints) {
    if (!ep.backend) return Error{ErrorCode::invalid_argument, "router: endpoint '" + ep.name + "' has no backend"};
    Slot s{std::move(ep), PrefixIndex(config.index_capacity), {}, 0};
    s.st.name = s.ep.name;
    impl->slots.push_back(std::move(s));
  }
  if (config.health_interval.count() > 0) impl->health = std::thread([p = impl.get()] { p->health_loop(); });
  return std::unique_ptr<RouterBackend>(new RouterBackend(std::move(impl)));
}

RouterBackend::RouterBackend(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

RouterBackend::~RouterBackend() {
  Impl& im = *impl_;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    im.stopping = true;
  }
  im.cv.notify_all();
  if (im.health.joinable()) im.health.join();
  std::vector<std::pair<int, std::string>> live;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    for (auto& [id, p] : im.pending) {
      p->cancelled = true;
      if (p->current >= 0) live.emplace_back(p->current, id);
    }
  }
  for (auto& [i, id] : live) im.slots[i].ep.backend->cancel(id);
  std::unique_lock<std::mutex> lock(im.mu);
  im.cv.wait(lock, [&] { return im.outstanding == 0; });
  lock.unlock();
  im.slots.clear();  // children deliver nothing more: none of our requests is left in them
}

void RouterBackend::submit(GenerateRequest request, GenerateCallback done) {
  Impl& im = *impl_;
  auto p = std::make_shared<Pending>();
  p->start = std::chrono::steady_clock::now();
  p->chain = block_chain(prompt_key_text(request), im.cfg.block_chars);
  p->tried.assign(im.slots.size(), false);
  if (request.on_delta) {
    request.on_delta = [p = p.get(), f = std::move(request.on_delta)](int index, const std::string& delta) {
      p->output_sent = true;
      f(index, delta);
    };
  }
  if (request.on_logprobs) {
    request.on_logprobs = [p = p.get(), f = std::move(request.on_logprobs)](int index, const TokenLogprob& lp) {
      p->output_sent = true;
      f(index, lp);
    };
  }
  int chosen = -1;
  std::optional<Error> refused;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    if (request.id.empty()) request.id = "router-" + std::to_string(++im.next_id);
    if (im.stopping) {
      refused = Error{ErrorCode::cancelled, "request " + request.id + ": backend shut down"};
    } else if (im.pending.count(request.id)) {
      refused = Error{ErrorCode::invalid_argument, "request " + request.id + ": duplicate request id"};
    } else {
      p->request = std::move(request);
      p->done = std::move(done);
      im.pending.emplace(p->request.id, p);
      im.outstanding += 1;
      chosen = im.choose(*p);  // never -1: nothing is tried yet and there is an endpoint
      im.book(*p, chosen);
    }
  }
  if (refused) {
    done(std::move(*refused));
    return;
  }
  im.send(p, chosen);
}

void RouterBackend::cancel(const std::string& request_id) {
  Impl& im = *impl_;
  int at = -1;
  {
    std::lock_guard<std::mutex> lock(im.mu);
    auto it = im.pending.find(request_id);
    if (it == im.pending.end()) return;
    it->second->cancelled = true;
    at = it->second->current;
  }
  if (at >= 0) im.slots[at].ep.backend->cancel(request_id);
}

BackendInfo RouterBackend::info() const {
  BackendInfo out;
  out.kind = "router";
  out.model = impl_->slots.front().ep.backend->info().model;
  for (size_t i = 0; i < impl_->slots.size(); ++i) out.endpoint += (i ? "," : "") + impl_->slots[i].ep.name;
  return out;
}

void RouterBackend::check_health_now() { impl_->health_round(); }

std::vector<EndpointStats> RouterBackend::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<EndpointStats> out;
  for (const auto& s : impl_->slots) {
    out.push_back(s.st);
    out.back().indexed_blocks = s.index.size();
  }
  return out;
}

std::string RouterBackend::metrics_text(const std::string& label) const { return router_metrics_text({{label, this}}); }

std::string router_metrics_text(const std::vector<std::pair<std::string, const RouterBackend*>>& routers) {
  auto esc = [](const std::string& v) {
    std::string o;
    for (char c : v) {
      if (c == '\n') {
        o += "\\n";
        continue;
      }
      if (c == '\\' || c == '"') o += '\\';
      o += c;
    }
    return o;
  };
  std::vector<std::pair<std::string, std::vector<EndpointStats>>> all;
  for (const auto& [label, r] : routers) all.emplace_back(label, r->stats());
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help, auto get) {
    out << "# HELP troupe_router_" << name << ' ' << help << "\n# TYPE troupe_router_" << name << ' ' << type << '\n';
    for (const auto& [label, stats] : all)
      for (const auto& s : stats)
        out << "troupe_router_" << name << "{backend=\"" << esc(label) << "\",endpoint=\"" << esc(s.name) << "\"} "
            << get(s) << '\n';
  };
  using S = const EndpointStats&;
  family("requests_total", "counter", "Attempts sent to the endpoint.", [](S s) { return s.requests; });
  family("failures_total", "counter", "Attempts that ended in an error.", [](S s) { return s.failures; });
  family("failovers_total", "counter", "Failed attempts sent again to another endpoint.",
         [](S s) { return s.failovers_from; });
  family("in_flight", "gauge", "Attempts in flight.", [](S s) { return s.in_flight; });
  family("affinity_routed_total", "counter", "Attempts sent where part of their prefix was recorded.",
         [](S s) { return s.routed_by_affinity; });
  family("matched_prefix_chars_total", "counter", "Prompt characters matched in the endpoint's prefix index.",
         [](S s) { return s.matched_prefix_chars; });
  family("prompt_chars_total", "counter", "Prompt characters sent.", [](S s) { return s.prompt_chars; });
  family("ejections_total", "counter", "Times the endpoint was ejected.", [](S s) { return s.ejections; });
  family("ejected", "gauge", "1 while the endpoint is ejected.", [](S s) { return s.ejected ? 1 : 0; });
  return out.str();
}

std::string prompt_key_text(const GenerateRequest& r) {
  if (r.kind == PromptKind::text) return r.prompt;
  // Separators outside printable text keep "ab"+"c" apart from "a"+"bc".
  std::string t;
  for (const auto& tool : r.tools) t += "\x1ftool\x1f" + tool.name + '\x1f' + tool.description + '\x1f' + tool.parameters;
  for (const auto& m : r.messages) {
    t += '\x1e' + m.role + '\x1f' + m.content;
    for (const auto& c : m.tool_calls) t += '\x1f' + c.name + '\x1f' + c.arguments;
  }
  return t;
}

}  // namespace troupe::engine::router
