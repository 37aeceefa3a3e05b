// Archon's descriptor, runtime half (docs/adding-a-pipeline.md): the
// factory, which reads the table's params (archon_descriptor.hpp), the
// config file or inline layers, and the roles' overrides, and checks them
// against each other.
#include "actors/roles.hpp"
#include "workflows/archon/archon.hpp"
#include "workflows/archon/archon_descriptor.hpp"
#include "workflows/archon/archon_parse.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

// An Archon config is a few KB; anything near this is not one.
constexpr size_t kMaxArchonConfigBytes = 4u << 20;

namespace {

Result<PipelineFactory> archon_factory(const Workflow& wf) {
  auto params = read_archon_params(wf);
  if (!params.ok()) return params.error();
  bool has_config = wf.params.count("config") > 0, has_layers = wf.params.count("layers") > 0;
  if (has_config && has_layers)
    return Error{ErrorCode::invalid_argument, param_location(wf, "layers") + "give either 'config' or 'layers', not both"};
  if (!has_config && !has_layers)
    return Error{ErrorCode::invalid_argument,
                 wf.file + ": pipeline 'archon' needs params.config (an Archon JSON file) or params.layers (inline)"};
  if (wf.roles.count("orchestrator"))
    return Error{ErrorCode::invalid_argument,
                 wf.file + ": roles.orchestrator: the orchestrator is not a model (it records layers and the final "
                           "choice) and takes no settings"};
  Result<ArchonConfig> config = Error{};
  if (has_config) {
    std::string path = wf.params.at("config").text;
    // A regular file inside the workflow's folder, of bounded size (the
    // trust model: docs/daemon.md).
    auto text = read_param_file(wf, "config", kMaxArchonConfigBytes);
    if (!text.ok()) return text.error();
    config = parse_archon_json(*text, path);
  } else {
    std::string where = param_location(wf, "layers");
    config = parse_archon_json(wf.params.at("layers").text, where.substr(0, where.size() - 2));
  }
  if (!config.ok()) return config.error();
  ArchonOptions o;
  o.seed = params->seed;
  o.parse_retries = params->parse_retries;
  o.warn_candidates = params->warn_candidates;
  o.verifier_reasoning_template = params->verifier_reasoning_template;
  auto role = [&](const std::string& name) { return wf.roles.count(name) ? &wf.roles.at(name) : nullptr; };
  if (const auto* v = role("verifier"); v && !v->system.empty()) o.verifier_system = v->system;
  if (const auto* g = role("generator"); g && !g->template_text.empty()) o.generator_template = g->template_text;
  ArchonConfig c = std::move(config.value());
  // Unit tests reach generators only through {unit_tests}: a generator
  // template without it would silently drop them.
  bool has_tests = false;
  for (const auto& layer : c.layers)
    for (const auto& comp : layer) has_tests = has_tests || comp.type == "unit_test_generator";
  if (has_tests && !o.generator_template.empty() && o.generator_template.find("{unit_tests}") == std::string::npos)
    return Error{ErrorCode::invalid_argument,
                 wf.file + ": roles.generator.template has no {unit_tests}, but the config has a unit_test_generator: "
                           "its tests would never reach the generators"};
  return PipelineFactory([c, o] { return make_archon(c, o); });
}

}  // namespace

const PipelineDescriptor& archon_pipeline() {
  static const PipelineDescriptor d{&archon_rules(), &archon_factory, &archon_role_spec, &archon_tool_role, nullptr};
  return d;
}

}  // namespace troupe::workflows
