#include "actors/tool_role.hpp"

#include <exception>

namespace troupe::actors {
namespace {

struct ToolState {
  std::string tool;
  ToolFn fn;
  static inline const char* name = "tool_role";
};

role_actor::behavior_type tool_role(role_actor::stateful_pointer<ToolState> self, std::string name, ToolFn fn) {
  self->state.tool = std::move(name);
  self->state.fn = std::move(fn);
  return {
      [self](RoleTask& task) -> RoleOutput {
        RoleOutput out;
        try {
          out = self->state.fn(task);
        } catch (const std::exception& e) {
          out = RoleOutput{};
          out.ok = false;
          out.error_code = static_cast<int>(ErrorCode::internal);
          out.error = "tool " + self->state.tool + ": " + e.what();
        } catch (...) {
          out = RoleOutput{};
          out.ok = false;
          out.error_code = static_cast<int>(ErrorCode::internal);
          out.error = "tool " + self->state.tool + ": unknown exception";
        }
        out.role = self->state.tool;
        if (out.backend.empty()) out.backend = "tool/" + self->state.tool;
        return out;
      },
  };
}

}  // namespace

role_actor spawn_tool_role(caf::actor_system& sys, std::string name, ToolFn fn) {
  // Detached: its own thread, so a blocking tool never stalls the scheduler
  // (and with it the director that would cancel it).
  return sys.spawn<caf::detached>(tool_role, std::move(name), std::move(fn));
}

}  // namespace troupe::actors
