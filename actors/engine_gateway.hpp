// The engine gateway: the one actor that owns a Backend. Roles ask it to
// generate; it submits to the backend (which never blocks) and answers with
// a GenerateOutcome when the backend's callback fires. The callback runs on
// a backend thread, so it only posts a message back to the gateway; the
// reply is delivered from inside the actor. No scheduler thread ever waits
// on the model. cancel_run cancels every in-flight request of that run in
// the backend; their replies still arrive (marked cancelled).
#pragma once

#include <memory>
#include <string>

#include "actors/messages.hpp"

namespace troupe::actors {

using engine_gateway = caf::typed_actor<
    caf::replies_to<generate_atom, std::string /*run id*/, engine::GenerateRequest>::with<GenerateOutcome>,
    caf::reacts_to<cancel_run_atom, std::string /*run id*/>,
    // Internal: the backend's callback posting its result back.
    caf::reacts_to<generated_atom, uint64_t, GenerateOutcome>>;

engine_gateway spawn_engine_gateway(caf::actor_system& sys, std::shared_ptr<engine::Backend> backend);

}  // namespace troupe::actors
