// IAD's non-model verifiers (pipelines.md §3(a) step 2: "an oracle metric"
// or a tool such as unit tests): the exact-answer check and a shell
// command. Both are tool roles (actors/tool_role.hpp); see iad.hpp.
#include <cstdio>
#include <string>

#include "actors/run_cancellation.hpp"
#include "common/json_writer.hpp"
#include "process/subprocess.hpp"
#include "scoring/answer.hpp"
#include "workflows/iad/iad.hpp"

namespace troupe::workflows {
namespace {

std::string var(const actors::RoleTask& task, const char* name) {
  auto it = task.vars.find(name);
  return it == task.vars.end() ? std::string() : it->second;
}

actors::RoleOutput one_score(double score, double max_score, std::string json) {
  actors::RoleOutput out;
  actors::Candidate c;
  c.text = std::move(json);
  c.answer = iad_format_score(score);
  c.verdict = score >= max_score ? 1 : 0;
  c.finish = "stop";
  out.candidates.push_back(std::move(c));
  return out;
}

std::string clip(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

}  // namespace

std::string iad_format_score(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", score);
  return buf;
}

actors::RoleOutput iad_exact_check(const actors::RoleTask& task, double max_score) {
  std::string answer = var(task, "answer");
  std::string gold = var(task, "gold");
  bool match = !answer.empty() && scoring::answers_match(answer, gold);
  double score = match ? 1.0 : 0.0;
  std::string json;
  JsonWriter w(json);
  w.begin_object().field("verifier", "exact").field("answer", answer).field("gold", gold).field("match", match);
  w.field("score", score);
  if (answer.empty()) w.field("note", "the candidate has no final answer");
  w.end_object();
  return one_score(score, max_score, std::move(json));
}

process::Sandbox iad_command_sandbox(const IadParams& p) {
  process::Sandbox s;
  s.cpu_s = p.verifier_cpu_s;
  s.address_space_bytes = static_cast<uint64_t>(p.verifier_memory_mb) << 20;
  s.max_file_bytes = static_cast<uint64_t>(p.verifier_file_mb) << 20;
  s.max_processes = p.verifier_processes;
  return s;
}

actors::RoleOutput iad_command_check(const actors::RoleTask& task, const std::string& command, double timeout_s,
                                     double max_score, const process::Sandbox& sandbox) {
  process::ChildSpec spec;
  spec.program = "/bin/sh";
  spec.args = {"-c", command, "troupe-iad", var(task, "answer"), var(task, "gold"), var(task, "question")};
  spec.input = var(task, "solution");
  spec.timeout_s = timeout_s;
  spec.max_output = 64 * 1024;
  spec.sandbox = sandbox;
  actors::CancelFlag cancel = actors::run_cancel_flag(task.run_id);
  spec.cancel = cancel;
  // A run stopped while this task waited in the queue starts nothing.
  process::ChildResult r;
  if (cancel->load()) r.cancelled = true;
  else r = process::run_children({spec}).at(0);
  if (r.cancelled) {
    actors::RoleOutput out;
    out.ok = false;
    out.error_code = static_cast<int>(ErrorCode::cancelled);
    out.error = "verifier_command: stopped, the run was cancelled";
    return out;
  }
  if (!r.started) {
    actors::RoleOutput out;
    out.ok = false;
    out.error_code = static_cast<int>(ErrorCode::io);
    out.error = "verifier_command: " + r.start_error;
    return out;
  }
  // PASS/FAIL lines decide when there are any; else the exit status.
  int passed = 0, failed = 0;
  size_t start = 0;
  while (start < r.out.size()) {
    size_t end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    std::string line = r.out.substr(start, end - start);
    size_t a = line.find_first_not_of(" \t");
    if (a != std::string::npos) {
      if (line.compare(a, 4, "PASS") == 0) ++passed;
      else if (line.compare(a, 4, "FAIL") == 0) ++failed;
    }
    start = end + 1;
  }
  double score = 0;
  std::string note;
  if (r.timed_out) {
    note = "timed out after " + iad_format_score(timeout_s) + " s";
  } else if (passed + failed > 0) {
    score = static_cast<double>(passed) / (passed + failed);
  } else {
    score = r.exit_code == 0 ? 1.0 : 0.0;
    if (r.signal) note = "killed by signal " + std::to_string(r.signal);
  }
  std::string json;
  JsonWriter w(json);
  w.begin_object().field("verifier", "command").field("score", score).field("exit_code", r.exit_code);
  w.field("passed", passed).field("failed", failed).field("timed_out", r.timed_out);
  w.field("isolation", r.isolation);
  if (!note.empty()) w.field("note", note);
  w.field("stdout", clip(r.out, 2000)).field("stderr", clip(r.err, 2000)).end_object();
  return one_score(score, max_score, std::move(json));
}

}  // namespace troupe::workflows
