// LINC — LLM + first-order logic prover (Olausson et al., EMNLP 2023), as
// specified in pipelines.md §5: the translator writes K samples of TEXT/FOL
// lines, a prover decides each sample, and the majority of the non-Error
// labels is the answer.
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "actors/prover_actor.hpp"
#include "actors/roles.hpp"
#include "workflows/linc/linc_descriptor.hpp"
#include "workflows/linc/linc_prompt.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {
namespace {

using actors::RoleOutput;
using actors::RoleTask;
using actors::RunContext;
using actors::StepInfo;

struct Sample {
  uint64_t translation_step = 0;
  std::string label = "Error";  // until the prover says otherwise
  bool decided = false;
};

std::string canonical_label(std::string s) {
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "true") return "True";
  if (lower == "false") return "False";
  if (lower == "uncertain" || lower == "unknown") return "Uncertain";
  return s;
}

// The input's premises: a JSON array of sentences, or one string with one
// sentence per line.
Result<std::vector<std::string>> input_premises(const actors::RunInput& in) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(in.raw_json).get(doc) || !doc.is_object())
    return Error{ErrorCode::invalid_argument, "LINC input " + in.item_id + ": not a JSON object"};
  simdjson::dom::element p;
  if (doc["premises"].get(p))
    return Error{ErrorCode::invalid_argument, "LINC input " + in.item_id +
                                                  ": missing \"premises\" (a list of sentences; the conclusion goes in \"question\")"};
  std::vector<std::string> out;
  if (p.is_string()) {
    std::string_view s = p.get_string();
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find('\n', pos);
      if (end == std::string_view::npos) end = s.size();
      if (end > pos) out.emplace_back(s.substr(pos, end - pos));
      pos = end + 1;
    }
  } else if (p.is_array()) {
    for (auto x : p.get_array()) {
      if (!x.is_string())
        return Error{ErrorCode::invalid_argument, "LINC input " + in.item_id + ": \"premises\" must hold strings"};
      out.emplace_back(std::string_view(x.get_string()));
    }
  } else {
    return Error{ErrorCode::invalid_argument, "LINC input " + in.item_id + ": \"premises\" must be a list of strings"};
  }
  if (out.empty()) return Error{ErrorCode::invalid_argument, "LINC input " + in.item_id + ": \"premises\" is empty"};
  return out;
}

class Linc : public actors::Pipeline {
 public:
  explicit Linc(LincParams p) : p_(p) {}

  void start(RunContext& ctx) override {
    ctx_ = &ctx;
    auto premises = input_premises(ctx.input());
    if (!premises.ok()) return ctx.fail(premises.error());
    std::string joined;
    for (const auto& s : *premises) joined += (joined.empty() ? "" : "\n") + s;
    translate(joined, ctx.input().question);
  }

 private:
  // §5(a) steps 1–2: K translations of the premises and the conclusion.
  void translate(const std::string& premises, const std::string& conclusion) {
    RoleTask task;
    task.vars["premises"] = premises;
    task.vars["conclusion"] = conclusion;
    task.n = p_.samples;
    ctx_->call("translator", task, StepInfo{"translation", {}},
               [this](const RoleOutput& out, const std::vector<uint64_t>& steps) {
                 if (!out.ok || out.candidates.empty())
                   return ctx_->fail(Error{static_cast<ErrorCode>(out.error_code), "translator: " + out.error});
                 prompt_ = out.prompt;
                 samples_.resize(out.candidates.size());
                 std::vector<actors::RoleCall> proofs;
                 for (size_t i = 0; i < out.candidates.size(); ++i) {
                   samples_[i].translation_step = steps.at(i);
                   proofs.push_back(proof_call(i, out.candidates[i].text));
                 }
                 prove(std::move(proofs));
               });
  }

  // §5(a) steps 3–5: one prover call per sample; its FOL lines are parsed,
  // proved both ways, and labelled (Error on any failure).
  actors::RoleCall proof_call(size_t i, const std::string& translation) const {
    RoleTask task;
    task.vars["translation"] = translation;
    return {"prover", std::move(task), StepInfo{"proof", {samples_[i].translation_step}}, nullptr};
  }

  void prove(std::vector<actors::RoleCall> proofs) {
    ctx_->call_all(std::move(proofs), [this](std::vector<actors::RoleReply>& replies) {
      for (size_t i = 0; i < replies.size(); ++i) {
        Sample& s = samples_[i];
        s.decided = true;
        if (replies[i].out.ok && !replies[i].out.candidates.empty()) s.label = replies[i].out.candidates[0].answer;
      }
      conclude();
    });
  }

  // §5(a) step 6: majority over the non-Error labels, ties to the label
  // seen first; all Error -> Error. §5(e): labels and preference pairs.
  void conclude() {
    std::map<std::string, int> votes;
    std::vector<std::string> order;
    for (const auto& s : samples_) {
      if (s.label == "Error") continue;
      if (votes[s.label]++ == 0) order.push_back(s.label);
    }
    std::string answer = "Error";
    int best = 0;
    for (const auto& label : order)
      if (votes[label] > best) {
        best = votes[label];
        answer = label;
      }
    if (const auto& gold = ctx_->input().gold) {
      std::string g = canonical_label(*gold);
      std::vector<const Sample*> chosen, rejected;
      for (const auto& s : samples_) {
        bool good = s.label == g;
        ctx_->label_step(s.translation_step, good);
        (good ? chosen : rejected).push_back(&s);
      }
      for (const auto* c : chosen)
        for (const auto* r : rejected)
          ctx_->add_pair(prompt_, c->translation_step, r->translation_step,
                         r->label == "Error" ? "gold " + g + ": proved label matches gold over a translation that errored"
                                             : "gold " + g + ": proved label matches gold over " + r->label);
    }
    ctx_->finish(answer);
  }

  LincParams p_;
  RunContext* ctx_ = nullptr;
  std::vector<memory::Message> prompt_;
  std::vector<Sample> samples_;
};

}  // namespace

// The E prover behind the `prover` role, from the params (prover,
// cpu_limit_s, prover_timeout_s, prover_jobs). Fails, naming the workflow
// file, when eprover cannot be run; the actor owns it from then on.
Result<std::optional<actors::role_actor>> linc_actor_role(caf::actor_system& sys, const Workflow& wf,
                                                          const std::string& role) {
  if (role != "prover") return std::optional<actors::role_actor>();
  auto params = read_linc_params(wf);
  if (!params.ok()) return params.error();
  prover::ProverOptions o;
  o.eprover = params->prover;
  o.cpu_limit_s = params->cpu_limit_s;
  o.timeout_s = params->prover_timeout_s;
  o.jobs = params->prover_jobs;
  auto p = prover::Prover::create(o);
  if (!p.ok()) return p.error().with_context(wf.file + ": the prover role");
  return std::optional<actors::role_actor>(actors::spawn_prover_role(sys, *p));
}

const PipelineDescriptor& linc_pipeline() {
  static const PipelineDescriptor d{&linc_rules(),
                                    factory_from<Linc>(&read_linc_params),
                                    [](const std::string& role) {
                                      if (role == "translator") return linc_translator_spec();
                                      return actors::default_role_spec(role);
                                    },
                                    nullptr, &linc_actor_role};
  return d;
}

}  // namespace troupe::workflows
