// The prover bridge's front door: decide a problem (FOL premises and a
// conclusion, in either syntax) with the E prover and name LINC's label.
//
// decide() parses and converts the problem (tptp.hpp), then runs
//   eprover --auto --tptp3-format -s --cpu-limit=N -
// twice at the same time, fed through stdin: premises ⊢ C and premises ⊢ ¬C
// (no temporary files). LINC's rule gives the label: C proved -> "True";
// else ¬C proved -> "False"; else "Uncertain". A parse error, or a call
// that has no usable answer (E rejected the input, crashed, printed
// garbage, or hung and was killed at the wall-clock limit) -> "Error", with
// the reason in `error`; a call whose answer cannot change the label (¬C
// after C was proved) does not make it an Error. ContradictoryAxioms counts
// as proved, as a proof from inconsistent premises does for Prover9 (and so
// for LINC); `szs` keeps the honest detail.
//
// A Problem marked `repair` (model output: LINC's translations) first goes
// through repair_formulas() (fol_repair.hpp): slips with one clear reading
// are repaired and listed in `repairs`, with the formulas as decided in
// `repaired`; a slip without one is an Error saying why it was not
// repaired. A problem that needs no repair is decided exactly as unmarked.
//
// What callers may rely on:
// - Prover::create() fails with a clear message (ErrorCode::not_found, how
//   to install E) when the eprover program cannot be run; nothing else
//   checks this later.
// - submit() never blocks: it queues the problem and calls `done` exactly
//   once, on one of the Prover's own threads, at most `jobs` problems (2 ×
//   jobs E processes) at a time. Safe to call from any thread.
// - Every child is reaped before its problem's `done` runs; none outlives
//   the Prover. The destructor waits for running problems (bounded by the
//   timeout) and answers queued ones with label Error "prover shut down".
#pragma once

#include <array>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "prover_bridge/fol_repair.hpp"

namespace troupe::prover {

struct ProverOptions {
  std::string eprover = "eprover";  // path or name on PATH
  double cpu_limit_s = 2;           // E's --cpu-limit, per call (rounded up to whole seconds, at least 1)
  double timeout_s = 0;             // wall-clock kill per call; 0 = 2 × cpu limit + 2 s
  int jobs = 0;                     // problems at once; 0 = max(1, cores / 2)
};

struct Problem {
  std::vector<std::string> premises;  // FOL, NLTK or FOLIO syntax
  std::string conclusion;
  bool repair = false;                // model output: apply fol_repair.hpp first
};

struct ProofResult {
  std::string label;                // True | False | Uncertain | Error
  std::array<std::string, 2> szs;   // for C and for ¬C ("" = not run: the problem did not parse)
  std::string error;                // why the label is Error ("" otherwise)
  std::vector<std::string> notes;   // symbols kept apart, free variables closed
  std::vector<Repair> repairs;      // what repair_formulas() changed (Problem::repair only)
  Problem repaired;                 // the formulas decided, when `repairs` is not empty
  std::string tptp;                 // premises and conjecture as sent to E ("" on a parse error)
  double ms = 0;                    // wall time of the whole decision
  double cpu_ms = 0;                // CPU time the prover calls used, both together
};

// The E command line for one call (reading the problem from stdin).
std::vector<std::string> eprover_args(double cpu_limit_s);

// Runs `eprover --version`: its first line, or a clear error.
Result<std::string> check_eprover(const std::string& path);

// Synchronous, on the calling thread.
ProofResult decide(const Problem& problem, const ProverOptions& options);

class Prover {
 public:
  using Done = std::function<void(ProofResult)>;

  static Result<std::shared_ptr<Prover>> create(ProverOptions options);
  ~Prover();
  Prover(const Prover&) = delete;
  Prover& operator=(const Prover&) = delete;

  void submit(Problem problem, Done done);
  const ProverOptions& options() const { return options_; }
  const std::string& version() const { return version_; }

 private:
  Prover(ProverOptions options, std::string version);
  void work();

  struct Task {
    Problem problem;
    Done done;
  };
  ProverOptions options_;
  std::string version_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace troupe::prover
