// LeaP — Learning from Peers (Luo et al., arXiv 2505.07787), as specified in
// pipelines.md §2 (`LeaP.infer_batch` of tongxuluo/LeaP): N reasoning paths
// from one prompt; every T tokens each active path summarizes itself, a
// router hands each path the summaries of k peers, and the paths continue;
// after M segments the unfinished paths are made to answer, and the answers
// are majority-voted. The router and the peer tool role are in
// leap_router.cpp, the prompt texts in leap_prompts.cpp.
//
// Roles: "solver" (the model; every path is one growing assistant message it
// continues) and "peer" (the router, C++ code run as a tool role so that
// each routing decision is a recorded step). Steps, in the order a path grows:
//   segment  solver, parents [own summary, own route] of the previous block
//            (none for segment 1)
//   summary  solver, parents [the segment it summarizes]
//   route    peer, parents [receiver's summary, then every other active
//            path's summary it was compared with]
//   answer   solver, the forced answer, parents [the path's last step]
//   path     peer, the whole transcript of one path (prompt = the user
//            messages, completion = the assistant message), parents [the
//            path's last step]; what SFT/DPO exports are built from.
#include <algorithm>
#include <optional>

#include "common/json_writer.hpp"
#include "scoring/answer.hpp"
#include "workflows/leap/leap.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {
namespace {

using actors::Candidate;
using actors::RoleOutput;
using actors::RoleTask;
using actors::RunContext;
using actors::StepInfo;

constexpr const char* kThinkEnd = "</think>";
constexpr const char* kSummarizeOpen = "<summarize>";
constexpr const char* kSummarizeClose = "</summarize>";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Path {
  int id = 0;                    // 1-based, as peers are named in routing steps
  std::string text;              // the assistant message so far (prefill included)
  bool finished = false;         // ended its thinking (</think>)
  bool opened_summary = false;   // LeaP-T: the model itself opened <summarize>
  std::optional<uint64_t> last_step;
  std::optional<uint64_t> summary_step, route_step;
  std::string summary;           // the latest summary's text
  // Per segment s (0-based): its step and the answer the text held after it.
  std::vector<uint64_t> segment_steps;
  std::vector<std::string> segment_answers;
  std::optional<uint64_t> transcript_step;
  std::string answer;
};

class Leap : public actors::Pipeline {
 public:
  explicit Leap(LeapParams p) : p_(std::move(p)) {
    if (p_.answer_prefix.empty()) p_.answer_prefix = leap_math_answer_prefix();
    if (p_.instruction.empty()) p_.instruction = p_.mode == LeapMode::leap ? leap_instruction() : leap_cot_instruction();
    if (p_.prefill.empty()) p_.prefill = leap_prefill();
  }

  // §2(a) steps 1–2: the prompt (question + LeaP instruction, prefilled
  // recap) and segment 1: N samples of up to T tokens in one call, so the
  // engine computes the shared prefix once.
  void start(RunContext& ctx) override {
    ctx_ = &ctx;
    RoleTask task = solver_task();
    if (leap()) {
      task.history = {{"assistant", p_.prefill}};
      task.continue_final = true;
    }
    task.n = p_.paths;
    task.max_tokens = p_.segment_tokens;
    task.stop = segment_stops();
    ctx_->call("solver", task, StepInfo{"segment", {}}, [this](const RoleOutput& out, const std::vector<uint64_t>& steps) {
      if (done_) return;
      if (!out.ok || out.candidates.empty()) {
        on_error(out, "segment 1");
        return conclude();  // no-op after a failure; a spent budget leaves nothing to vote on
      }
      user_prompt_ = out.prompt;
      if (!user_prompt_.empty() && user_prompt_.back().role == "assistant") user_prompt_.pop_back();
      for (size_t i = 0; i < out.candidates.size(); ++i) {
        Path path;
        path.id = static_cast<int>(i) + 1;
        if (leap()) path.text = p_.prefill;
        absorb_segment(path, out.candidates[i], steps.at(i));
        paths_.push_back(std::move(path));
      }
      after_segment();
    });
  }

 private:
  bool leap() const { return p_.mode == LeapMode::leap; }

  RoleTask solver_task() const {
    RoleTask task;
    task.vars["question"] = ctx_->input().question;
    task.vars["instruction"] = p_.instruction;
    return task;
  }

  // The path so far as the unfinished assistant message to continue.
  RoleTask continue_task(const Path& path) const {
    RoleTask task = solver_task();
    task.history = {{"assistant", path.text}};
    task.continue_final = true;
    return task;
  }

  std::vector<std::string> segment_stops() const {
    // §2(a) step 2: EOS and </think>. LeaP-T: <summarize> too, so the
    // model's own summary starts a communication round.
    std::vector<std::string> stop = {kThinkEnd};
    if (!leap()) stop.push_back(kSummarizeOpen);
    return stop;
  }

  // The backend leaves a matched stop string out of the text (OpenAI
  // semantics) and names it; the spec keeps it in the path.
  void absorb_segment(Path& path, const Candidate& c, uint64_t step) {
    path.text += c.text;
    if (c.stop_string == kThinkEnd) path.text += kThinkEnd;
    if (c.stop_string == kSummarizeOpen) path.text += kSummarizeOpen;
    // §2(a) step 3: a path whose output ends with </think> is finished.
    if (ends_with(path.text, kThinkEnd)) path.finished = true;
    else if (p_.finish_on_eos && c.finish == "stop" && c.stop_string.empty()) path.finished = true;
    path.opened_summary = !path.finished && ends_with(path.text, kSummarizeOpen);
    path.last_step = step;
    path.segment_steps.push_back(step);
    path.segment_answers.push_back(scoring::extract_final_answer(path.text).value_or(""));
  }

  std::vector<Path*> active() {
    std::vector<Path*> out;
    for (auto& p : paths_)
      if (!p.finished) out.push_back(&p);
    return out;
  }

  // §2(a) step 3 and step 6: after each segment, finished paths leave; the
  // rest get a LeaP block, except after the last segment (M segments, M-1
  // blocks), where §2(a) step 7 forces an answer.
  void after_segment() {
    ++segments_;
    if (stopping_) return conclude();
    if (active().empty()) return conclude();
    if (segments_ >= p_.max_turns) return force_answers();
    summarize();
  }

  // §2(a) step 4: each active path drops its last (usually unfinished)
  // paragraph, gains a seeded trigger that opens <summarize>, and the solver
  // writes a summary of at most summary_tokens on that same path.
  void summarize() {
    auto paths = active();
    std::vector<actors::RoleCall> calls;
    for (Path* path : paths) {
      if (!path->opened_summary) {
        uint64_t draw = leap_seed_for(p_.seed, ctx_->input().item_id, segments_, path->id, "trigger");
        path->text = leap_cut_last_paragraph(path->text) + leap_trigger(draw);
      }
      RoleTask task = continue_task(*path);
      task.max_tokens = p_.summary_tokens;
      task.stop = {kSummarizeClose, kThinkEnd};
      calls.push_back({"solver", std::move(task), StepInfo{"summary", {*path->last_step}}, nullptr});
    }
    ctx_->call_all(
        std::move(calls), [this](std::vector<actors::RoleReply>&) { after_all(&Leap::route); },
        [this, paths](size_t i, const actors::RoleReply& reply) {
          if (done_) return;
          Path* pp = paths[i];
          const RoleOutput& out = reply.out;
          if (!out.ok || out.candidates.empty()) {
            on_error(out, "summary of path " + std::to_string(pp->id));
          } else {
            const Candidate& c = out.candidates[0];
            pp->text += leap_normalize_summary(c.text, c.stop_string);
            pp->opened_summary = false;
            pp->summary = leap_last_summary(pp->text);
            pp->summary_step = reply.step_seqs.at(0);
            pp->last_step = reply.step_seqs.at(0);
          }
        });
  }

  // Once every call of a stage is back: the next stage, or the vote when a
  // budget ran out meanwhile.
  void after_all(void (Leap::*next)()) {
    if (done_) return;
    if (stopping_) return conclude();
    (this->*next)();
  }

  // §2(a) step 5: the peer router picks each active path's peers among the
  // still-active paths by Levenshtein ratio of their summaries; the path
  // gains the comment block (or the "No comments" stub when it is alone).
  void route() {
    auto paths = active();
    std::string summaries;
    JsonWriter w(summaries);
    w.begin_array();
    for (Path* p : paths) w.begin_object().field("path", p->id).field("summary", p->summary).end_object();
    w.end_array();
    std::vector<actors::RoleCall> calls;
    for (Path* path : paths) {
      RoleTask task;
      task.vars["op"] = "route";
      task.vars["receiver"] = std::to_string(path->id);
      task.vars["summaries"] = summaries;
      task.vars["seed"] = std::to_string(leap_seed_for(p_.seed, ctx_->input().item_id, segments_, path->id, "route"));
      StepInfo info{"route", {*path->summary_step}};
      for (Path* other : paths)
        if (other != path) info.parents.push_back(*other->summary_step);
      calls.push_back({"peer", std::move(task), std::move(info), nullptr});
    }
    ctx_->call_all(
        std::move(calls), [this](std::vector<actors::RoleReply>&) { after_all(&Leap::next_segment); },
        [this, paths](size_t i, const actors::RoleReply& reply) {
          if (done_) return;
          Path* pp = paths[i];
          const RoleOutput& out = reply.out;
          if (!out.ok || out.candidates.empty()) {
            on_error(out, "routing for path " + std::to_string(pp->id));
          } else if (auto r = leap_parse_route(out.candidates[0].text); !r.ok()) {
            done_ = true;
            ctx_->fail(r.error().with_context("peer: routing for path " + std::to_string(pp->id)));
          } else {
            std::vector<std::string> peer_summaries;
            for (int id : r->peers) peer_summaries.push_back(paths_.at(static_cast<size_t>(id - 1)).summary);
            pp->text += leap_comment_block(peer_summaries);
            pp->route_step = reply.step_seqs.at(0);
            pp->last_step = reply.step_seqs.at(0);
          }
        });
  }

  // §2(a) step 6: segments 2..M, one call per active path (n = 1), issued
  // together; the next stage starts when all have returned.
  void next_segment() {
    auto paths = active();
    std::vector<actors::RoleCall> calls;
    for (Path* path : paths) {
      RoleTask task = continue_task(*path);
      task.max_tokens = p_.segment_tokens;
      task.stop = segment_stops();
      calls.push_back({"solver", std::move(task), StepInfo{"segment", {*path->summary_step, *path->route_step}}, nullptr});
    }
    ctx_->call_all(
        std::move(calls),
        [this](std::vector<actors::RoleReply>&) {
          if (!done_) after_segment();
        },
        [this, paths](size_t i, const actors::RoleReply& reply) {
          if (done_) return;
          Path* pp = paths[i];
          if (!reply.out.ok || reply.out.candidates.empty()) on_error(reply.out, "segment of path " + std::to_string(pp->id));
          else absorb_segment(*pp, reply.out.candidates[0], reply.step_seqs.at(0));
        });
  }

  // §2(a) step 7: unfinished paths end their thinking with the answer prefix
  // and the solver writes up to answer_tokens more.
  void force_answers() {
    auto paths = active();
    std::vector<actors::RoleCall> calls;
    for (Path* path : paths) {
      path->text += p_.answer_prefix;
      RoleTask task = continue_task(*path);
      task.max_tokens = p_.answer_tokens;
      calls.push_back({"solver", std::move(task), StepInfo{"answer", {*path->last_step}}, nullptr});
    }
    ctx_->call_all(
        std::move(calls),
        [this](std::vector<actors::RoleReply>&) {
          if (!done_) conclude();
        },
        [this, paths](size_t i, const actors::RoleReply& reply) {
          if (done_) return;
          Path* pp = paths[i];
          if (!reply.out.ok || reply.out.candidates.empty()) {
            on_error(reply.out, "forced answer of path " + std::to_string(pp->id));
          } else {
            pp->text += reply.out.candidates[0].text;
            pp->last_step = reply.step_seqs.at(0);
          }
        });
  }

  // A call failed. A spent budget (or cancellation) ends the run with what
  // the paths hold once the calls in flight are back; anything else fails it.
  void on_error(const RoleOutput& out, const std::string& what) {
    if (done_) return;
    if (out.ok) {  // ok but no candidates
      done_ = true;
      return ctx_->fail(Error{ErrorCode::internal, out.role + ": no output for " + what});
    }
    if (out.error_code == static_cast<int>(ErrorCode::budget_exhausted)) {
      stopping_ = true;
      budget_error_ = Error{ErrorCode::budget_exhausted, out.role + " (" + what + "): " + out.error};
      return;
    }
    done_ = true;
    ctx_->fail(Error{static_cast<ErrorCode>(out.error_code), out.role + " (" + what + "): " + out.error});
  }

  // §2(a) step 8: every path's answer (the last \boxed{} in its text), then
  // a majority vote (equal answers grouped by scoring::answers_match; ties go
  // to the answer seen first, in path order). The transcripts are recorded,
  // then labels and pairs (§2(e)), then the run finishes.
  void conclude() {
    if (done_ || concluding_) return;
    concluding_ = true;
    std::vector<std::pair<std::string, int>> votes;
    for (auto& p : paths_) {
      p.answer = scoring::extract_final_answer(p.text).value_or("");
      if (p.answer.empty()) continue;
      auto it = std::find_if(votes.begin(), votes.end(), [&](const auto& v) { return scoring::answers_match(v.first, p.answer); });
      if (it == votes.end()) votes.emplace_back(p.answer, 1);
      else ++it->second;
    }
    int best = 0;
    for (const auto& [answer, count] : votes)
      if (count > best) {
        best = count;
        answer_ = answer;
      }
    if (stopping_ && answer_.empty()) {
      done_ = true;
      return ctx_->fail(budget_error_.value_or(Error{ErrorCode::budget_exhausted, "budget exhausted"}));
    }
    record_transcripts();
  }

  void record_transcripts() {
    std::vector<Path*> todo;
    for (auto& p : paths_)
      if (p.last_step) todo.push_back(&p);
    if (todo.empty()) return finish();
    std::vector<actors::RoleCall> calls;
    for (Path* path : todo) {
      RoleTask task;
      task.vars["op"] = "transcript";
      task.vars["text"] = path->text;
      task.vars["answer"] = path->answer;
      task.messages = user_prompt_;
      calls.push_back({"peer", std::move(task), StepInfo{"path", {*path->last_step}}, nullptr});
    }
    ctx_->call_all(std::move(calls), [this, todo](std::vector<actors::RoleReply>& replies) {
      if (done_) return;
      // A transcript the budget refused is simply not recorded.
      for (size_t i = 0; i < replies.size(); ++i)
        if (replies[i].out.ok && !replies[i].step_seqs.empty()) todo[i]->transcript_step = replies[i].step_seqs.at(0);
      finish();
    });
  }

  // §2(e) (inferred), with a gold answer:
  // - a path's transcript is labelled by whether its final answer is right;
  // - a path wrong before a LeaP block and right after it has the segment
  //   after the block labelled good (learned from peers); right before and
  //   wrong after, bad. "Before" is the answer its text held at the end of
  //   the segment before the block, "after" at the end of the next segment
  //   (its final answer when that segment was its last);
  // - correct transcripts are preferred over incorrect ones (one prompt).
  void finish() {
    if (done_) return;
    done_ = true;
    const auto& gold = ctx_->input().gold;
    if (gold) {
      auto right = [&](const std::string& a) { return !a.empty() && scoring::answers_match(a, *gold); };
      std::vector<const Path*> good, bad;
      for (const auto& p : paths_) {
        bool ok = right(p.answer);
        for (size_t s = 0; s + 1 < p.segment_steps.size(); ++s) {
          bool last = s + 2 == p.segment_steps.size();
          bool before = right(p.segment_answers[s]);
          bool after = right(last ? p.answer : p.segment_answers[s + 1]);
          if (before != after) ctx_->label_step(p.segment_steps[s + 1], after);
        }
        if (!p.transcript_step) continue;
        ctx_->label_step(*p.transcript_step, ok);
        (ok ? good : bad).push_back(&p);
      }
      if (p_.pairs)
        for (const Path* g : good)
          for (const Path* b : bad)
            ctx_->add_pair(user_prompt_, *g->transcript_step, *b->transcript_step,
                           "gold: path " + std::to_string(g->id) + " answered correctly, path " +
                               std::to_string(b->id) + " did not (same prompt)");
    }
    ctx_->finish(answer_);
  }

  LeapParams p_;
  RunContext* ctx_ = nullptr;
  std::vector<Path> paths_;
  std::vector<memory::Message> user_prompt_;
  int segments_ = 0;          // segments done
  bool stopping_ = false;     // a budget ran out: conclude when the stage is back
  bool concluding_ = false;
  bool done_ = false;
  std::optional<Error> budget_error_;
  std::string answer_;
};

}  // namespace

Result<LeapParams> leap_params(const Workflow& wf) {
  auto p = read_leap_params(wf);
  if (!p.ok()) return p.error();
  // The role clips a call's max_tokens to its own limit: a limit below a
  // segment would silently shorten every segment.
  auto role = wf.roles.find("solver");
  if (role != wf.roles.end()) {
    int64_t limit = role->second.sampling.max_tokens;
    int64_t need = std::max({p->segment_tokens, p->summary_tokens, p->answer_tokens});
    if (limit < need)
      return Error{ErrorCode::invalid_argument,
                   wf.file + ": roles.solver.sampling.max_tokens is " + std::to_string(limit) +
                       ", below what LeaP asks of one call (" + std::to_string(need) +
                       ": the largest of segment_tokens, summary_tokens, answer_tokens); raise it"};
  }
  return p;
}

std::shared_ptr<actors::Pipeline> make_leap(LeapParams params) { return std::make_shared<Leap>(std::move(params)); }

actors::RoleSpec leap_role_spec(const std::string& role) {
  actors::RoleSpec spec = actors::default_role_spec(role);
  if (role == "solver") {
    // The user message is the question plus the LeaP instruction block
    // (mode leap) or a plain chain-of-thought request (mode leap_t).
    spec.template_text = "{question}{instruction}";
    // §2(b): sampling of the released scripts, summaries included. The
    // limit only caps a call; each call asks for T, 256, ... itself.
    spec.sampling.temperature = 0.6;
    spec.sampling.top_p = 0.95;
    spec.sampling.min_p = 0.05;
    spec.sampling.top_k = 40;
    spec.sampling.max_tokens = 4096;
  }
  return spec;
}

const PipelineDescriptor& leap_pipeline() {
  static const PipelineDescriptor d{
      &leap_rules(),
      [](const Workflow& wf) -> Result<PipelineFactory> {
        auto p = leap_params(wf);
        if (!p.ok()) return p.error();
        LeapParams params = *p;
        return PipelineFactory([params] { return make_leap(params); });
      },
      &leap_role_spec,
      [](const Workflow& wf, const std::string& role) -> std::optional<actors::ToolFn> {
        if (role != "peer") return std::nullopt;
        auto p = leap_params(wf);
        LeapParams params = p.ok() ? *p : LeapParams{};  // bad params already fail the factory
        return actors::ToolFn([params](const RoleTask& task) { return leap_peer_tool(params, task); });
      },
      nullptr};
  return d;
}

}  // namespace troupe::workflows
