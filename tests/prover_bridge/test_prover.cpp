// The E driver: LINC's label rule on real E answers, a missing prover, and
// provers that hang, crash or print garbage (fake "eprover" scripts), the
// concurrency bound, and no files left behind.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "prover_bridge/linc_text.hpp"
#include "prover_bridge/prover.hpp"
#include "prover_bridge/result_json.hpp"
#include "process/subprocess.hpp"
#include "scratch_dir.hpp"

using namespace troupe::prover;
using TempDir = troupe::testing::ScratchDir;

namespace {

bool have_eprover() {
  static bool ok = check_eprover("eprover").ok();
  return ok;
}

#define REQUIRE_EPROVER()                                                   \
  if (!have_eprover()) {                                                    \
    WARN("eprover not installed: skipped (sudo apt-get install eprover)"); \
    return;                                                                 \
  }

// A fake prover: answers --version like E, then runs `body` (sh).
std::string fake_prover(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.file(name);
  std::ofstream(path) << "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'E 2.6 fake'; exit 0; fi\n" << body << "\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

ProverOptions fast(std::string path = "eprover") {
  ProverOptions o;
  o.eprover = std::move(path);
  o.cpu_limit_s = 1;
  o.timeout_s = 0;
  o.jobs = 2;
  return o;
}

Problem tweety(std::string conclusion) {
  return {{"all x. (Bird(x) & -Injured(x) -> Flies(x))", "Bird(Tweety)", "-Injured(Tweety)", "Penguin(Pingu)"},
          std::move(conclusion)};
}

// Alive and not a zombie (an orphan killed with its group may wait a while
// for init to reap it; it no longer runs).
bool process_exists(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  return close != std::string::npos && close + 2 < all.size() && all[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("LINC's rule on E: proved -> True, negation proved -> False, neither -> Uncertain", "[prover][eprover]") {
  REQUIRE_EPROVER();
  auto t = decide(tweety("Flies(Tweety)"), fast());
  CHECK(t.label == "True");
  CHECK(t.szs[0] == "Theorem");
  CHECK(t.error.empty());
  auto f = decide(tweety("-Flies(Tweety)"), fast());
  CHECK(f.label == "False");
  CHECK(f.szs == std::array<std::string, 2>{"CounterSatisfiable", "Theorem"});
  auto u = decide(tweety("Flies(Pingu)"), fast());
  CHECK(u.label == "Uncertain");
  CHECK(u.szs == std::array<std::string, 2>{"CounterSatisfiable", "CounterSatisfiable"});
  CHECK(u.tptp.find("fof(goal, conjecture, flies(pingu))") != std::string::npos);
}

TEST_CASE("contradictory premises keep their SZS detail and count as proved, as for Prover9", "[prover][eprover]") {
  REQUIRE_EPROVER();
  auto r = decide({{"Bird(Tweety)", "-Bird(Tweety)"}, "Flies(Tweety)"}, fast());
  CHECK(r.szs[0] == "ContradictoryAxioms");
  CHECK(r.label == "True");
}

TEST_CASE("a problem that does not parse is Error with the position, and E is not run", "[prover]") {
  auto r = decide({{"all x. (P(x) -> Q(x)"}, "Q(a)"}, fast("/nonexistent/eprover"));
  CHECK(r.label == "Error");
  CHECK(r.error == "parse: premise 1: column 21: expected ')' to close the '(' at column 8, found end of input");
  CHECK(r.szs == std::array<std::string, 2>{"", ""});
  std::string json = proof_json(r, "7");
  CHECK(json.rfind("{\"id\":7,\"label\":\"Error\",\"szs\":[null,null],\"error\":\"parse: premise 1: column 21: "
                   "expected ')' to close the '(' at column 8, found end of input\",\"ms\":", 0) == 0);
}

TEST_CASE("a missing eprover is a clear error at start that says how to install it", "[prover]") {
  auto p = Prover::create(fast("/nonexistent/eprover"));
  REQUIRE(!p.ok());
  CHECK(p.error().code == troupe::ErrorCode::not_found);
  CHECK(p.error().message.find("'/nonexistent/eprover' was not found") != std::string::npos);
  CHECK(p.error().message.find("apt-get install eprover") != std::string::npos);
  TempDir dir;
  auto not_e = fake_prover(dir, "not-e", "exit 0");
  std::ofstream(not_e) << "#!/bin/sh\necho 'Vampire 4.8'\n";
  auto q = Prover::create(fast(not_e));
  REQUIRE(!q.ok());
  CHECK(q.error().message.find("does not look like the E prover") != std::string::npos);
}

TEST_CASE("a prover that hangs is killed and reaped at the deadline, with its children", "[prover][fake]") {
  TempDir dir;
  std::string pids = dir.file("pids");
  auto hang = fake_prover(dir, "hang", "sleep 30 & echo $$ $! >> " + pids + "\nwait");
  ProverOptions o = fast(hang);
  o.timeout_s = 1;
  auto r = decide(tweety("Flies(Tweety)"), o);
  CHECK(r.label == "Error");
  CHECK(r.szs == std::array<std::string, 2>{"Timeout", "Timeout"});
  CHECK(r.error == "prover (premises ⊢ C): the prover did not finish within 1 s and was killed");
  CHECK(r.ms < 5000);
  std::ifstream in(pids);
  int n = 0;
  pid_t shell, sleeper;
  while (in >> shell >> sleeper) {
    ++n;
    CHECK_FALSE(process_exists(shell));  // our child: reaped before decide() returned
    // Its child got SIGKILL with the group; the kernel finishes it
    // asynchronously, so allow it a moment to go.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (process_exists(sleeper) && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    CHECK_FALSE(process_exists(sleeper));
  }
  CHECK(n == 2);
}

TEST_CASE("a prover that crashes or prints garbage gives Error with the reason", "[prover][fake]") {
  TempDir dir;
  auto crash = fake_prover(dir, "crash", "cat >/dev/null; kill -SEGV $$");
  auto r = decide(tweety("Flies(Tweety)"), fast(crash));
  CHECK(r.label == "Error");
  CHECK(r.szs[0] == "Error");
  CHECK(r.error == "prover (premises ⊢ C): the prover crashed (signal 11)");

  auto garbage = fake_prover(dir, "garbage", "head -c 3000000 /dev/urandom | tr -d '\\n#'; echo; exit 0");
  auto g = decide(tweety("Flies(Tweety)"), fast(garbage));
  CHECK(g.label == "Error");
  CHECK(g.error.find("no SZS status in the prover's output (exit code 0)") != std::string::npos);

  auto weird = fake_prover(dir, "weird", "echo '# SZS status Banana'");
  auto w = decide(tweety("Flies(Tweety)"), fast(weird));
  CHECK(w.label == "Error");
  CHECK(w.error == "prover (premises ⊢ C): unknown SZS status 'Banana' in the prover's output");

  auto rejects = fake_prover(dir, "rejects", "cat >/dev/null; echo 'eprover: <stdin>:1:(Column 3): Closing bracket expected' >&2; exit 3");
  auto x = decide(tweety("Flies(Tweety)"), fast(rejects));
  CHECK(x.label == "Error");
  CHECK(x.szs[0] == "InputError");
  CHECK(x.error == "prover (premises ⊢ C): the prover rejected its input: eprover: <stdin>:1:(Column 3): Closing bracket expected");
}

TEST_CASE("the ¬C call only matters when C is not proved", "[prover][fake]") {
  TempDir dir;
  // Proves C (its conjecture has no ~), crashes on ¬C.
  auto half = fake_prover(dir, "half", "if grep -q 'conjecture, ~' -; then kill -SEGV $$; fi; echo '# SZS status Theorem'");
  CHECK(decide(tweety("Flies(Tweety)"), fast(half)).label == "True");
  auto other = fake_prover(dir, "other", "if grep -q 'conjecture, ~' -; then kill -SEGV $$; fi; echo '# SZS status ResourceOut'");
  auto r = decide(tweety("Flies(Tweety)"), fast(other));
  CHECK(r.label == "Error");
  CHECK(r.error == "prover (premises ⊢ ¬C): the prover crashed (signal 11)");
}

TEST_CASE("a prover that exits without reading its input does not kill us (SIGPIPE)", "[prover][fake]") {
  TempDir dir;
  auto early = fake_prover(dir, "early", "echo '# SZS status GaveUp'; exit 9");
  Problem big = tweety("Flies(Tweety)");
  for (int i = 0; i < 20000; ++i) big.premises.push_back("P" + std::to_string(i) + "(A)");
  auto r = decide(big, fast(early));
  CHECK(r.label == "Uncertain");
  CHECK(r.szs == std::array<std::string, 2>{"GaveUp", "GaveUp"});
}

TEST_CASE("at most `jobs` problems, two prover processes each, run at once", "[prover][fake]") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("running"));
  std::string running = dir.file("running");
  std::string peak = dir.file("peak");
  auto counting = fake_prover(dir, "counting",
                              "touch " + running + "/$$; ls " + running + " | wc -l >> " + peak +
                                  "; sleep 0.5; rm " + running + "/$$; echo '# SZS status CounterSatisfiable'");
  ProverOptions o = fast(counting);
  o.jobs = 2;
  auto prover = Prover::create(o);
  REQUIRE(prover.ok());
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < 4; ++i)
    (*prover)->submit(tweety("Flies(Tweety)"), [&](ProofResult r) {
      std::lock_guard<std::mutex> lock(mu);
      CHECK(r.label == "Uncertain");
      ++done;
      cv.notify_all();
    });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == 4; });
  }
  std::ifstream in(peak);
  int n, max = 0, lines = 0;
  while (in >> n) {
    max = std::max(max, n);
    ++lines;
  }
  CHECK(lines == 8);
  CHECK(max <= 4);
  CHECK(max >= 2);  // the two calls of one problem run at the same time
}

TEST_CASE("no temporary files are left behind", "[prover][eprover]") {
  REQUIRE_EPROVER();
  TempDir dir;
  std::string old = getenv("TMPDIR") ? getenv("TMPDIR") : "";
  ::setenv("TMPDIR", dir.path().c_str(), 1);
  auto r = decide(tweety("Flies(Tweety)"), fast());
  auto u = decide({{"P(a) &"}, "P(a)"}, fast());
  if (old.empty()) ::unsetenv("TMPDIR");
  else ::setenv("TMPDIR", old.c_str(), 1);
  CHECK(r.label == "True");
  CHECK(u.label == "Error");
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("the destructor answers queued problems and waits for running ones", "[prover][fake]") {
  TempDir dir;
  auto slow = fake_prover(dir, "slow", "sleep 0.2; echo '# SZS status Theorem'");
  std::atomic<int> answered{0}, shut{0};
  {
    ProverOptions o = fast(slow);
    o.jobs = 1;
    auto prover = Prover::create(o);
    REQUIRE(prover.ok());
    for (int i = 0; i < 5; ++i)
      (*prover)->submit(tweety("Flies(Tweety)"), [&](ProofResult r) {
        ++answered;
        if (r.error.find("shut down") != std::string::npos) ++shut;
      });
  }
  CHECK(answered == 5);
  CHECK(shut >= 1);
}

TEST_CASE("LINC output lines: every FOL: line, the last one the conclusion", "[linc_text]") {
  auto p = extract_fol_lines("TEXT:\tAll birds fly.\nFOL:\tall x. (Bird(x) -> Flies(x))\nTEXT:\tTweety is a bird.\n"
                             "FOL:\tBird(Tweety)\nTEXT:\tTweety flies.\nFOL:\tFlies(Tweety)\n</EVALUATE>\nFOL: ignored");
  REQUIRE(p.ok());
  CHECK(p->premises == std::vector<std::string>{"all x. (Bird(x) -> Flies(x))", "Bird(Tweety)"});
  CHECK(p->conclusion == "Flies(Tweety)");
  auto none = extract_fol_lines("I think the answer is True.");
  REQUIRE(!none.ok());
  CHECK(none.error().message == "the translation has no 'FOL:' line");
  auto empty = extract_fol_lines("TEXT: a\nFOL:   \n");
  REQUIRE(!empty.ok());
  CHECK(empty.error().message == "translation line 2: 'FOL:' with no formula");
}
