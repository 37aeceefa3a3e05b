#include "daemon/event_hub.hpp"

#include <algorithm>

#include "common/json_writer.hpp"

namespace troupe::daemon {

std::string step_event_json(const memory::StepRecord& s, int64_t committed_us) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("run_id", s.run_id).field("seq", static_cast<unsigned long long>(s.seq));
  w.field("role", s.role).field("kind", s.kind).key("parents").begin_array();
  for (uint64_t p : s.parents) w.value(static_cast<unsigned long long>(p));
  w.end_array();
  w.field("completion", s.completion).field("answer", s.answer);
  w.key("verdict");
  if (s.verdict) w.value(*s.verdict);
  else w.null();
  w.field("prompt_tokens", static_cast<long long>(s.prompt_tokens))
      .field("completion_tokens", static_cast<long long>(s.completion_tokens))
      .field("finish_reason", s.finish_reason)
      .field("latency_ms", s.latency_ms)
      .field("backend", s.backend)
      .field("created_ms", static_cast<long long>(s.created_ms));
  if (committed_us > 0) w.field("committed_us", static_cast<long long>(committed_us));
  w.end_object();
  return out;
}

std::string end_event_json(const memory::RunRecord& r, uint64_t steps) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("run_id", r.id)
      .field("status", memory::to_string(r.status))
      .field("answer", r.answer)
      .field("error", r.error)
      .field("steps", static_cast<unsigned long long>(steps))
      .end_object();
  return out;
}

std::string run_status_event_json(const std::string& run_id, std::string_view status) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("run_id", run_id).field("status", status).end_object();
  return out;
}

std::vector<RunEvent> Subscription::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
  std::vector<RunEvent> out(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

void Subscription::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool Subscription::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void Subscription::push(RunEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(e));
  }
  cv_.notify_all();
}

std::shared_ptr<Subscription> EventHub::subscribe(const std::string& run_id) {
  auto sub = std::make_shared<Subscription>();
  std::lock_guard<std::mutex> lock(mu_);
  subs_[run_id].push_back(sub);
  return sub;
}

void EventHub::unsubscribe(const std::string& run_id, const std::shared_ptr<Subscription>& sub) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subs_.find(run_id);
  if (it == subs_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), sub), v.end());
  if (v.empty()) subs_.erase(it);
}

bool EventHub::watched(const std::string& run_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return subs_.count(run_id) > 0;
}

void EventHub::publish(const std::string& run_id, const RunEvent& event) {
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subs_.find(run_id);
    if (it == subs_.end()) return;
    targets = it->second;
  }
  for (auto& s : targets) s->push(event);
}

void EventHub::close_all() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, v] : subs_)
    for (auto& s : v) s->close();
}

size_t EventHub::subscriptions() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [id, v] : subs_) n += v.size();
  return n;
}

}  // namespace troupe::daemon
