#include "workflows/workflow_actors.hpp"

#include "actors/journal.hpp"
#include "common/clock.hpp"

namespace troupe::workflows {
namespace {

actors::RoleSpec role_spec(const Workflow& wf, const std::string& name, const engine::BackendInfo& info) {
  actors::RoleSpec spec = pipeline_role_spec(wf.pipeline, name);
  auto it = wf.roles.find(name);
  if (it != wf.roles.end()) {
    const RoleConfig& rc = it->second;
    if (!rc.system.empty()) spec.system = rc.system;
    if (!rc.template_text.empty()) spec.template_text = rc.template_text;
    spec.sampling = rc.sampling;
    spec.parse_retries = rc.parse_retries;
  }
  spec.model = wf.backend.model;
  spec.backend_label = info.kind + ":" + (wf.backend.model.empty() ? info.model : wf.backend.model);
  return spec;
}

}  // namespace

Result<WorkflowActors> spawn_workflow_actors(caf::actor_system& sys, Workflow wf, actors::engine_gateway gateway,
                                             const engine::BackendInfo& info) {
  WorkflowActors wa;
  auto factory = make_pipeline_factory(wf);
  if (!factory.ok()) return factory.error();
  wa.factory = *factory;
  for (const auto& schema : pipeline_schemas()) {
    if (schema.name != wf.pipeline) continue;
    for (const auto& role : schema.roles) {
      auto own = pipeline_actor_role(sys, wf, role);
      if (!own.ok()) {
        stop_workflow_actors(wa);
        return own.error();
      }
      if (*own) {
        wa.roles.emplace(role, std::move(**own));
        wa.role_identity[role] = role;
        continue;
      }
      if (auto tool = pipeline_tool_role(wf, role)) {
        wa.roles.emplace(role, actors::spawn_tool_role(sys, role, std::move(*tool)));
        wa.role_identity[role] = "tool:" + role;
        continue;
      }
      actors::RoleSpec spec = role_spec(wf, role, info);
      wa.role_identity[role] = actors::role_identity(spec);
      wa.roles.emplace(role, actors::spawn_role(sys, std::move(spec), gateway));
    }
  }
  wa.wf = std::move(wf);
  return wa;
}

void stop_workflow_actors(WorkflowActors& wa) {
  for (auto& [name, r] : wa.roles) caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  wa.roles.clear();
}

actors::DirectorConfig director_config(const WorkflowActors& wa, std::string run_id, actors::RunInput input,
                                       actors::engine_gateway gateway, actors::store_writer writer) {
  actors::DirectorConfig dc;
  dc.run_id = std::move(run_id);
  dc.workflow = wa.wf.name;
  dc.workflow_hash = wa.wf.text_hash;
  dc.pipeline_name = wa.wf.pipeline;
  dc.input = std::move(input);
  dc.budget = {wa.wf.budget.max_calls, wa.wf.budget.max_tokens, wa.wf.budget.wall_time_s};
  dc.roles = wa.roles;
  dc.role_identity = wa.role_identity;
  dc.gateway = std::move(gateway);
  dc.writer = std::move(writer);
  dc.pipeline = wa.factory();
  return dc;
}

memory::RunRecord lost_run_record(const Workflow& wf, const std::string& run_id, const actors::RunInput& input,
                                  const std::string& error) {
  memory::RunRecord r;
  r.id = run_id;
  r.workflow = wf.name;
  r.workflow_hash = wf.text_hash;
  r.pipeline = wf.pipeline;
  r.item_id = input.item_id;
  r.input_json = input.raw_json;
  r.gold = input.gold.value_or("");
  r.status = memory::RunStatus::failed;
  r.error = error;
  r.created_ms = r.updated_ms = now_unix_ms();
  return r;
}

}  // namespace troupe::workflows
