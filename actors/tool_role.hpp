// A tool role: a role whose outputs come from C++ code instead of a model —
// LeaP's peer router, IAD's exact-answer or unit-test verifier, and the
// like. It speaks the role contract (RoleTask -> RoleOutput), so a pipeline
// calls it like any role and the run director records each candidate as a
// step (role, kind, parents, text, answer, verdict), which is how tool
// decisions such as routing end up in the trajectory.
//
// What callers may rely on: the function runs inside the tool's own actor,
// one task at a time, in arrival order; RoleOutput.role is set to the
// tool's name and calls stays 0 unless the function sets it (no model call
// was made). An exception thrown by the function becomes ok=false with
// error_code internal and the exception's text, never a crash. Each tool
// role runs on a thread of its own (a detached actor), so a function may
// block (IAD's command verifier waits for a subprocess) without holding a
// scheduler thread; such a function must end promptly once its run's
// cancel flag (actors/run_cancellation.hpp, by task.run_id) is set, because
// the role's later tasks and its shutdown wait for it.
#pragma once

#include <functional>
#include <string>

#include "actors/roles.hpp"

namespace troupe::actors {

using ToolFn = std::function<RoleOutput(const RoleTask& task)>;

role_actor spawn_tool_role(caf::actor_system& sys, std::string name, ToolFn fn);

}  // namespace troupe::actors
