#include "engine/local/thread_pool.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace troupe::engine::local {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

using Clock = std::chrono::steady_clock;

// Spins until pred() holds or `limit` has passed; true when pred() held.
// After the first 20 µs each round also yields the core, so that on an
// oversubscribed machine the thread being waited for can run.
template <class Pred>
bool spin_until(Pred pred, std::chrono::microseconds limit) {
  if (limit.count() <= 0) return pred();
  const auto start = Clock::now();
  const auto polite = start + std::min(limit, std::chrono::microseconds(20)), deadline = start + limit;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    const auto now = Clock::now();
    if (now >= deadline) return pred();
    if (now >= polite) std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads, std::chrono::microseconds spin) : threads_(threads < 1 ? 1 : threads), spin_(spin) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (threads_ == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    pending_.store(threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleepers_ > 0;
  }
  if (wake) start_cv_.notify_all();
  const int64_t end0 = n / threads_;
  if (end0 > 0) fn(0, end0, 0);
  if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; }, spin_)) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_parked_ = true;
    done_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    caller_parked_ = false;
  }
  job_ = nullptr;
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    const auto fresh = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(fresh, spin_)) {
      std::unique_lock<std::mutex> lock(mu_);
      ++sleepers_;
      start_cv_.wait(lock, fresh);
      --sleepers_;
    }
    const std::function<void(int64_t, int64_t, int)>* job;
    int64_t n;
    {
      // The job fields were written under mu_ before the generation bump;
      // reading them under mu_ keeps that ordering visible to TSan too.
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      job = job_;
      n = job_n_;
    }
    const int64_t begin = n * index / threads_, end = n * (index + 1) / threads_;
    if (end > begin) (*job)(begin, end, index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      if (caller_parked_) done_cv_.notify_one();
    }
  }
}

}  // namespace troupe::engine::local
