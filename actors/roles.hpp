// Role actors: solver, verifier (and, as the pipelines grow, clarifier,
// peer, critic, fuser, ranker). A role holds its prompt templates and
// sampling parameters, renders a RoleTask's variables into chat messages,
// asks the engine gateway, parses what comes back (the solver extracts a
// final answer, the verifier a Yes/No verdict) and replies with a
// RoleOutput. A role never fails its caller with a CAF error for things
// the model or backend did: those come back as RoleOutput{ok=false}.
// A verifier whose output has no verdict re-asks up to parse_retries times
// (counted in RoleOutput::calls); after that the candidate keeps verdict -1.
#pragma once

#include <map>
#include <string>

#include "actors/engine_gateway.hpp"
#include "actors/messages.hpp"

namespace troupe::actors {

using role_actor = caf::typed_actor<caf::replies_to<RoleTask>::with<RoleOutput>>;

// How a role parses its model's output.
enum class RoleKind { solver, verifier, plain };

struct RoleSpec {
  std::string name;  // as named in the workflow: "solver", "verifier"
  RoleKind kind = RoleKind::plain;
  std::string system;         // system prompt ("" = none)
  std::string template_text;  // user prompt with {var} placeholders
  engine::SamplingParams sampling;
  int parse_retries = 1;
  std::string model;          // backend model name ("" = backend default)
  std::string backend_label;  // recorded with each step
};

// The built-in defaults for a role name (templates a user may override).
RoleSpec default_role_spec(const std::string& name);

// Replaces {name} with vars[name] for every name in vars; any other text,
// including braces such as \boxed{}, is left as written.
std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars);

role_actor spawn_role(caf::actor_system& sys, RoleSpec spec, engine_gateway gateway);

}  // namespace troupe::actors
