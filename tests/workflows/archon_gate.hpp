// A Backend wrapper for the Archon tests: it passes requests to an inner
// backend but holds the replies back until `batch` of them are waiting,
// then delivers them together, logging "ask <label>" when a request
// arrives and "reply <label>" when its reply is delivered. A pipeline
// that issues a layer's calls one at a time never fills the batch; the
// gate then gives up after `patience` and delivers what it holds, so the
// log shows the interleaving instead of the test hanging.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.hpp"

namespace troupe::testing {

class GateBackend : public engine::Backend {
 public:
  // `label` names a request in the log (e.g. its role, read from the prompt).
  GateBackend(std::shared_ptr<engine::Backend> inner, std::vector<size_t> batches,
              std::function<std::string(const engine::GenerateRequest&)> label,
              std::chrono::milliseconds patience = std::chrono::milliseconds(3000))
      : inner_(std::move(inner)), batches_(std::move(batches)), label_(std::move(label)), patience_(patience) {
    watchdog_ = std::thread([this] { watch(); });
  }
  ~GateBackend() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    watchdog_.join();
  }

  void submit(engine::GenerateRequest r, engine::GenerateCallback done) override {
    std::string name = label_(r);
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back("ask " + name);
    }
    inner_->submit(std::move(r), [this, name, done](Result<engine::GenerateResult> result) {
      std::vector<Held> release;
      {
        std::lock_guard<std::mutex> lock(mu_);
        held_.push_back({name, done, std::move(result)});
        size_t want = batch_ < batches_.size() ? batches_[batch_] : 1;
        if (held_.size() >= want) {
          release.swap(held_);
          ++batch_;
        } else {
          since_ = std::chrono::steady_clock::now();
        }
      }
      deliver(release);
      cv_.notify_all();
    });
  }
  void cancel(const std::string& id) override { inner_->cancel(id); }
  engine::BackendInfo info() const override { return inner_->info(); }

  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

 private:
  struct Held {
    std::string name;
    engine::GenerateCallback done;
    Result<engine::GenerateResult> result;
  };

  void deliver(std::vector<Held>& release) {
    for (auto& h : release) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        log_.push_back("reply " + h.name);
      }
      h.done(std::move(h.result));
    }
  }

  void watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (held_.empty() || std::chrono::steady_clock::now() - since_ < patience_) continue;
      std::vector<Held> release;
      release.swap(held_);
      ++batch_;
      lock.unlock();
      deliver(release);
      lock.lock();
    }
  }

  std::shared_ptr<engine::Backend> inner_;
  std::vector<size_t> batches_;
  std::function<std::string(const engine::GenerateRequest&)> label_;
  std::chrono::milliseconds patience_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> log_;
  std::vector<Held> held_;
  size_t batch_ = 0;
  std::chrono::steady_clock::time_point since_;
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace troupe::testing
