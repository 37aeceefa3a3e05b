// A pipeline's parameter rules: the one table per pipeline from which the
// workflow-file loader's checks AND the pipeline's typed params struct are
// produced (docs/adding-a-pipeline.md). This header belongs to the loader
// (troupe_workflow_file): it knows nothing of actors, so a pipeline's rule
// table builds and is tested without the actor layer.
//
// What callers may rely on:
// - check_param_text(rule, text) is THE check of one value as written; the
//   loader and read_param() both use it, so a value the loader accepts is
//   one the typed reader accepts, and the other way round. Its message is
//   what follows "params.KEY: " in an error.
// - read_param() leaves the field at its default when the workflow does not
//   set the key; otherwise it checks and parses the value, and an error is
//   "FILE:LINE:COL: params.KEY: message" (ErrorCode::parse).
// - registered_pipeline_rules() lists every pipeline in the order of
//   workflows/pipeline_list.hpp; entries live for the whole program.
// - A CHOICE param's enum takes its enumerators in the order of the names
//   given: names[i] is the enumerator with value i.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/error.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

// structured: a YAML list or map, stored as JSON text (Archon's inline
// layers). path: a file name, stored absolute, resolved against the
// workflow file's folder like backend.fixture. program: a string that names
// a program to run (refused in untrusted workflows, docs/daemon.md).
enum class ParamKind { integer, number, boolean, string, choice, structured, path, program };

// Accepted range of a number (integer or number params).
struct ParamBounds {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;  // must be greater than min
  bool zero_forbidden = false;  // 0 is refused although in range (LeaP's top_k)
  bool non_empty = false;       // strings: must not be empty
};
inline ParamBounds any_value() { return {}; }
inline ParamBounds at_least(double min) { return {min}; }
inline ParamBounds between(double min, double max) { return {min, max}; }
inline ParamBounds above(double min) { return {min, std::numeric_limits<double>::infinity(), true}; }
inline ParamBounds above_at_most(double min, double max) { return {min, max, true}; }
inline ParamBounds at_least_not_zero(double min) {
  ParamBounds b{min};
  b.zero_forbidden = true;
  return b;
}
inline ParamBounds non_empty() {
  ParamBounds b;
  b.non_empty = true;
  return b;
}

struct ParamRule {
  std::string name;
  ParamKind kind = ParamKind::string;
  ParamBounds bounds;
  std::vector<std::string> choices;         // choice: accepted values, in enum order
  std::vector<std::string> program_values;  // choice: values that name a program (IAD's `command`)
  std::string default_text;                 // the default, as a workflow would write it
  std::string doc;
};

struct PipelineRules {
  std::string name;
  std::vector<std::string> roles;
  // Roles implemented in C++, not by a model (LeaP's peer router, LINC's
  // prover, ...); some only for some params (IAD's verifier).
  std::vector<std::string> tool_roles;
  std::vector<ParamRule> params;
  // The pipeline's typed reader over this table (its generated struct, the
  // cross-key checks left out): nullopt when every param reads.
  std::function<std::optional<Error>(const Workflow&)> read_typed;

  const ParamRule* find(const std::string& key) const {
    for (const auto& r : params)
      if (r.name == key) return &r;
    return nullptr;
  }
};

// Every pipeline the loader knows (workflows/pipeline_list.hpp).
const std::vector<const PipelineRules*>& registered_pipeline_rules();

// "must be at least 1, got 0"-style problem with `text` against `rule`, or
// nullopt. Structured and path values are not checked here (the loader
// checks their shape).
std::optional<std::string> check_param_text(const ParamRule& rule, const std::string& text);

// Scalars as a workflow writes them ("+3", "1e3", "yes"): nullopt when the
// text is not one.
std::optional<int64_t> parse_int_text(std::string_view s);
std::optional<double> parse_double_text(std::string_view s);
std::optional<bool> parse_bool_text(std::string_view s);

// Text helpers shared by the loader and the rules.
std::string join_names(const std::vector<std::string>& items);
// " (did you mean 'x'?)" when one candidate is within a likely typo (case
// ignored), else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
std::string quote_value(const std::string& text);
std::string format_number(double v);

// Typed reads of one param by its rule (see above).
std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, int64_t& out);
std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, int& out);
std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, double& out);
std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, bool& out);
std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, std::string& out);
std::optional<Error> read_choice_index(const Workflow& wf, const ParamRule& rule, size_t& index);
template <class E, class = std::enable_if_t<std::is_enum_v<E>>>
std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, E& out) {
  size_t index = static_cast<size_t>(out);
  if (auto e = read_choice_index(wf, rule, index)) return e;
  out = static_cast<E>(index);
  return std::nullopt;
}

// The rule named `key` of `rules` (throws std::logic_error if none: a table
// and its struct are generated from the same list, so that is a bug).
const ParamRule& rule_named(const PipelineRules& rules, const std::string& key);

std::string default_text(int64_t v);
std::string default_text(double v);
std::string default_text(bool v);
std::string default_text(const std::string& v);
inline std::string default_text(const char* v) { return v; }

// "FILE:LINE:COL: params.KEY: " for a key the workflow sets, "FILE: params.KEY: " otherwise.
std::string param_location(const Workflow& wf, const std::string& key);

}  // namespace troupe::workflows

// ---------------------------------------------------------------------------
// Generating a struct, a rule list and a reader from one table.
//
// A pipeline's table is a macro that takes five macros, one per kind of
// param, and lists the params in the order the loader reports them:
//
//   #define TROUPE_IAD_PARAMS(INT, NUMBER, BOOL, TEXT, CHOICE)
//     INT(int, candidates, 4, between(1, 1024), "N: solver samples per round")
//     NUMBER(judge_scale, 10, above(0), "the judge's scale")
//     BOOL(early_stop, true, "stop once the best score reaches max_score")
//     TEXT(verifier_command, "", ParamKind::program, any_value(), "the command verifier")
//     CHOICE(IadMode, mode, iad, kIadModeNames, "iad | no_feedback | best_of_n")
//
// INT(ctype, name, default, bounds, doc), NUMBER(name, default, bounds, doc),
// BOOL(name, default, doc), TEXT(name, default, kind, bounds, doc) with kind
// string, program, structured or path (bounds: any_value() or non_empty()), CHOICE(Enum, name, default enumerator,
// names, doc).
#define TROUPE_PF_INT(ctype, name, def, bounds, doc) ctype name = def;
#define TROUPE_PF_NUMBER(name, def, bounds, doc) double name = def;
#define TROUPE_PF_BOOL(name, def, doc) bool name = def;
#define TROUPE_PF_TEXT(name, def, kind, bounds, doc) std::string name = def;
#define TROUPE_PF_CHOICE(Enum, name, def, names, doc) Enum name = Enum::def;
// The struct's fields, with their defaults.
#define TROUPE_PARAM_FIELDS(TABLE) \
  TABLE(TROUPE_PF_INT, TROUPE_PF_NUMBER, TROUPE_PF_BOOL, TROUPE_PF_TEXT, TROUPE_PF_CHOICE)

#define TROUPE_PR_INT(ctype, name, def, bounds, doc) \
  ::troupe::workflows::ParamRule{#name, ::troupe::workflows::ParamKind::integer, bounds, {}, {}, \
                                 ::troupe::workflows::default_text(static_cast<int64_t>(def)), doc},
#define TROUPE_PR_NUMBER(name, def, bounds, doc) \
  ::troupe::workflows::ParamRule{#name, ::troupe::workflows::ParamKind::number, bounds, {}, {}, \
                                 ::troupe::workflows::default_text(static_cast<double>(def)), doc},
#define TROUPE_PR_BOOL(name, def, doc)                                                                    \
  ::troupe::workflows::ParamRule{#name, ::troupe::workflows::ParamKind::boolean, {}, {}, {}, \
                                 ::troupe::workflows::default_text(static_cast<bool>(def)), doc},
#define TROUPE_PR_TEXT(name, def, kind, bounds, doc) \
  ::troupe::workflows::ParamRule{#name, kind, bounds, {}, {}, ::troupe::workflows::default_text(def), doc},
#define TROUPE_PR_CHOICE(Enum, name, def, names, doc)                                                   \
  ::troupe::workflows::ParamRule{#name, ::troupe::workflows::ParamKind::choice, {}, names, {}, \
                                 names.at(static_cast<size_t>(Enum::def)), doc},
// The rule list, as a std::vector<ParamRule> initializer.
#define TROUPE_PARAM_RULES(TABLE) \
  std::vector<::troupe::workflows::ParamRule> { \
    TABLE(TROUPE_PR_INT, TROUPE_PR_NUMBER, TROUPE_PR_BOOL, TROUPE_PR_TEXT, TROUPE_PR_CHOICE) \
  }

#define TROUPE_PRD_ONE(name) \
  if (auto e = ::troupe::workflows::read_param(wf_, ::troupe::workflows::rule_named(rules_, #name), out_.name)) \
    return e;
#define TROUPE_PRD_INT(ctype, name, def, bounds, doc) TROUPE_PRD_ONE(name)
#define TROUPE_PRD_NUMBER(name, def, bounds, doc) TROUPE_PRD_ONE(name)
#define TROUPE_PRD_BOOL(name, def, doc) TROUPE_PRD_ONE(name)
#define TROUPE_PRD_TEXT(name, def, kind, bounds, doc) TROUPE_PRD_ONE(name)
#define TROUPE_PRD_CHOICE(Enum, name, def, names, doc) TROUPE_PRD_ONE(name)
// The body of a reader `std::optional<Error> f(const Workflow& wf_, const
// PipelineRules& rules_, Params& out_)`: reads every param of the table.
#define TROUPE_READ_PARAMS(TABLE) \
  TABLE(TROUPE_PRD_INT, TROUPE_PRD_NUMBER, TROUPE_PRD_BOOL, TROUPE_PRD_TEXT, TROUPE_PRD_CHOICE) \
  return std::nullopt;

// Defines `Result<Params> reader_fn(const Workflow&)`: Params with its
// defaults, every param the workflow sets read through rules_fn()'s rules.
#define TROUPE_DEFINE_PARAMS_READER(Params, TABLE, rules_fn, reader_fn)                      \
  ::troupe::Result<Params> reader_fn(const ::troupe::workflows::Workflow& wf_) {             \
    const ::troupe::workflows::PipelineRules& rules_ = rules_fn();                           \
    Params out_;                                                                             \
    auto read_all = [&]() -> std::optional<::troupe::Error> { TROUPE_READ_PARAMS(TABLE) };   \
    if (auto e = read_all()) return *e;                                                      \
    return out_;                                                                             \
  }

namespace troupe::workflows {
// PipelineRules::read_typed from a pipeline's generated reader.
template <class P>
std::function<std::optional<Error>(const Workflow&)> typed_reader(Result<P> (*read)(const Workflow&)) {
  return [read](const Workflow& wf) -> std::optional<Error> {
    auto r = read(wf);
    if (r.ok()) return std::nullopt;
    return r.error();
  };
}
}  // namespace troupe::workflows
