#include "workflows/pipeline_rules.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ostream>
#include <stdexcept>
#include <system_error>

#include "scoring/levenshtein.hpp"
#include "workflows/pipeline_list.hpp"

namespace troupe::workflows {

// The registration list declares each pipeline's rules (NAME_rules(),
// defined in workflows/NAME/NAME_descriptor.cpp).
#define TROUPE_DECLARE_RULES(name) const PipelineRules& name##_rules();
TROUPE_PIPELINES(TROUPE_DECLARE_RULES)
#undef TROUPE_DECLARE_RULES

const std::vector<const PipelineRules*>& registered_pipeline_rules() {
#define TROUPE_RULES_ENTRY(name) &name##_rules(),
  static const std::vector<const PipelineRules*> all = {TROUPE_PIPELINES(TROUPE_RULES_ENTRY)};
#undef TROUPE_RULES_ENTRY
  return all;
}

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string lowered(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), lower);
  return s;
}

std::string range_text(const ParamBounds& b) {
  bool has_min = std::isfinite(b.min), has_max = std::isfinite(b.max);
  if (has_min && has_max)
    return b.min_exclusive ? "must be in (" + format_number(b.min) + ", " + format_number(b.max) + "]"
                           : "must be between " + format_number(b.min) + " and " + format_number(b.max);
  if (has_min) return b.min_exclusive ? "must be greater than " + format_number(b.min) : "must be at least " + format_number(b.min);
  return "must be at most " + format_number(b.max);
}

std::optional<std::string> check_range(const ParamBounds& b, double v, const std::string& text) {
  bool low = b.min_exclusive ? !(v > b.min) : v < b.min;
  if (low || v > b.max) return range_text(b) + ", got " + text;
  if (b.zero_forbidden && v == 0) return "must not be 0 (" + range_text(b) + ", 0 excepted), got " + text;
  return std::nullopt;
}

Error param_problem(const Workflow& wf, const std::string& key, const std::string& message) {
  return Error(ErrorCode::parse, param_location(wf, key) + message);
}

}  // namespace

std::optional<int64_t> parse_int_text(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double_text(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool_text(std::string_view s) {
  std::string t = lowered(std::string(s));
  if (t == "true" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

std::string join_names(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& c : candidates) {
    size_t d = scoring::edit_distance(lowered(word), lowered(c));
    if (d < best_distance) {
      best_distance = d;
      best = &c;
    }
  }
  if (!best || best_distance > 2 || 3 * best_distance > best->size()) return "";
  return " (did you mean '" + *best + "'?)";
}

std::string quote_value(const std::string& text) {
  if (text.size() <= 60) return "'" + text + "'";
  return "'" + text.substr(0, 57) + "...'";
}

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9007199254740992.0)
    return std::to_string(static_cast<int64_t>(v));
  return default_text(v);  // shortest round-trip form
}

std::optional<std::string> check_param_text(const ParamRule& rule, const std::string& text) {
  switch (rule.kind) {
    case ParamKind::integer: {
      auto v = parse_int_text(text);
      if (!v) return "expected an integer, got " + quote_value(text);
      return check_range(rule.bounds, static_cast<double>(*v), text);
    }
    case ParamKind::number: {
      auto v = parse_double_text(text);
      if (!v) return "expected a number, got " + quote_value(text);
      return check_range(rule.bounds, *v, text);
    }
    case ParamKind::boolean:
      if (!parse_bool_text(text)) return "expected true or false, got " + quote_value(text);
      return std::nullopt;
    case ParamKind::choice:
      if (std::find(rule.choices.begin(), rule.choices.end(), text) == rule.choices.end())
        return "expected one of " + join_names(rule.choices) + ", got " + quote_value(text) +
               did_you_mean(text, rule.choices);
      return std::nullopt;
    case ParamKind::string:
    case ParamKind::program:
      if (rule.bounds.non_empty && text.empty()) return std::string("must not be empty");
      return std::nullopt;
    case ParamKind::structured:
    case ParamKind::path:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string param_location(const Workflow& wf, const std::string& key) {
  auto it = wf.params.find(key);
  if (it == wf.params.end()) return wf.file + ": params." + key + ": ";
  return wf.file + ":" + std::to_string(it->second.line) + ":" + std::to_string(it->second.col) + ": params." + key +
         ": ";
}

namespace {

// The checked text of a param the workflow sets (nullptr when it does not).
const ParamValue* checked(const Workflow& wf, const ParamRule& rule, std::optional<Error>& error) {
  auto it = wf.params.find(rule.name);
  if (it == wf.params.end()) return nullptr;
  if (auto problem = check_param_text(rule, it->second.text)) error = param_problem(wf, rule.name, *problem);
  return &it->second;
}

}  // namespace

std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, int64_t& out) {
  std::optional<Error> error;
  const ParamValue* v = checked(wf, rule, error);
  if (error || !v) return error;
  out = *parse_int_text(v->text);
  return std::nullopt;
}

std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, int& out) {
  int64_t wide = out;
  if (auto e = read_param(wf, rule, wide)) return e;
  if (wide > std::numeric_limits<int>::max() || wide < std::numeric_limits<int>::min())
    return param_problem(wf, rule.name, std::to_string(wide) + " is out of range");
  out = static_cast<int>(wide);
  return std::nullopt;
}

std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, double& out) {
  std::optional<Error> error;
  const ParamValue* v = checked(wf, rule, error);
  if (error || !v) return error;
  out = *parse_double_text(v->text);
  return std::nullopt;
}

std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, bool& out) {
  std::optional<Error> error;
  const ParamValue* v = checked(wf, rule, error);
  if (error || !v) return error;
  out = *parse_bool_text(v->text);
  return std::nullopt;
}

std::optional<Error> read_param(const Workflow& wf, const ParamRule& rule, std::string& out) {
  std::optional<Error> error;
  const ParamValue* v = checked(wf, rule, error);
  if (error || !v) return error;
  out = v->text;
  return std::nullopt;
}

std::optional<Error> read_choice_index(const Workflow& wf, const ParamRule& rule, size_t& index) {
  std::optional<Error> error;
  const ParamValue* v = checked(wf, rule, error);
  if (error || !v) return error;
  index = static_cast<size_t>(std::find(rule.choices.begin(), rule.choices.end(), v->text) - rule.choices.begin());
  return std::nullopt;
}

const ParamRule& rule_named(const PipelineRules& rules, const std::string& key) {
  if (const ParamRule* r = rules.find(key)) return *r;
  throw std::logic_error("pipeline " + rules.name + " has no param rule '" + key + "'");
}

std::string default_text(int64_t v) { return std::to_string(v); }
std::string default_text(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
std::string default_text(bool v) { return v ? "true" : "false"; }
std::string default_text(const std::string& v) { return v; }

const std::vector<std::string>& backend_kind_names() {
  static const std::vector<std::string> names = {"http", "scripted", "local"};  // BackendKind order
  return names;
}

const std::string& to_string(BackendKind kind) { return backend_kind_names().at(static_cast<size_t>(kind)); }

BackendKind backend_kind_named(const std::string& name) {
  const auto& names = backend_kind_names();
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? BackendKind::http : static_cast<BackendKind>(it - names.begin());
}

std::ostream& operator<<(std::ostream& out, BackendKind kind) { return out << to_string(kind); }

// Typed access to params with defaults (workflow.hpp).

Result<int64_t> param_int(const Workflow& wf, const std::string& key, int64_t fallback) {
  auto it = wf.params.find(key);
  if (it == wf.params.end()) return fallback;
  auto parsed = parse_int_text(it->second.text);
  if (!parsed) return param_problem(wf, key, "expected an integer, got " + quote_value(it->second.text));
  return *parsed;
}

Result<double> param_double(const Workflow& wf, const std::string& key, double fallback) {
  auto it = wf.params.find(key);
  if (it == wf.params.end()) return fallback;
  auto parsed = parse_double_text(it->second.text);
  if (!parsed) return param_problem(wf, key, "expected a number, got " + quote_value(it->second.text));
  return *parsed;
}

Result<bool> param_bool(const Workflow& wf, const std::string& key, bool fallback) {
  auto it = wf.params.find(key);
  if (it == wf.params.end()) return fallback;
  auto parsed = parse_bool_text(it->second.text);
  if (!parsed) return param_problem(wf, key, "expected true or false, got " + quote_value(it->second.text));
  return *parsed;
}

std::string param_string(const Workflow& wf, const std::string& key, const std::string& fallback) {
  auto it = wf.params.find(key);
  return it == wf.params.end() ? fallback : it->second.text;
}

}  // namespace troupe::workflows
