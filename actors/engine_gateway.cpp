#include "actors/engine_gateway.hpp"

#include <unordered_map>
#include <unordered_set>

#include "common/ids.hpp"

namespace troupe::actors {
namespace {

struct Pending {
  std::string run_id;
  std::string request_id;
  caf::typed_response_promise<GenerateOutcome> promise;
};

struct GatewayState {
  std::shared_ptr<engine::Backend> backend;
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, Pending> pending;
  static inline const char* name = "engine_gateway";
};

engine_gateway::behavior_type gateway(engine_gateway::stateful_pointer<GatewayState> self,
                                      std::shared_ptr<engine::Backend> backend) {
  self->state.backend = std::move(backend);
  return {
      [=](generate_atom, std::string run_id, engine::GenerateRequest req) -> caf::result<GenerateOutcome> {
        if (req.id.empty()) req.id = new_id("req");
        uint64_t token = self->state.next_token++;
        auto promise = self->make_response_promise<GenerateOutcome>();
        self->state.pending.emplace(token, Pending{run_id, req.id, promise});
        // The handle is a strong reference; the callback may outlive this
        // behaviour, and anon_send to a dead actor is a no-op.
        engine_gateway handle = caf::actor_cast<engine_gateway>(self);
        self->state.backend->submit(std::move(req), [handle, token](Result<engine::GenerateResult> r) {
          GenerateOutcome out;
          if (r.ok()) {
            out.result = std::move(r.value());
          } else {
            out.ok = false;
            out.error_code = static_cast<int>(r.error().code);
            out.http_status = r.error().http_status;
            out.error = r.error().describe();
          }
          caf::anon_send(handle, generated_atom_v, token, std::move(out));
        });
        return promise;
      },
      [=](cancel_run_atom, const std::string& run_id) {
        for (auto& [token, p] : self->state.pending)
          if (p.run_id == run_id) self->state.backend->cancel(p.request_id);
      },
      [=](generated_atom, uint64_t token, GenerateOutcome& out) {
        auto it = self->state.pending.find(token);
        if (it == self->state.pending.end()) return;
        it->second.promise.deliver(std::move(out));
        self->state.pending.erase(it);
      },
  };
}

}  // namespace

engine_gateway spawn_engine_gateway(caf::actor_system& sys, std::shared_ptr<engine::Backend> backend) {
  return sys.spawn(gateway, std::move(backend));
}

}  // namespace troupe::actors
