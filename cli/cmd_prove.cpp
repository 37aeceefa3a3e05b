// troupe prove [--in FILE.jsonl] [--out FILE.jsonl] [--cpu-limit S] [--jobs J]
//
// Decides FOL problems with the E prover, one JSON object per line:
//   in:  {"id": ..., "premises": [FOL, ...], "conclusion": FOL}   (either syntax)
//   out: {"id", "label", "szs": [for C, for ¬C], "error", "ms"} (+ "notes")
// in input order. A line that is not such an object, or whose FOL does not
// parse, still gets its output line, with label "Error" and the reason.
// Exit code 0 when every line was answered (whatever the labels), 1 when
// eprover or a file is missing, 2 for bad options.
#include <simdjson.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

#include "cli/commands.hpp"
#include "common/clock.hpp"
#include "common/json_writer.hpp"
#include "prover_bridge/prover.hpp"
#include "prover_bridge/result_json.hpp"
#include "workflows/inputs.hpp"

namespace troupe::cli {
namespace {

struct ProveArgs {
  std::string in = "-";
  std::string out = "-";
  double cpu_limit = 10;
  double timeout = 0;
  int jobs = 0;
  std::string eprover = "eprover";
  bool tptp = false;
};

// One input line as a problem, or why it is not one.
Result<prover::Problem> read_problem(simdjson::dom::parser& parser, const std::string& line, std::string& raw_id) {
  simdjson::dom::element doc;
  if (auto err = parser.parse(line).get(doc))
    return Error{ErrorCode::parse, std::string("not valid JSON (") + simdjson::error_message(err) + ")"};
  if (!doc.is_object()) return Error{ErrorCode::parse, "expected a JSON object with \"premises\" and \"conclusion\""};
  simdjson::dom::element id;
  if (!doc["id"].get(id) && (id.is_string() || id.is_number())) raw_id = simdjson::minify(id);
  prover::Problem p;
  simdjson::dom::array premises;
  if (doc["premises"].get(premises)) return Error{ErrorCode::parse, "missing \"premises\" (a list of FOL formulas)"};
  for (auto x : premises) {
    std::string_view s;
    if (x.get(s)) return Error{ErrorCode::parse, "\"premises\" must hold strings"};
    p.premises.emplace_back(s);
  }
  std::string_view c;
  if (doc["conclusion"].get(c)) return Error{ErrorCode::parse, "missing \"conclusion\" (a FOL formula)"};
  p.conclusion = std::string(c);
  return p;
}

int prove(const ProveArgs& a) {
  if (a.jobs < 0) {
    print_error("prove: --jobs must be at least 0");
    return 2;
  }
  if (!(a.cpu_limit > 0)) {
    print_error("prove: --cpu-limit must be positive");
    return 2;
  }
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (a.in != "-") {
    in_file.open(a.in, std::ios::binary);
    if (!in_file) {
      print_error("prove: cannot open input file " + a.in);
      return 1;
    }
    in = &in_file;
  }
  std::ofstream out_file;
  std::ostream* out = &std::cout;
  if (a.out != "-") {
    out_file.open(a.out, std::ios::binary | std::ios::trunc);
    if (!out_file) {
      print_error("prove: cannot open output file " + a.out);
      return 1;
    }
    out = &out_file;
  }
  prover::ProverOptions options;
  options.eprover = a.eprover;
  options.cpu_limit_s = a.cpu_limit;
  options.timeout_s = a.timeout;
  options.jobs = a.jobs;
  auto created = prover::Prover::create(options);
  if (!created.ok()) {
    print_error("prove: " + created.error().message);
    return 1;
  }
  std::shared_ptr<prover::Prover> prover = *created;

  // Results come back in any order; lines go out in input order. At most
  // `window` problems are read ahead, so a large file is never held whole.
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, std::string> ready;
  int64_t next_out = 0, submitted = 0;
  const int64_t window = 4 * static_cast<int64_t>(prover->options().jobs);
  std::map<std::string, int64_t> counts;
  int64_t unparsable = 0;
  auto flush = [&](std::unique_lock<std::mutex>&) {
    for (auto it = ready.find(next_out); it != ready.end(); it = ready.find(next_out)) {
      *out << it->second << '\n';
      ready.erase(it);
      ++next_out;
    }
    out->flush();
  };
  Stopwatch clock;
  simdjson::dom::parser parser;
  // Lines are capped (a runaway line is an Error result, not 1 GB of
  // memory) and a leading byte-order mark is dropped: workflows/inputs.hpp.
  workflows::LineReader lines(*in, a.in == "-" ? "stdin" : a.in);
  for (;;) {
    auto next = lines.next();
    if (next.ok() && !*next) break;
    int64_t line_no = lines.line_no();
    std::string line = next.ok() ? std::move(**next) : std::string();
    if (next.ok() && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string raw_id = std::to_string(line_no);
    Result<prover::Problem> problem = next.ok() ? read_problem(parser, line, raw_id) : Result<prover::Problem>(next.error());
    int64_t index = submitted++;
    if (!problem.ok()) {
      prover::ProofResult r;
      r.label = "Error";
      r.error = "input line " + std::to_string(line_no) + ": " + problem.error().message;
      std::unique_lock<std::mutex> lock(mu);
      counts["Error"] += 1;
      ready[index] = prover::proof_json(r, raw_id, a.tptp);
      flush(lock);
      continue;
    }
    prover->submit(std::move(problem.value()), [&, index, raw_id](prover::ProofResult r) {
      std::lock_guard<std::mutex> lock(mu);
      counts[r.label] += 1;
      if (r.error.rfind("parse: ", 0) == 0) ++unparsable;
      ready[index] = prover::proof_json(r, raw_id, a.tptp);
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      flush(lock);
      if (submitted - next_out < window) break;
      cv.wait(lock);
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      flush(lock);
      if (next_out == submitted) break;
      cv.wait(lock);
    }
  }
  prover.reset();
  if (!*out) {
    print_error("prove: writing the output failed");
    return 1;
  }
  std::fprintf(stderr, "troupe prove: %lld problems: True %lld, False %lld, Uncertain %lld, Error %lld (%lld did not parse) in %.2f s\n",
               static_cast<long long>(submitted), static_cast<long long>(counts["True"]),
               static_cast<long long>(counts["False"]), static_cast<long long>(counts["Uncertain"]),
               static_cast<long long>(counts["Error"]), static_cast<long long>(unparsable), clock.elapsed_s());
  return 0;
}

}  // namespace

void add_prove_command(CLI::App& app, Action& run) {
  auto args = std::make_shared<ProveArgs>();
  auto* cmd = app.add_subcommand("prove", "Decide FOL problems (JSONL) with the E prover, LINC's way");
  cmd->add_option("--in", args->in, "Input JSONL: {\"id\", \"premises\": [FOL...], \"conclusion\": FOL} per line (- = stdin)");
  cmd->add_option("--out", args->out, "Output JSONL: {\"id\", \"label\", \"szs\", \"error\", \"ms\"} per line (- = stdout)");
  cmd->add_option("--cpu-limit", args->cpu_limit, "E's CPU limit per call, seconds (LINC: 10)")->capture_default_str();
  cmd->add_option("--jobs", args->jobs, "Problems decided at once, two E processes each (0 = cores / 2)")->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "Wall-clock limit per call before E is killed (0 = 2 x cpu limit + 2 s)");
  cmd->add_option("--prover", args->eprover, "The eprover program")->capture_default_str();
  cmd->add_flag("--tptp", args->tptp, "Add the TPTP text sent to E to each output line");
  cmd->callback([args, &run] { run = [args] { return prove(*args); }; });
}

}  // namespace troupe::cli
