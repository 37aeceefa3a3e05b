// Live run events for SSE clients. The run service publishes a step event
// after the step is committed to the store and an end event after the
// run's final record is committed; the hub hands each to the subscriptions
// of that run and keeps nothing else: a run nobody watches costs nothing,
// and catching up on past steps is read from the store (see http_api.cpp),
// so memory does not grow with the number of runs.
//
// Event ids: a step event's id is its step seq; the end event's id is the
// run's step count (one past the last seq). A subscription sees the events
// published after it was made, in publish order. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "memory/store.hpp"

namespace troupe::daemon {

struct RunEvent {
  uint64_t id = 0;
  std::string type;  // "step" | "end"
  std::string data;  // JSON
};

// JSON for a step event; committed_us (unix microseconds when the daemon saw
// the commit, for latency measurements) is left out when 0.
std::string step_event_json(const memory::StepRecord& step, int64_t committed_us);
// JSON for an end event.
std::string end_event_json(const memory::RunRecord& run, uint64_t steps);

// The key the run service publishes run status changes under, for the
// daemon-wide stream GET /v1/events (no run id is "*"): an event "run"
// with {"run_id","status"} when a run is queued (submitted), running
// (launched) and when it ends (its final status). Their ids count from 1
// per daemon process; nothing is kept for a later catch-up (a client lists
// GET /v1/runs after its stream is open).
inline constexpr const char* kAllRunsKey = "*";
std::string run_status_event_json(const std::string& run_id, std::string_view status);

class Subscription {
 public:
  // Waits up to `timeout` for events; returns those queued (possibly none).
  std::vector<RunEvent> wait(std::chrono::milliseconds timeout);
  // Ends waits now and later (the server is stopping or the client left).
  void close();
  bool closed() const;

 private:
  friend class EventHub;
  void push(RunEvent e);
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RunEvent> queue_;
  bool closed_ = false;
};

class EventHub {
 public:
  std::shared_ptr<Subscription> subscribe(const std::string& run_id);
  void unsubscribe(const std::string& run_id, const std::shared_ptr<Subscription>& sub);
  // True when someone watches the run (publishers may skip building events).
  bool watched(const std::string& run_id) const;
  void publish(const std::string& run_id, const RunEvent& event);
  // Closes every subscription (shutdown).
  void close_all();
  size_t subscriptions() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::shared_ptr<Subscription>>> subs_;
};

}  // namespace troupe::daemon
