#include "actors/prover_actor.hpp"

#include <unordered_map>

#include "common/json_writer.hpp"
#include "prover_bridge/linc_text.hpp"
#include "prover_bridge/result_json.hpp"

namespace troupe::actors {
namespace {

// Internal: a Prover thread posting a decision back (legacy atom constant,
// so the shared type-ID block stays as it is).
using proved_atom = caf::atom_constant<caf::atom("proved")>;

using prover_actor = role_actor::extend<caf::reacts_to<proved_atom, uint64_t, RoleOutput>>;

struct ProverState {
  std::shared_ptr<prover::Prover> prover;
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<RoleOutput>> pending;
  static inline const char* name = "prover";
};

std::string record(const std::optional<prover::Problem>& problem, const prover::ProofResult& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().key("fol");
  if (problem) {
    w.begin_object().key("premises").begin_array();
    for (const auto& p : problem->premises) w.value(p);
    w.end_array().field("conclusion", problem->conclusion).end_object();
  } else {
    w.null();
  }
  w.key("result").raw(prover::proof_json(r, {}, true)).end_object();
  return out;
}

RoleOutput reply(const std::optional<prover::Problem>& problem, const prover::ProofResult& r, const std::string& prompt,
                 const std::string& backend) {
  RoleOutput out;
  out.role = "prover";
  out.prompt = {{"user", prompt}};
  out.backend = backend;
  out.latency_ms = r.ms;
  Candidate c;
  c.text = record(problem, r);
  c.answer = r.label;
  c.finish = r.label == "Error" ? "error" : "stop";
  out.candidates.push_back(std::move(c));
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

prover_actor::behavior_type prover_role(prover_actor::stateful_pointer<ProverState> self,
                                        std::shared_ptr<prover::Prover> prover) {
  self->state.prover = std::move(prover);
  return {
      [self](RoleTask& task) -> caf::result<RoleOutput> {
        auto& st = self->state;
        std::string backend = "eprover:" + st.prover->version();
        std::optional<prover::Problem> problem;
        std::string prompt;
        auto it = task.vars.find("translation");
        if (it != task.vars.end()) {
          prompt = it->second;
          auto p = prover::extract_fol_lines(it->second);
          if (!p.ok()) {
            prover::ProofResult r;
            r.label = "Error";
            r.error = "parse: " + p.error().message;
            return reply(std::nullopt, r, prompt, backend);
          }
          problem = std::move(p.value());
          problem->repair = true;  // model output: recover unambiguous slips (fol_repair.hpp)
        } else {
          problem.emplace();
          problem->premises = lines(task.vars["premises"]);
          problem->conclusion = task.vars["conclusion"];
          prompt = task.vars["premises"] + "\n⊢ " + problem->conclusion;
        }
        uint64_t token = st.next_token++;
        auto promise = self->make_response_promise<RoleOutput>();
        st.pending.emplace(token, promise);
        // The handle keeps the actor addressable from the Prover's thread;
        // a send to an actor that has since stopped is dropped.
        prover_actor handle = caf::actor_cast<prover_actor>(self);
        st.prover->submit(*problem, [handle, problem, prompt, backend, token](prover::ProofResult r) {
          caf::anon_send(handle, proved_atom::value, token, reply(problem, r, prompt, backend));
        });
        return promise;
      },
      [self](proved_atom, uint64_t token, RoleOutput& out) {
        auto it = self->state.pending.find(token);
        if (it == self->state.pending.end()) return;
        it->second.deliver(std::move(out));
        self->state.pending.erase(it);
      },
  };
}

}  // namespace

role_actor spawn_prover_role(caf::actor_system& sys, std::shared_ptr<prover::Prover> prover) {
  return caf::actor_cast<role_actor>(sys.spawn(prover_role, std::move(prover)));
}

}  // namespace troupe::actors
