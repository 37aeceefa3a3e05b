// Reading the E prover's answer: the SZS status line, the exit code, and
// what went wrong when there is no status (formats.md §4.3).
//
// What callers may rely on: interpret_e() turns any child result (missing
// program, crash, kill at the deadline, garbage on stdout, a syntax error
// on stderr) into a CallOutcome and never fails. `szs` keeps the honest
// detail: the SZS word E printed (Theorem, CounterSatisfiable,
// ContradictoryAxioms, ResourceOut, GaveUp, ...), or InputError (E rejected
// the input, exit 3), Timeout (killed by us at the deadline) or Error (it
// could not start, crashed, or printed no status / an unknown one).
// `proved` is true for Theorem, ContradictoryAxioms and Unsatisfiable (what
// Prover9 would report as a proof); `error` is true when there is no usable
// answer, and `reason` then says why.
#pragma once

#include <string>

#include "process/subprocess.hpp"

namespace troupe::prover {

struct CallOutcome {
  std::string szs;
  bool proved = false;
  bool error = false;
  std::string reason;
  double ms = 0;      // wall time
  double cpu_ms = 0;  // the prover's user + system time
};

CallOutcome interpret_e(const process::ChildResult& r, double timeout_s);

}  // namespace troupe::prover
