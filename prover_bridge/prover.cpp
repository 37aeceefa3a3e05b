#include "prover_bridge/prover.hpp"

#include <chrono>
#include <cmath>

#include "process/subprocess.hpp"
#include "prover_bridge/szs.hpp"
#include "prover_bridge/tptp.hpp"

namespace troupe::prover {
namespace {

double call_timeout(const ProverOptions& o) { return o.timeout_s > 0 ? o.timeout_s : 2 * o.cpu_limit_s + 2; }

}  // namespace

std::vector<std::string> eprover_args(double cpu_limit_s) {
  long limit = std::max(1L, static_cast<long>(std::ceil(cpu_limit_s)));
  return {"--auto", "--tptp3-format", "-s", "--cpu-limit=" + std::to_string(limit), "-"};
}

Result<std::string> check_eprover(const std::string& path) {
  process::ChildSpec spec;
  spec.program = path;
  spec.args = {"--version"};
  spec.timeout_s = 10;
  auto r = process::run_children({spec});
  const process::ChildResult& c = r.at(0);
  const std::string install = "; install the E prover (Debian/Ubuntu: sudo apt-get install eprover) or give its path";
  if (!c.started) {
    if (c.start_errno == ENOENT || c.start_errno == EACCES)
      return Error{ErrorCode::not_found, "the E prover '" + path + "' was not found" + install};
    return Error{ErrorCode::io, c.start_error + install};
  }
  if (c.timed_out) return Error{ErrorCode::timeout, "'" + path + " --version' did not answer within 10 s"};
  std::string line = c.out.substr(0, c.out.find('\n'));
  if (c.exit_code != 0 || line.rfind("E ", 0) != 0)
    return Error{ErrorCode::invalid_argument, "'" + path + "' does not look like the E prover ('--version' printed '" +
                                                  line.substr(0, 80) + "', exit code " + std::to_string(c.exit_code) + ")"};
  return line;
}

ProofResult decide(const Problem& problem, const ProverOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  ProofResult res;
  auto elapsed = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
  const Problem* formulas = &problem;
  if (problem.repair) {
    auto repaired = repair_formulas(problem.premises, problem.conclusion);
    if (!repaired.ok()) {
      res.label = "Error";
      res.error = "parse: " + repaired.error().message;
      res.ms = elapsed();
      return res;
    }
    if (!repaired->repairs.empty()) {
      res.repairs = std::move(repaired->repairs);
      res.repaired.premises = std::move(repaired->premises);
      res.repaired.conclusion = std::move(repaired->conclusion);
      formulas = &res.repaired;
    }
  }
  auto tptp = translate(formulas->premises, formulas->conclusion);
  if (!tptp.ok()) {
    res.label = "Error";
    res.error = "parse: " + tptp.error().message;
    res.ms = elapsed();
    return res;
  }
  res.notes = tptp->notes;
  res.tptp = tptp->prove_text();
  double timeout = call_timeout(options);
  process::ChildSpec prove{options.eprover, eprover_args(options.cpu_limit_s), tptp->prove_text(), timeout};
  process::ChildSpec refute{options.eprover, eprover_args(options.cpu_limit_s), tptp->refute_text(), timeout};
  auto runs = process::run_children({prove, refute});
  CallOutcome c = interpret_e(runs[0], timeout);
  CallOutcome nc = interpret_e(runs[1], timeout);
  res.szs = {c.szs, nc.szs};
  res.cpu_ms = c.cpu_ms + nc.cpu_ms;
  // LINC §5(a) step 4 and step 5.
  if (c.error) {
    res.label = "Error";
    res.error = "prover (premises ⊢ C): " + c.reason;
  } else if (c.proved) {
    res.label = "True";
  } else if (nc.error) {
    res.label = "Error";
    res.error = "prover (premises ⊢ ¬C): " + nc.reason;
  } else if (nc.proved) {
    res.label = "False";
  } else {
    res.label = "Uncertain";
  }
  res.ms = elapsed();
  return res;
}

Result<std::shared_ptr<Prover>> Prover::create(ProverOptions options) {
  auto version = check_eprover(options.eprover);
  if (!version.ok()) return version.error();
  if (options.jobs <= 0) options.jobs = std::max(1u, std::thread::hardware_concurrency() / 2);
  if (options.cpu_limit_s <= 0)
    return Error{ErrorCode::invalid_argument, "the prover's CPU limit must be positive"};
  return std::shared_ptr<Prover>(new Prover(std::move(options), *version));
}

Prover::Prover(ProverOptions options, std::string version) : options_(std::move(options)), version_(std::move(version)) {
  for (int i = 0; i < options_.jobs; ++i) workers_.emplace_back([this] { work(); });
}

Prover::~Prover() {
  std::deque<Task> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& task : left) {
    ProofResult r;
    r.label = "Error";
    r.error = "prover shut down before this problem ran";
    task.done(std::move(r));
  }
}

void Prover::submit(Problem problem, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Task{std::move(problem), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  ProofResult r;
  r.label = "Error";
  r.error = "prover shut down";
  done(std::move(r));
}

void Prover::work() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    ProofResult r = decide(task.problem, options_);
    task.done(std::move(r));
  }
}

}  // namespace troupe::prover
