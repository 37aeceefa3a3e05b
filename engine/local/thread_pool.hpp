// A fixed set of worker threads for data-parallel loops inside one compute
// op. parallel_for(n, fn) splits [0, n) into one contiguous range per thread
// (thread t gets [t*n/T, (t+1)*n/T)), runs range 0 on the calling thread
// and the others on the workers, and returns when all are done. The split
// depends only on n and the thread count, so results that are computed per
// index never depend on timing. One parallel_for at a time per pool (it is
// not re-entrant; the kernels object owning it runs one op at a time).
// `fn` must not throw.
#pragma once

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
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  // fn(begin, end, thread_index) for each non-empty range.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int index);

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace troupe::engine::local
