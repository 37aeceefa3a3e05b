// A fixed set of worker threads for data-parallel loops inside one compute
// op. parallel_for(n, fn) splits [0, n) into one contiguous range per thread
// (thread t gets [t*n/T, (t+1)*n/T)), runs range 0 on the calling thread
// and the others on the workers, and returns when all are done. The split
// depends only on n and the thread count, so results that are computed per
// index never depend on timing. One parallel_for at a time per pool (it is
// not re-entrant; the kernels object owning it runs one op at a time).
// `fn` must not throw.
//
// Waking: a decode step runs a hundred or more parallel_for calls a few
// microseconds apart, so idle workers first spin (with a pause instruction;
// after 20 µs also yielding the core to other runnable threads) for up to
// `spin` (default 200 µs) watching for the next job, and only then park on a
// condition variable; the caller spins likewise while waiting for the
// workers to finish. A pool left idle therefore costs no CPU after the
// spin window.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace troupe::engine::local {

class ThreadPool {
 public:
  // threads >= 1 counts the caller: threads - 1 workers are started.
  explicit ThreadPool(int threads, std::chrono::microseconds spin = std::chrono::microseconds(200));
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  // fn(begin, end, thread_index) for each non-empty range.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int index);

  int threads_;
  std::chrono::microseconds spin_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;  // written before generation_ is bumped
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) for each job
  std::atomic<int> pending_{0};          // workers still running the current job
  int sleepers_ = 0;                     // workers parked on start_cv_ (under mu_)
  bool caller_parked_ = false;           // the caller waits on done_cv_ (under mu_)
  bool stop_ = false;                    // under mu_
};

}  // namespace troupe::engine::local
