#include "engine/http/http_backend.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "engine/http/request_plan.hpp"
#include "engine/http/retry_policy.hpp"
#include "engine/sse.hpp"
#include "engine/wire.hpp"

namespace troupe::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxBodyBytes = 256u << 20;  // a reply larger than this is an error

void global_curl_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Error curl_failure(CURLcode rc, const char* errbuf, const std::string& url) {
  std::string detail = (errbuf != nullptr && errbuf[0] != '\0') ? errbuf : curl_easy_strerror(rc);
  std::string msg = "POST " + url + ": " + detail;
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error{ErrorCode::timeout, std::move(msg), 0, true};
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return Error{ErrorCode::network, std::move(msg), 0, true};
    default:
      return Error{ErrorCode::network, std::move(msg), 0, false};
  }
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

std::string join_indices(const std::vector<int>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(v[i]);
  }
  return out;
}

}  // namespace

class HttpBackend::Impl {
 public:
  struct Job;
  struct Transfer;

  // One HTTP request of a job (one per job, or n when n is emulated).
  struct Part {
    Job* job = nullptr;
    int offset = 0;
    int n = 1;
    std::string body;
    int attempts = 0;
    enum class State { queued, running, waiting, done } state = State::queued;
    Clock::time_point due{};
    Transfer* transfer = nullptr;
    std::optional<GenerateResult> result;
  };

  struct Job {
    GenerateRequest request;
    GenerateCallback done;
    Stopwatch clock;
    std::vector<std::unique_ptr<Part>> parts;
    size_t parts_done = 0;
  };

  // An easy handle and the state of the attempt it carries; reused.
  struct Transfer {
    CURL* easy = nullptr;
    Impl* impl = nullptr;
    Part* part = nullptr;
    std::string body;
    bool mode_decided = false;
    bool sse = false;
    SseParser parser;
    std::optional<StreamAccumulator> acc;
    StreamAccumulator::DeltaFn on_delta;
    std::vector<SseEvent> events;
    std::optional<Error> abort_error;
    std::optional<int> retry_after_s;
    char errbuf[CURL_ERROR_SIZE] = {};

    ~Transfer() {
      if (easy != nullptr) curl_easy_cleanup(easy);
    }
    void reset(Part* p) {
      part = p;
      body.clear();
      mode_decided = false;
      sse = false;
      parser = SseParser{};
      acc.reset();
      on_delta = nullptr;
      events.clear();
      abort_error.reset();
      retry_after_s.reset();
      errbuf[0] = '\0';
    }
  };

  explicit Impl(Config config, wire::Api api, std::string url)
      : cfg_(std::move(config)), api_(api), url_(std::move(url)), rng_(std::random_device{}()) {}

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
    free_.clear();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    if (headers_ != nullptr) curl_slist_free_all(headers_);
  }

  Status start() {
    global_curl_init();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return Error{ErrorCode::internal, "curl_multi_init failed"};
    long maxconnects = std::max(8L, static_cast<long>(cfg_.max_in_flight) * 2);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, maxconnects);
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, cfg_.stream ? "Accept: text/event-stream" : "Accept: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");
    if (!cfg_.api_key.empty()) {
      headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + cfg_.api_key).c_str());
    }
    thread_ = std::thread([this] { run(); });
    return {};
  }

  void submit(GenerateRequest request, GenerateCallback done) {
    if (request.id.empty()) request.id = new_id("req");
    http::PlanOptions opts;
    opts.api = api_;
    opts.model = cfg_.model;
    opts.stream = cfg_.stream;
    opts.unsupported = cfg_.unsupported;
    opts.emulate = cfg_.on_unsupported == "emulate";
    auto plan = http::plan_request(request, opts);
    if (!plan.ok()) {
      if (done) done(plan.error());
      return;
    }
    auto job = std::make_unique<Job>();
    job->request = std::move(request);
    job->done = std::move(done);
    for (auto& pp : *plan) {
      auto part = std::make_unique<Part>();
      part->job = job.get();
      part->offset = pp.choice_offset;
      part->n = pp.n;
      part->body = std::move(pp.body);
      job->parts.push_back(std::move(part));
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!closed_) {
        incoming_.push_back(std::move(job));
        lock.unlock();
        curl_multi_wakeup(multi_);
        return;
      }
    }
    // Only reachable while the backend is being destroyed.
    if (job->done) job->done(Error{ErrorCode::cancelled, "request " + job->request.id + ": backend shut down"});
  }

  void cancel(const std::string& id) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      cancels_.push_back(id);
    }
    curl_multi_wakeup(multi_);
  }

  const Config& config() const { return cfg_; }
  const std::string& url() const { return url_; }

 private:
  // ---- the loop ----------------------------------------------------------
  void run() {
    std::deque<std::unique_ptr<Job>> fresh;
    std::vector<std::string> cancel_ids;
    for (;;) {
      bool stop;
      {
        std::lock_guard<std::mutex> lock(mu_);
        fresh.swap(incoming_);
        cancel_ids.swap(cancels_);
        stop = stopping_;
      }
      for (auto& job : fresh) adopt(std::move(job));
      fresh.clear();
      for (const auto& id : cancel_ids) cancel_job(id);
      cancel_ids.clear();
      if (stop) break;
      promote_due();
      start_ready();
      int still = 0;
      curl_multi_perform(multi_, &still);
      reap();
      flush_outbox();
      if (!ready_.empty() && running_ < cfg_.max_in_flight) continue;
      curl_multi_poll(multi_, nullptr, 0, poll_timeout_ms(), nullptr);
    }
    // Shutdown: cancel everything, including requests submitted by the
    // callbacks this delivers.
    for (;;) {
      std::vector<std::string> ids;
      for (const auto& [id, job] : jobs_) ids.push_back(id);
      for (const auto& id : ids) cancel_job(id);
      flush_outbox();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (incoming_.empty()) {
          closed_ = true;
          cancels_.clear();
          break;
        }
        fresh.swap(incoming_);
      }
      for (auto& job : fresh) adopt(std::move(job));
      fresh.clear();
    }
  }

  int poll_timeout_ms() const {
    int timeout = 1000;
    auto now = Clock::now();
    for (const Part* p : waiting_) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(p->due - now).count() + 1;
      timeout = static_cast<int>(std::clamp<int64_t>(ms, 0, timeout));
    }
    return timeout;
  }

  void adopt(std::unique_ptr<Job> job) {
    const std::string id = job->request.id;
    if (jobs_.count(id) != 0) {
      outbox_.emplace_back(std::move(job->done),
                           Error{ErrorCode::invalid_argument, "request " + id + ": duplicate request id"});
      return;
    }
    Job* j = job.get();
    jobs_.emplace(id, std::move(job));
    for (auto& p : j->parts) ready_.push_back(p.get());
  }

  void promote_due() {
    if (waiting_.empty()) return;
    auto now = Clock::now();
    std::vector<Part*> due;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if ((*it)->due <= now) {
        due.push_back(*it);
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    // Retries go ahead of fresh work, oldest first.
    for (auto it = due.rbegin(); it != due.rend(); ++it) {
      (*it)->state = Part::State::queued;
      ready_.push_front(*it);
    }
  }

  void start_ready() {
    while (running_ < cfg_.max_in_flight && !ready_.empty()) {
      Part* p = ready_.front();
      ready_.pop_front();
      start(p);
    }
  }

  std::unique_ptr<Transfer> acquire() {
    std::unique_ptr<Transfer> t;
    if (!free_.empty()) {
      t = std::move(free_.back());
      free_.pop_back();
      curl_easy_reset(t->easy);
    } else {
      t = std::make_unique<Transfer>();
      t->easy = curl_easy_init();
      t->impl = this;
    }
    return t;
  }

  void start(Part* p) {
    auto owned = acquire();
    Transfer* t = owned.get();
    if (t->easy == nullptr) {
      fail_job(p->job, Error{ErrorCode::internal, "curl_easy_init failed"});
      return;
    }
    t->reset(p);
    if (p->job->request.on_delta) {
      t->on_delta = [t](int index, const std::string& text) {
        try {
          t->part->job->request.on_delta(index + t->part->offset, text);
        } catch (const std::exception& e) {
          spdlog::error("http backend: on_delta threw: {}", e.what());
        } catch (...) {
          spdlog::error("http backend: on_delta threw");
        }
      };
    }
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(p->body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "troupe/0.1");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.timeout_s * 1000.0));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg_.connect_timeout_s * 1000.0));
    ++p->attempts;
    p->state = Part::State::running;
    p->transfer = t;
    if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
      p->transfer = nullptr;
      free_.push_back(std::move(owned));
      fail_job(p->job, Error{ErrorCode::internal, "curl_multi_add_handle failed"});
      return;
    }
    owned.release();  // owned by the part until it completes or is detached
    ++running_;
  }

  // Removes a running transfer from the multi handle and recycles it.
  void release(Transfer* t) {
    curl_multi_remove_handle(multi_, t->easy);
    --running_;
    if (t->part != nullptr) t->part->transfer = nullptr;
    t->part = nullptr;
    t->on_delta = nullptr;
    free_.push_back(std::unique_ptr<Transfer>(t));
  }

  static size_t on_header(char* buf, size_t size, size_t nitems, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    std::string_view h(buf, size * nitems);
    if (starts_with_nocase(h, "HTTP/")) {
      t->retry_after_s.reset();
    } else if (starts_with_nocase(h, "retry-after:")) {
      t->retry_after_s = http::parse_retry_after(h.substr(12));
    }
    return size * nitems;
  }

  static size_t on_write(char* ptr, size_t size, size_t nmemb, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const size_t len = size * nmemb;
    if (!t->mode_decided) {
      t->mode_decided = true;
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      char* ct = nullptr;
      curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
      bool json_body = ct != nullptr && std::strstr(ct, "json") != nullptr;
      t->sse = t->impl->cfg_.stream && status >= 200 && status < 300 && !json_body;
      if (t->sse) t->acc.emplace(t->part->n);
    }
    if (!t->sse) {
      if (t->body.size() + len > kMaxBodyBytes) {
        t->abort_error = Error{ErrorCode::parse, "reply larger than " + std::to_string(kMaxBodyBytes) + " bytes"};
        return 0;
      }
      t->body.append(ptr, len);
      return len;
    }
    t->events.clear();
    t->parser.feed(std::string_view(ptr, len), t->events);
    for (const auto& ev : t->events) {
      if (ev.event == "error") {
        auto err = wire::error_in_payload(ev.data, 500);
        t->abort_error = (err ? *err : Error{ErrorCode::http, "error event in stream: " + ev.data, 500, true})
                             .with_context("error in stream");
        return 0;
      }
      auto st = t->acc->add(ev.data, t->on_delta);
      if (!st.ok()) {
        t->abort_error = st.error();
        return 0;
      }
    }
    return len;
  }

  void reap() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      CURLcode rc = msg->data.result;
      Part* p = t->part;
      if (p == nullptr) continue;  // cannot happen: detached transfers leave the multi handle
      finish_attempt(p, t, rc);  // releases t
    }
  }

  // Decides what one finished attempt means: a reply, a retry, or a failure.
  void finish_attempt(Part* p, Transfer* t, CURLcode rc) {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    std::optional<GenerateResult> result;
    std::optional<Error> err;
    const bool delivered = t->acc && t->acc->delivered_any();

    if (t->abort_error) {
      err = *t->abort_error;
    } else if (t->sse && t->acc->all_finished()) {
      result = t->acc->result(FinishReason::error, "");  // every choice finished; a late drop is harmless
    } else if (rc != CURLE_OK) {
      err = curl_failure(rc, t->errbuf, url_);
    } else if (status < 200 || status >= 300) {
      err = wire::parse_error_body(static_cast<int>(status), t->body);
    } else if (t->sse) {
      auto missing = t->acc->unfinished();
      err = Error{ErrorCode::network,
                  "stream ended before choices " + join_indices(missing) + " finished (" +
                      (t->acc->saw_done() ? "[DONE] received" : "no [DONE]") + ")",
                  0, true};
    } else {
      auto r = wire::parse_response_body(t->body);
      if (!r.ok()) {
        err = r.error();
        if (err->code == ErrorCode::parse) err->retryable = false;
      } else if (static_cast<int>(r->choices.size()) != p->n) {
        err = Error{ErrorCode::parse,
                    "expected " + std::to_string(p->n) + " choices, got " + std::to_string(r->choices.size()) +
                        " (if the server ignores \"n\", list it in unsupported)"};
      } else {
        result = std::move(*r);
      }
    }

    if (err && delivered) {
      // Text already went to on_delta: no retry; keep what finished.
      result = t->acc->result(FinishReason::error, err->describe());
      err.reset();
    }
    if (err) {
      if (err->retryable && p->attempts <= cfg_.max_retries) {
        auto delay = http::backoff_delay(policy(), p->attempts,
                                         status == 429 ? t->retry_after_s : std::nullopt, rng_);
        spdlog::debug("http backend: request {} attempt {} failed ({}); retrying in {} ms", p->job->request.id,
                      p->attempts, err->describe(), delay.count());
        release(t);
        p->state = Part::State::waiting;
        p->due = Clock::now() + delay;
        waiting_.push_back(p);
        return;
      }
      if (p->attempts > 1) err->message += " (after " + std::to_string(p->attempts) + " attempts)";
      release(t);
      p->state = Part::State::done;
      fail_job(p->job, *err);
      return;
    }
    release(t);
    result->attempts = p->attempts;
    p->result = std::move(result);
    p->state = Part::State::done;
    Job* job = p->job;
    if (++job->parts_done == job->parts.size()) finish_job(job);
  }

  http::RetryPolicy policy() const { return {cfg_.max_retries, cfg_.backoff_ms, cfg_.backoff_max_ms}; }

  void finish_job(Job* job) {
    GenerateResult merged;
    merged.request_id = job->request.id;
    merged.attempts = 0;
    for (auto& p : job->parts) {
      GenerateResult& r = *p->result;
      if (merged.model.empty()) merged.model = r.model;
      if (merged.prompt_token_ids.empty()) merged.prompt_token_ids = r.prompt_token_ids;
      merged.usage.prompt_tokens += r.usage.prompt_tokens;
      merged.usage.cached_prompt_tokens += r.usage.cached_prompt_tokens;
      merged.usage.completion_tokens += r.usage.completion_tokens;
      merged.attempts = std::max(merged.attempts, r.attempts);
      for (auto& c : r.choices) {
        c.index += p->offset;
        merged.choices.push_back(std::move(c));
      }
    }
    if (merged.model.empty()) merged.model = job->request.model.empty() ? cfg_.model : job->request.model;
    merged.latency_ms = job->clock.elapsed_ms();
    outbox_.emplace_back(std::move(job->done), std::move(merged));
    jobs_.erase(job->request.id);
  }

  // Takes a part out of whatever queue it is in. A running stream's
  // progress goes to `partial` when given.
  void detach(Part* p, std::optional<GenerateResult>* partial) {
    switch (p->state) {
      case Part::State::queued:
        ready_.erase(std::remove(ready_.begin(), ready_.end(), p), ready_.end());
        break;
      case Part::State::waiting:
        waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), p), waiting_.end());
        break;
      case Part::State::running:
        if (partial != nullptr && p->transfer->acc) {
          *partial = p->transfer->acc->result(FinishReason::cancelled, "cancelled");
        }
        release(p->transfer);
        break;
      case Part::State::done:
        break;
    }
    p->state = Part::State::done;
  }

  void fail_job(Job* job, const Error& error) {
    for (auto& p : job->parts) detach(p.get(), nullptr);
    outbox_.emplace_back(std::move(job->done), error.with_context("request " + job->request.id));
    jobs_.erase(job->request.id);
  }

  void cancel_job(const std::string& id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    Job* job = it->second.get();
    GenerateResult merged;
    merged.request_id = id;
    merged.model = job->request.model.empty() ? cfg_.model : job->request.model;
    merged.attempts = 0;
    bool produced = false;
    for (auto& p : job->parts) {
      std::optional<GenerateResult> part_result;
      if (p->result) {
        part_result = std::move(p->result);
      } else {
        detach(p.get(), &part_result);
      }
      merged.attempts = std::max(merged.attempts, p->attempts);
      if (part_result) {
        for (const auto& c : part_result->choices) {
          if (!c.text.empty() || c.finish != FinishReason::cancelled) produced = true;
        }
        if (merged.prompt_token_ids.empty()) merged.prompt_token_ids = part_result->prompt_token_ids;
        merged.usage.prompt_tokens += part_result->usage.prompt_tokens;
        merged.usage.completion_tokens += part_result->usage.completion_tokens;
        merged.usage.cached_prompt_tokens += part_result->usage.cached_prompt_tokens;
        for (auto& c : part_result->choices) {
          c.index += p->offset;
          merged.choices.push_back(std::move(c));
        }
      } else {
        for (int i = 0; i < p->n; ++i) {
          Choice c;
          c.index = p->offset + i;
          c.finish = FinishReason::cancelled;
          c.error = "cancelled";
          merged.choices.push_back(std::move(c));
        }
      }
    }
    if (produced) {
      std::sort(merged.choices.begin(), merged.choices.end(),
                [](const Choice& a, const Choice& b) { return a.index < b.index; });
      merged.latency_ms = job->clock.elapsed_ms();
      outbox_.emplace_back(std::move(job->done), std::move(merged));
    } else {
      outbox_.emplace_back(std::move(job->done), Error{ErrorCode::cancelled, "request " + id + ": cancelled"});
    }
    jobs_.erase(it);
  }

  void flush_outbox() {
    while (!outbox_.empty()) {
      auto batch = std::move(outbox_);
      outbox_.clear();
      for (auto& [done, result] : batch) {
        if (!done) continue;
        try {
          done(std::move(result));
        } catch (const std::exception& e) {
          spdlog::error("http backend: callback threw: {}", e.what());
        } catch (...) {
          spdlog::error("http backend: callback threw");
        }
      }
    }
  }

  Config cfg_;
  wire::Api api_;
  std::string url_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::thread thread_;

  std::mutex mu_;  // guards the three fields below
  std::deque<std::unique_ptr<Job>> incoming_;
  std::vector<std::string> cancels_;
  bool stopping_ = false;
  bool closed_ = false;  // the loop has ended; submit() answers itself

  // Owned by the loop thread.
  std::unordered_map<std::string, std::unique_ptr<Job>> jobs_;
  std::deque<Part*> ready_;
  std::vector<Part*> waiting_;
  int running_ = 0;
  std::vector<std::unique_ptr<Transfer>> free_;
  std::vector<std::pair<GenerateCallback, Result<GenerateResult>>> outbox_;
  std::mt19937_64 rng_;
};

Result<std::unique_ptr<HttpBackend>> HttpBackend::create(Config config) {
  auto bad = [](const std::string& msg) { return Error{ErrorCode::invalid_argument, "http backend: " + msg}; };
  std::string url = config.base_url;
  if (!(url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)) {
    return bad("base_url: expected an http:// or https:// URL, got \"" + url + "\"");
  }
  if (url.find("://") + 3 >= url.size() || url[url.find("://") + 3] == '/') {
    return bad("base_url: no host in \"" + url + "\"");
  }
  auto api = wire::api_from_string(config.api);
  if (!api) return bad("api: expected \"chat\" or \"completions\", got \"" + config.api + "\"");
  if (config.max_in_flight < 1) return bad("max_in_flight: must be at least 1");
  if (config.max_retries < 0) return bad("max_retries: must not be negative");
  if (config.backoff_ms < 0) return bad("backoff_ms: must not be negative");
  if (config.backoff_max_ms < config.backoff_ms) return bad("backoff_max_ms: must be at least backoff_ms");
  if (!(config.timeout_s > 0)) return bad("timeout_s: must be positive");
  if (!(config.connect_timeout_s > 0)) return bad("connect_timeout_s: must be positive");
  if (config.on_unsupported != "emulate" && config.on_unsupported != "refuse") {
    return bad("on_unsupported: expected \"emulate\" or \"refuse\", got \"" + config.on_unsupported + "\"");
  }
  for (const auto& name : config.unsupported) {
    if (!http::is_known_parameter(name)) {
      std::string known;
      for (const auto& k : http::known_parameters()) known += (known.empty() ? "" : ", ") + k;
      return bad("unsupported: unknown parameter \"" + name + "\" (known: " + known + ")");
    }
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  std::string path = wire::endpoint_path(*api);
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) path = path.substr(3);
  url += path;

  auto impl = std::make_unique<Impl>(std::move(config), *api, std::move(url));
  auto st = impl->start();
  if (!st.ok()) return st.error();
  return std::unique_ptr<HttpBackend>(new HttpBackend(std::move(impl)));
}

HttpBackend::HttpBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpBackend::~HttpBackend() = default;

void HttpBackend::submit(GenerateRequest request, GenerateCallback done) {
  impl_->submit(std::move(request), std::move(done));
}

void HttpBackend::cancel(const std::string& request_id) { impl_->cancel(request_id); }

BackendInfo HttpBackend::info() const { return BackendInfo{"http", impl_->config().model, impl_->url()}; }

const HttpBackend::Config& HttpBackend::config() const { return impl_->config(); }

}  // namespace troupe::engine
