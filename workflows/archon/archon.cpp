// Archon (Saad-Falcon et al., arXiv 2409.15254), as specified in
// pipelines.md §4: layers of components over a shared state {candidates,
// critiques, unit_tests}. Beyond the reference code (§4(g)):
//  - every component of a layer runs at once (all of the layer's role calls
//    are issued before any returns); outputs merge in component order, so a
//    run is the same whatever order the replies arrive in;
//  - critiques are dropped when a layer rewrites the candidates, unless the
//    rewriting component carried them along (ranker, verifier and
//    unit-test evaluator filter or permute critiques with the candidates);
//  - the ranker's ordering is repaired instead of trusted;
//  - the unit-test generator leaves the question alone: the tests live in
//    the state and reach later generators through the {unit_tests}
//    template variable, built per call;
//  - the final choice among several candidates is seeded (seed + item id)
//    and recorded, where Archon calls random.choice.
// The orchestrator role (a tool, not a model) records each layer's state
// and the final choice as steps of kind "layer" and "final".
#include "workflows/archon/archon.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "actors/roles.hpp"
#include "common/json_writer.hpp"
#include "scoring/answer.hpp"
#include "workflows/archon/archon_parse.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

extern const char* const kArchonVerifierReasoning;  // archon_prompts.cpp

namespace {

using actors::RoleOutput;
using actors::RoleTask;
using actors::RunContext;
using actors::StepInfo;

// One candidate: its text, extracted answer and the step that wrote it.
struct Cand {
  std::string text;
  std::string answer;
  uint64_t step = 0;
};

// A critique of the candidate at the same position.
struct Crit {
  std::string text;
  uint64_t step = 0;
};

// §4(a): the state flowing from layer to layer.
struct State {
  std::vector<Cand> candidates;
  std::vector<Crit> critiques;  // empty, or aligned with candidates
  std::vector<std::string> unit_tests;
  std::optional<uint64_t> unit_test_step;
};

// What one component wrote into its layer's current_state.
struct Out {
  std::optional<std::vector<Cand>> candidates;
  // Critiques of the *previous* candidates (a critic).
  std::optional<std::vector<Crit>> critiques;
  // A filtering component (ranker, verifier, evaluator) carries the
  // critiques of the candidates it keeps, in its output order.
  std::optional<std::vector<Crit>> carried;
  std::optional<std::vector<std::string>> unit_tests;
  std::optional<uint64_t> unit_test_step;
  // A generator's prompt (the pairs' prompt), and preference pairs
  // (chosen step, rejected step, reason), added when the layer merges.
  std::vector<memory::Message> prompt;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> pairs;
};

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

class Archon : public actors::Pipeline {
 public:
  Archon(ArchonConfig c, ArchonOptions o) : cfg_(std::move(c)), opt_(std::move(o)) {
    if (opt_.verifier_reasoning_template.empty()) opt_.verifier_reasoning_template = kArchonVerifierReasoning;
    actors::RoleSpec verifier = archon_role_spec("verifier");
    if (opt_.verifier_system.empty()) opt_.verifier_system = verifier.system;
    actors::RoleSpec generator = archon_role_spec("generator");
    if (opt_.generator_template.empty()) opt_.generator_template = generator.template_text;
  }

  void start(RunContext& ctx) override {
    ctx_ = &ctx;
    if (cfg_.layers.empty()) return ctx.fail(Error{ErrorCode::invalid_argument, "archon: the config has no layers"});
    for (const auto& layer : cfg_.layers)
      for (const auto& c : layer)
        if (!ctx.has_role(c.type))
          return ctx.fail(Error{ErrorCode::invalid_argument,
                                "archon: the config uses a " + c.type + " but the workflow has no such role"});
    run_layer(0);
  }

 private:
  // ---------------------------------------------------------------- layers

  // §4(a): a layer starts with an empty current_state; its components all
  // read the previous state. Here they run at once.
  void run_layer(size_t index) {
    layer_ = index;
    const auto& comps = cfg_.layers[index];
    outs_.assign(comps.size(), Out{});
    layer_notes_.clear();
    component_done_.assign(comps.size(), nullptr);
    ctx_->gather(
        comps.size(),
        [this](size_t j, std::function<void()> done) {
          if (over_) return;  // the run ended: start no more components
          component_done_[j] = std::move(done);
          run_component(j);
        },
        [this] {
          if (!over_) merge();
        });
  }

  void run_component(size_t j) {
    const std::string& type = comp(j).type;
    if (type != "generator" && type != "unit_test_generator" && state_.candidates.empty()) {
      note(j, "no candidates to read; skipped");
      return component_done(j);
    }
    if (type == "generator") return generate(j);
    if (type == "critic") return criticize(j, 0);
    if (type == "ranker") return rank(j);
    if (type == "fuser") return fuse(j);
    if (type == "verifier") return verify(j);
    if (type == "unit_test_generator") return write_tests(j, 0);
    if (type == "unit_test_evaluator") return evaluate_tests(j);
    fail("layer " + std::to_string(layer_ + 1) + ": unknown component type " + type);
  }

  // Component j of the current layer is over.
  void component_done(size_t j) {
    if (over_) return;
    component_done_.at(j)();
  }

  // Merges the components' outputs in component order (§4(a): appends to
  // current_state; keys nobody wrote are carried forward).
  void merge() {
    State next = state_;
    bool cands_written = false, all_carry = true, critic_wrote = false;
    std::vector<Cand> cands;
    std::vector<Crit> carried, critiques;
    std::vector<std::string> tests;
    bool tests_written = false;
    std::vector<std::string> rewriters;
    for (size_t j = 0; j < outs_.size(); ++j) {
      Out& o = outs_[j];
      if (pair_prompt_.empty() && !o.prompt.empty()) pair_prompt_ = o.prompt;
      for (const auto& [chosen, rejected, reason] : o.pairs) ctx_->add_pair(pair_prompt(), chosen, rejected, reason);
      if (o.candidates) {
        cands_written = true;
        const std::string& type = comp(j).type;
        if (type == "generator" || type == "fuser")
          all_candidates_.insert(all_candidates_.end(), o.candidates->begin(), o.candidates->end());
        if (std::find(rewriters.begin(), rewriters.end(), comp(j).type) == rewriters.end())
          rewriters.push_back(comp(j).type);
        cands.insert(cands.end(), o.candidates->begin(), o.candidates->end());
        if (o.carried) carried.insert(carried.end(), o.carried->begin(), o.carried->end());
        else all_carry = false;
      }
      if (o.critiques) {
        critic_wrote = true;
        critiques.insert(critiques.end(), o.critiques->begin(), o.critiques->end());
      }
      if (o.unit_tests) {
        tests_written = true;
        tests.insert(tests.end(), o.unit_tests->begin(), o.unit_tests->end());
        if (o.unit_test_step) next.unit_test_step = o.unit_test_step;
      }
    }
    if (cands_written) {
      next.candidates = std::move(cands);
      if (all_carry && !critic_wrote) {
        next.critiques = std::move(carried);
      } else {
        // §4(g) pitfall 3: critiques of candidates that are gone are stale.
        if (critic_wrote || !state_.critiques.empty())
          layer_notes_.push_back("critiques dropped: the candidates were rewritten by " + join(rewriters, ", "));
        next.critiques.clear();
      }
    } else if (critic_wrote) {
      next.critiques = std::move(critiques);
    }
    if (!next.critiques.empty() && next.critiques.size() != next.candidates.size()) {
      layer_notes_.push_back("critiques dropped: " + std::to_string(next.critiques.size()) + " critiques for " +
                             std::to_string(next.candidates.size()) + " candidates");
      next.critiques.clear();
    }
    if (tests_written) next.unit_tests = std::move(tests);
    // §4(b): the layer loop warns above 32 candidates (context-window risk).
    if (static_cast<int>(next.candidates.size()) > opt_.warn_candidates)
      layer_notes_.push_back("warning: " + std::to_string(next.candidates.size()) + " candidates (more than " +
                             std::to_string(opt_.warn_candidates) + "): later prompts may not fit the context window");
    state_ = std::move(next);
    record_layer();
  }

  // The orchestrator's step for this layer (Archon's per-layer log), then
  // the next layer or the end.
  void record_layer() {
    auto next = [this] {
      if (layer_ + 1 < cfg_.layers.size()) run_layer(layer_ + 1);
      else conclude();
    };
    if (!ctx_->has_role("orchestrator")) return next();
    std::string rec;
    JsonWriter w(rec);
    w.begin_object().field("layer", static_cast<int64_t>(layer_ + 1));
    w.key("components").begin_array();
    for (const auto& c : cfg_.layers[layer_]) w.value(c.type);
    w.end_array();
    w.key("candidates").begin_array();
    for (const auto& c : state_.candidates) w.value(static_cast<uint64_t>(c.step));
    w.end_array();
    w.key("critiques").begin_array();
    for (const auto& c : state_.critiques) w.value(static_cast<uint64_t>(c.step));
    w.end_array();
    w.key("unit_tests").begin_array();
    for (const auto& t : state_.unit_tests) w.value(t);
    w.end_array();
    w.key("notes").begin_array();
    for (const auto& n : layer_notes_) w.value(n);
    w.end_array();
    w.end_object();
    all_notes_.insert(all_notes_.end(), layer_notes_.begin(), layer_notes_.end());
    RoleTask t;
    t.vars["record"] = rec;
    ctx_->call("orchestrator", t, StepInfo{"layer", candidate_steps()},
               [this, next](const RoleOutput& out, const std::vector<uint64_t>&) {
                 if (over_) return;
                 if (!out.ok) return stop_early(out);
                 next();
               });
  }

  // ------------------------------------------------------------ components

  // §4(a) generator: the conversation as is, `samples` outputs appended.
  // Unit tests in the state reach it through {unit_tests} (not by editing
  // the question).
  void generate(size_t j) {
    const ArchonComponent& c = comp(j);
    RoleTask t = base_task(c);
    t.n = c.samples;
    t.vars["unit_tests"] = unit_tests_block();
    if (c.no_system) t.messages = {{"user", actors::render_template(opt_.generator_template, t.vars)}};
    StepInfo info{"generator", {}};
    if (!state_.unit_tests.empty() && state_.unit_test_step) info.parents.push_back(*state_.unit_test_step);
    ask("generator", std::move(t), info, [this, j](const RoleOutput& out, const std::vector<uint64_t>& steps) {
      std::vector<Cand> cs;
      for (size_t i = 0; i < out.candidates.size() && i < steps.size(); ++i)
        cs.push_back({out.candidates[i].text, out.candidates[i].answer, steps[i]});
      outs_[j].prompt = out.prompt;
      outs_[j].candidates = std::move(cs);
      component_done(j);
    });
  }

  // §4(a) critic: one critique per candidate, parsed by splitting on [n];
  // a count that does not match is asked again (§4(d)).
  void criticize(size_t j, int attempt) {
    const ArchonComponent& c = comp(j);
    RoleTask t = base_task(c);
    t.vars["candidates"] = listing(false);
    t.vars["count"] = std::to_string(state_.candidates.size());
    ask("critic", std::move(t), StepInfo{"critic", candidate_steps()},
        [this, j, attempt](const RoleOutput& out, const std::vector<uint64_t>& steps) {
          auto parts = archon::split_critiques(out.candidates.at(0).text);
          size_t n = state_.candidates.size();
          if (parts.size() != n) {
            if (attempt < opt_.parse_retries) return criticize(j, attempt + 1);
            note(j, "found " + std::to_string(parts.size()) + " critiques for " + std::to_string(n) +
                        " candidates after " + std::to_string(attempt + 1) + " attempts; critiques not written");
            return component_done(j);
          }
          std::vector<Crit> crits;
          for (auto& p : parts) crits.push_back({std::move(p), steps.at(0)});
          outs_[j].critiques = std::move(crits);
          component_done(j);
        });
  }

  // §4(a) ranker: an ordering "[4] > [2] > ...", repaired, then the top_k
  // candidates with their critiques, in ranked order.
  void rank(size_t j) {
    const ArchonComponent& c = comp(j);
    bool show = c.use_critiques && !state_.critiques.empty();
    RoleTask t = base_task(c);
    t.vars["candidates"] = listing(show);
    t.vars["count"] = std::to_string(state_.candidates.size());
    ask("ranker", std::move(t), StepInfo{"ranker", read_steps(show)},
        [this, j](const RoleOutput& out, const std::vector<uint64_t>&) {
          const ArchonComponent& c = comp(j);
          size_t n = state_.candidates.size();
          auto r = archon::parse_ranking(out.candidates.at(0).text, n);
          if (!r.parsed) note(j, "no ranking found in the output; the original order is kept");
          else if (!r.repairs.empty()) note(j, "ranking repaired: " + join(r.repairs, "; "));
          size_t keep = c.top_k > 0 ? std::min<size_t>(static_cast<size_t>(c.top_k), n) : n;
          std::vector<Cand> cs;
          std::vector<Crit> cr;
          for (size_t k = 0; k < keep; ++k) {
            cs.push_back(state_.candidates[r.order[k]]);
            if (!state_.critiques.empty()) cr.push_back(state_.critiques[r.order[k]]);
          }
          // §4(e) (inferred): the ordering as preferences. Kept over dropped
          // when top_k cuts; otherwise the top one over the bottom one.
          if (r.parsed && n >= 2) {
            auto pair = [&](size_t a, size_t b) {
              outs_[j].pairs.emplace_back(state_.candidates[r.order[a]].step, state_.candidates[r.order[b]].step,
                                          "ranker: ranked [" + std::to_string(r.order[a] + 1) + "] above [" +
                                              std::to_string(r.order[b] + 1) + "] of " + std::to_string(n));
            };
            if (keep < n) {
              for (size_t a = 0; a < keep; ++a)
                for (size_t b = keep; b < n; ++b) pair(a, b);
            } else {
              pair(0, n - 1);
            }
          }
          outs_[j].candidates = std::move(cs);
          outs_[j].carried = std::move(cr);
          component_done(j);
        });
  }

  // §4(a) fuser: the numbered candidates (with critiques when shown) fused
  // into `samples` new candidates.
  void fuse(size_t j) {
    const ArchonComponent& c = comp(j);
    bool show = c.use_critiques && !state_.critiques.empty();
    RoleTask t = base_task(c);
    t.n = c.samples;
    t.vars["candidates"] = listing(show);
    t.vars["count"] = std::to_string(state_.candidates.size());
    t.vars["length_note"] = "";
    if (c.length_control) {
      t.vars["length_note"] = " Your response must not be longer than the longest of the responses.";
      int64_t longest = 0;
      for (const auto& cand : state_.candidates)
        if (const auto* s = ctx_->step(cand.step)) longest = std::max(longest, s->completion_tokens);
      if (longest > 0 && (t.max_tokens == 0 || longest < t.max_tokens)) t.max_tokens = longest;
    }
    ask("fuser", std::move(t), StepInfo{"fuser", read_steps(show)},
        [this, j](const RoleOutput& out, const std::vector<uint64_t>& steps) {
          std::vector<Cand> cs;
          for (size_t i = 0; i < out.candidates.size() && i < steps.size(); ++i)
            cs.push_back({out.candidates[i].text, out.candidates[i].answer, steps[i]});
          outs_[j].candidates = std::move(cs);
          component_done(j);
        });
  }

  // §4(a) verifier: per candidate a reasoning call, then a verdict call
  // ending [Correct]/[Incorrect] (re-asked when it has neither). Keeps the
  // correct ones; first_k stops early (candidates are then checked one at a
  // time, in order); none correct -> all pass through, with a note.
  struct VerifyJob {
    std::vector<int> verdict;     // 1, 0, -1 (unparsed), or -2 (not checked)
    std::vector<uint64_t> steps;  // the verdict step of each checked candidate
    size_t next = 0, finished = 0, passed = 0;
  };

  void verify(size_t j) {
    auto job = std::make_shared<VerifyJob>();
    size_t n = state_.candidates.size();
    job->verdict.assign(n, -2);
    job->steps.assign(n, 0);
    if (comp(j).first_k > 0) {
      verify_one(j, job, job->next++);
    } else {
      job->next = n;
      for (size_t i = 0; i < n; ++i) verify_one(j, job, i);
    }
  }

  void verify_one(size_t j, std::shared_ptr<VerifyJob> job, size_t i) {
    const ArchonComponent& c = comp(j);
    RoleTask t = base_task(c);
    t.vars["candidate"] = state_.candidates[i].text;
    t.messages = {{"system", opt_.verifier_system},
                  {"user", actors::render_template(opt_.verifier_reasoning_template, t.vars)}};
    ask("verifier", std::move(t), StepInfo{"verifier_reasoning", {state_.candidates[i].step}},
        [this, j, job, i](const RoleOutput& out, const std::vector<uint64_t>& steps) {
          verdict(j, job, i, out.candidates.at(0).text, steps.at(0), 0);
        });
  }

  void verdict(size_t j, std::shared_ptr<VerifyJob> job, size_t i, std::string reasoning, uint64_t reasoning_step,
               int attempt) {
    const ArchonComponent& c = comp(j);
    RoleTask t = base_task(c);
    t.vars["candidate"] = state_.candidates[i].text;
    t.vars["reasoning"] = reasoning;
    ask("verifier", std::move(t), StepInfo{"verifier", {state_.candidates[i].step, reasoning_step}},
        [this, j, job, i, reasoning, reasoning_step, attempt](const RoleOutput& out, const std::vector<uint64_t>& steps) {
          int v = archon::parse_verdict_tag(out.candidates.at(0).text);
          if (v < 0 && attempt < opt_.parse_retries) return verdict(j, job, i, reasoning, reasoning_step, attempt + 1);
          if (v < 0) note(j, "candidate " + std::to_string(i + 1) + ": no [Correct]/[Incorrect] after " +
                                 std::to_string(attempt + 1) + " attempts; counted as not passing");
          job->verdict[i] = v;
          job->steps[i] = steps.at(0);
          job->finished += 1;
          if (v == 1) job->passed += 1;
          const ArchonComponent& c = comp(j);
          size_t n = state_.candidates.size();
          if (c.first_k > 0) {
            if (job->passed < static_cast<size_t>(c.first_k) && job->next < n) return verify_one(j, job, job->next++);
            return verified(j, *job);
          }
          if (job->finished == n) verified(j, *job);
        });
  }

  void verified(size_t j, const VerifyJob& job) {
    std::vector<Cand> cs;
    std::vector<Crit> cr;
    std::vector<size_t> good, bad;
    for (size_t i = 0; i < job.verdict.size(); ++i) {
      if (job.verdict[i] == 1) good.push_back(i);
      if (job.verdict[i] == 0) bad.push_back(i);
    }
    std::vector<size_t> keep = good;
    if (good.empty()) {
      note(j, "no candidate was judged [Correct]; all " + std::to_string(state_.candidates.size()) +
                  " pass through");
      for (size_t i = 0; i < state_.candidates.size(); ++i) keep.push_back(i);
    }
    for (size_t i : keep) {
      cs.push_back(state_.candidates[i]);
      if (!state_.critiques.empty()) cr.push_back(state_.critiques[i]);
    }
    // §4(e) (inferred): [Correct] over [Incorrect].
    for (size_t g : good)
      for (size_t b : bad)
        outs_[j].pairs.emplace_back(state_.candidates[g].step, state_.candidates[b].step,
                                    "verifier: [Correct] over [Incorrect]");
    outs_[j].candidates = std::move(cs);
    outs_[j].carried = std::move(cr);
    component_done(j);
  }

  // §4(a) unit_test_generator: unit_test_cap tests as a Python list; an
  // output with none is asked again (§4(d)).
  void write_tests(size_t j, int attempt) {
    const ArchonComponent& c = comp(j);
    RoleTask t = base_task(c);
    t.vars["unit_test_cap"] = std::to_string(c.unit_test_cap);
    ask("unit_test_generator", std::move(t), StepInfo{"unit_test_generator", {}},
        [this, j, attempt](const RoleOutput& out, const std::vector<uint64_t>& steps) {
          auto tests = archon::parse_unit_tests(out.candidates.at(0).text);
          if (tests.empty() && attempt < opt_.parse_retries) return write_tests(j, attempt + 1);
          size_t cap = static_cast<size_t>(comp(j).unit_test_cap);
          if (tests.size() > cap) {
            note(j, "kept the first " + std::to_string(cap) + " of " + std::to_string(tests.size()) + " unit tests");
            tests.resize(cap);
          }
          if (tests.empty()) note(j, "no unit tests found after " + std::to_string(attempt + 1) + " attempts");
          outs_[j].unit_tests = std::move(tests);
          outs_[j].unit_test_step = steps.at(0);
          component_done(j);
        });
  }

  // §4(a) unit_test_evaluator: per candidate, "Unit Test #i:
  // [Passed]/[Failed]" lines (re-asked when some are missing); score =
  // tests passed; candidates sorted by score, top_k kept. first_k /
  // first_pass: candidates are checked one at a time, in order, and the
  // first k that pass every test are returned.
  struct EvalJob {
    std::vector<int> score;  // -1 = not checked
    std::vector<bool> all_pass;
    size_t next = 0, finished = 0, full = 0;
  };

  int first_k(const ArchonComponent& c) const { return c.first_k > 0 ? c.first_k : (c.first_pass ? 1 : 0); }

  void evaluate_tests(size_t j) {
    auto job = std::make_shared<EvalJob>();
    size_t n = state_.candidates.size();
    job->score.assign(n, -1);
    job->all_pass.assign(n, false);
    if (first_k(comp(j)) > 0) {
      evaluate_one(j, job, job->next++, 0);
    } else {
      job->next = n;
      for (size_t i = 0; i < n; ++i) evaluate_one(j, job, i, 0);
    }
  }

  void evaluate_one(size_t j, std::shared_ptr<EvalJob> job, size_t i, int attempt) {
    const ArchonComponent& c = comp(j);
    RoleTask t = base_task(c);
    t.vars["candidate"] = state_.candidates[i].text;
    std::string list;
    for (size_t k = 0; k < state_.unit_tests.size(); ++k)
      list += (k ? "\n" : "") + std::to_string(k + 1) + ". " + state_.unit_tests[k];
    t.vars["unit_test_list"] = list;
    StepInfo info{"unit_test_evaluator", {state_.candidates[i].step}};
    if (state_.unit_test_step) info.parents.push_back(*state_.unit_test_step);
    ask("unit_test_evaluator", std::move(t), info,
        [this, j, job, i, attempt](const RoleOutput& out, const std::vector<uint64_t>&) {
          size_t count = state_.unit_tests.size();
          auto results = archon::parse_unit_test_results(out.candidates.at(0).text, count);
          size_t missing = 0, passed = 0;
          for (const auto& r : results) {
            if (!r) ++missing;
            else if (*r) ++passed;
          }
          if (missing > 0 && attempt < opt_.parse_retries) return evaluate_one(j, job, i, attempt + 1);
          if (missing > 0)
            note(j, "candidate " + std::to_string(i + 1) + ": " + std::to_string(missing) +
                        " unit test results missing after " + std::to_string(attempt + 1) + " attempts; counted as failed");
          job->score[i] = static_cast<int>(passed);
          job->all_pass[i] = passed == count;
          job->finished += 1;
          if (job->all_pass[i]) job->full += 1;
          size_t n = state_.candidates.size();
          int k = first_k(comp(j));
          if (k > 0) {
            if (job->full < static_cast<size_t>(k) && job->next < n) return evaluate_one(j, job, job->next++, 0);
            return evaluated(j, *job);
          }
          if (job->finished == n) evaluated(j, *job);
        });
  }

  void evaluated(size_t j, const EvalJob& job) {
    const ArchonComponent& c = comp(j);
    std::vector<size_t> order;
    std::string scores;
    for (size_t i = 0; i < job.score.size(); ++i) {
      if (job.score[i] < 0) continue;
      order.push_back(i);
      scores += (scores.empty() ? "" : ", ") + std::string("[") + std::to_string(i + 1) + "] " +
                std::to_string(job.score[i]) + "/" + std::to_string(state_.unit_tests.size());
    }
    note(j, "unit tests passed: " + scores);
    int k = first_k(c);
    if (k > 0 && job.full >= static_cast<size_t>(k)) {
      std::vector<size_t> full;
      for (size_t i : order)
        if (job.all_pass[i]) full.push_back(i);
      order = full;
    } else {
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return job.score[a] > job.score[b]; });
      if (c.top_k > 0 && order.size() > static_cast<size_t>(c.top_k)) order.resize(static_cast<size_t>(c.top_k));
    }
    std::vector<Cand> cs;
    std::vector<Crit> cr;
    for (size_t i : order) {
      cs.push_back(state_.candidates[i]);
      if (!state_.critiques.empty()) cr.push_back(state_.critiques[i]);
    }
    outs_[j].candidates = std::move(cs);
    outs_[j].carried = std::move(cr);
    component_done(j);
  }

  // ----------------------------------------------------------------- end

  // §4(a) final output: one candidate left is the answer; several -> a
  // seeded choice (Archon: random.choice), recorded by the orchestrator.
  void conclude() {
    if (state_.candidates.empty())
      return fail("no candidates remain after the last layer (" + std::to_string(cfg_.layers.size()) + " layers)");
    size_t n = state_.candidates.size();
    size_t pick = n > 1 ? archon::seeded_choice(opt_.seed, ctx_->input().item_id, n) : 0;
    const Cand& chosen = state_.candidates[pick];
    std::string answer = chosen.answer.empty() ? chosen.text : chosen.answer;
    label_with_gold(chosen);
    if (!ctx_->has_role("orchestrator")) return finish(answer);
    std::string rec;
    JsonWriter w(rec);
    w.begin_object()
        .field("candidates", static_cast<uint64_t>(n))
        .field("chosen", static_cast<uint64_t>(pick + 1))
        .field("chosen_step", static_cast<uint64_t>(chosen.step))
        .field("rule", n > 1 ? "seeded choice (Archon: random.choice)" : "single candidate")
        .field("seed", opt_.seed)
        .field("item_id", ctx_->input().item_id);
    w.key("notes").begin_array();
    for (const auto& note : all_notes_) w.value(note);
    w.end_array();
    w.end_object();
    RoleTask t;
    t.vars["record"] = rec;
    t.vars["answer"] = answer;
    ctx_->call("orchestrator", t, StepInfo{"final", {chosen.step}},
               [this, answer](const RoleOutput&, const std::vector<uint64_t>&) { finish(answer); });
  }

  // §4(e) with gold (inferred): every candidate labelled by correctness;
  // a correct final answer is chosen over each incorrect candidate.
  void label_with_gold(const Cand& chosen) {
    const auto& gold = ctx_->input().gold;
    if (!gold) return;
    auto correct = [&](const Cand& c) { return scoring::answers_match(c.answer.empty() ? c.text : c.answer, *gold); };
    bool final_ok = correct(chosen);
    std::set<uint64_t> seen;
    for (const auto& c : all_candidates_) {
      if (!seen.insert(c.step).second) continue;
      bool ok = correct(c);
      ctx_->label_step(c.step, ok);
      if (final_ok && !ok && c.step != chosen.step)
        ctx_->add_pair(pair_prompt(), chosen.step, c.step, "gold: the correct final answer over an incorrect candidate");
    }
  }

  void finish(const std::string& answer) {
    if (over_) return;
    over_ = true;
    ctx_->finish(answer);
  }

  void fail(const std::string& why) {
    if (over_) return;
    over_ = true;
    ctx_->fail(Error{ErrorCode::invalid_argument, "archon: " + why});
  }

  // A call failed or was refused: with a budget out and candidates in the
  // state, answer from the last complete layer; otherwise the run fails.
  void stop_early(const RoleOutput& out) {
    if (over_) return;
    bool budget = out.error_code == static_cast<int>(ErrorCode::budget_exhausted);
    if (budget && !state_.candidates.empty()) {
      size_t n = state_.candidates.size();
      const Cand& c = state_.candidates[n > 1 ? archon::seeded_choice(opt_.seed, ctx_->input().item_id, n) : 0];
      label_with_gold(c);
      return finish(c.answer.empty() ? c.text : c.answer);
    }
    over_ = true;
    ctx_->fail(Error{static_cast<ErrorCode>(out.error_code), out.role + ": " + out.error});
  }

  // --------------------------------------------------------------- helpers

  const ArchonComponent& comp(size_t j) const { return cfg_.layers[layer_][j]; }

  RoleTask base_task(const ArchonComponent& c) const {
    RoleTask t;
    t.model = c.model;
    t.temperature = c.temperature;
    t.max_tokens = c.max_tokens;
    t.vars["question"] = ctx_->input().question;
    return t;
  }

  // Calls a role; a failed call ends the run (stop_early), an output with
  // no candidate fails it.
  template <class F>
  void ask(const std::string& role, RoleTask task, StepInfo info, F then) {
    ctx_->call(role, std::move(task), std::move(info),
               [this, role, then](const RoleOutput& out, const std::vector<uint64_t>& steps) {
                 if (over_) return;
                 if (!out.ok) return stop_early(out);
                 if (out.candidates.empty() || steps.size() < out.candidates.size())
                   return fail(role + " returned no output");
                 then(out, steps);
               });
  }

  void note(size_t j, const std::string& text) {
    layer_notes_.push_back("layer " + std::to_string(layer_ + 1) + ", component " + std::to_string(j + 1) + " (" +
                           comp(j).type + "): " + text);
  }

  std::string unit_tests_block() const {
    if (state_.unit_tests.empty()) return "";
    std::string out = "\n\nYour response should pass the following unit tests:";
    for (const auto& t : state_.unit_tests) out += "\n- " + t;
    return out;
  }

  std::string listing(bool with_critiques) const {
    std::string out;
    for (size_t i = 0; i < state_.candidates.size(); ++i) {
      if (i) out += "\n\n";
      out += "[" + std::to_string(i + 1) + "] " + state_.candidates[i].text;
      if (with_critiques && i < state_.critiques.size()) out += "\nCritique: " + state_.critiques[i].text;
    }
    return out;
  }

  std::vector<uint64_t> candidate_steps() const {
    std::vector<uint64_t> out;
    for (const auto& c : state_.candidates) out.push_back(c.step);
    return out;
  }

  // The candidate steps, then the critic steps whose critiques are shown.
  std::vector<uint64_t> read_steps(bool with_critiques) const {
    std::vector<uint64_t> out = candidate_steps();
    if (with_critiques)
      for (const auto& c : state_.critiques)
        if (std::find(out.begin(), out.end(), c.step) == out.end()) out.push_back(c.step);
    return out;
  }

  // Pairs are over the question as the first generator saw it.
  std::vector<memory::Message> pair_prompt() const {
    if (!pair_prompt_.empty()) return pair_prompt_;
    return {{"user", ctx_->input().question}};
  }

  ArchonConfig cfg_;
  ArchonOptions opt_;
  RunContext* ctx_ = nullptr;
  State state_;
  size_t layer_ = 0;
  std::vector<Out> outs_;
  std::vector<std::function<void()>> component_done_;  // the current layer's, by component
  bool over_ = false;
  std::vector<std::string> layer_notes_, all_notes_;
  std::vector<Cand> all_candidates_;
  std::vector<memory::Message> pair_prompt_;
};

}  // namespace

std::shared_ptr<actors::Pipeline> make_archon(ArchonConfig config, ArchonOptions options) {
  return std::make_shared<Archon>(std::move(config), std::move(options));
}

std::shared_ptr<actors::Pipeline> make_archon(ArchonConfig config) {
  return make_archon(std::move(config), ArchonOptions{});
}

}  // namespace troupe::workflows
