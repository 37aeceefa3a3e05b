#include "actors/run_cancellation.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <set>

namespace troupe::actors {
namespace {

constexpr size_t kRememberedStops = 4096;

struct Registry {
  std::mutex mu;
  std::map<std::string, std::weak_ptr<std::atomic<bool>>> flags;
  std::set<std::string> stopped;
  std::deque<std::string> stopped_order;  // oldest first, for the bound
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: tool threads may outlive static destruction
  return *r;
}

void prune(Registry& r) {
  for (auto it = r.flags.begin(); it != r.flags.end();) {
    if (it->second.expired()) it = r.flags.erase(it);
    else ++it;
  }
}

}  // namespace

CancelFlag run_cancel_flag(const std::string& run_id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& slot = r.flags[run_id];
  if (auto held = slot.lock()) return held;
  auto flag = std::make_shared<std::atomic<bool>>(r.stopped.count(run_id) > 0);
  slot = flag;
  // Forget unheld flags now and then (when the map size is a power of two).
  size_t n = r.flags.size();
  if (n >= 64 && (n & (n - 1)) == 0) prune(r);
  return flag;
}

void stop_run_tools(const std::string& run_id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.stopped.insert(run_id).second) {
    r.stopped_order.push_back(run_id);
    if (r.stopped_order.size() > kRememberedStops) {
      r.stopped.erase(r.stopped_order.front());
      r.stopped_order.pop_front();
    }
  }
  auto it = r.flags.find(run_id);
  if (it == r.flags.end()) return;
  if (auto held = it->second.lock()) held->store(true);
  else r.flags.erase(it);
}

}  // namespace troupe::actors
