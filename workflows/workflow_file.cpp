// The workflow-file loader: YAML text -> a validated Workflow, or the first
// problem as "FILE:LINE:COL: message". See workflow.hpp for the file shape.
//
// Inside this file a problem is thrown as a Failure and caught in
// parse_workflow(), which turns it into an Error value; nothing escapes.
#include "workflows/workflow.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "common/ids.hpp"
#include "common/json_writer.hpp"
#include "common/yaml_read.hpp"
#include "workflows/param_file.hpp"

namespace troupe::workflows {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// The pipelines the loader knows. To add a pipeline, add a row: its roles, and
// its params with their type and the values they accept. Values are checked at
// load time; pipelines read them with param_int() & co.

// structured: a YAML list or map, stored as JSON text (Archon's inline
// layers). path: a file name, stored absolute, resolved against the
// workflow file's folder like backend.fixture.
enum class ParamKind { integer, number, boolean, string, structured, path };

struct ParamRule {
  std::string name;
  ParamKind kind;
  std::optional<double> min;         // integer / number: smallest value accepted
  std::vector<std::string> choices;  // string: accepted values (empty = any)
};

struct PipelineRules {
  std::string name;
  std::vector<std::string> roles;
  std::vector<ParamRule> params;
};

const std::vector<PipelineRules>& pipeline_table() {
  static const std::vector<PipelineRules> table = {
      // SPOC (pipelines.md §1): solver and verifier alternate until the
      // verifier says correct or max_turns is reached. mode "explicit" runs
      // them as separate messages; "single_pass" streams one generation.
      {"spoc",
       {"solver", "verifier"},
       {{"max_turns", ParamKind::integer, 1, {}},
        {"mode", ParamKind::string, std::nullopt, {"explicit", "single_pass"}},
        // The user message that sends a rejected attempt back to the solver
        // (read by workflows/spoc.cpp).
        {"feedback_template", ParamKind::string, std::nullopt, {}}}},
      // LINC (pipelines.md §5): the translator writes `samples` FOL
      // translations; the prover role (the E prover, not a model) decides
      // each; read by workflows/linc.cpp.
      {"linc",
       {"translator", "prover"},
       {{"samples", ParamKind::integer, 1, {}},
        {"prover", ParamKind::string, std::nullopt, {}},         // eprover path
        {"cpu_limit_s", ParamKind::number, 1, {}},               // E's --cpu-limit per call
        {"prover_timeout_s", ParamKind::number, 0, {}},          // wall-clock kill; 0 = 2 x cpu + 2 s
        {"prover_jobs", ParamKind::integer, 0, {}}}},            // problems at once; 0 = cores / 2
      // LeaP (pipelines.md §2); read by workflows/leap.cpp.
      {"leap",
       {"solver", "peer"},  // peer: the router (C++, a tool role), not a model
       {{"paths", ParamKind::integer, 1, {}},           // N
        {"segment_tokens", ParamKind::integer, 1, {}},  // T
        {"max_turns", ParamKind::integer, 1, {}},       // M segments
        {"summary_tokens", ParamKind::integer, 1, {}},
        {"answer_tokens", ParamKind::integer, 1, {}},
        {"top_k", ParamKind::integer, -1, {}},          // -1 = all peers; 0 is rejected by leap.cpp
        {"router", ParamKind::string, std::nullopt, {"dispersed", "clustered", "hybrid", "random"}},
        {"mode", ParamKind::string, std::nullopt, {"leap", "leap_t"}},
        {"seed", ParamKind::integer, std::nullopt, {}},
        {"finish_on_eos", ParamKind::boolean, std::nullopt, {}},
        {"answer_prefix", ParamKind::string, std::nullopt, {}},
        {"instruction", ParamKind::string, std::nullopt, {}},  // replaces the LeaP block / CoT request
        {"prefill", ParamKind::string, std::nullopt, {}},      // replaces the prefilled recap
        {"pairs", ParamKind::boolean, std::nullopt, {}}}},
      // IAD (pipelines.md §3); read by workflows/iad.cpp.
      {"iad",
       {"solver", "verifier", "critic"},
       {{"candidates", ParamKind::integer, 1, {}},                                 // N per round
        {"rounds", ParamKind::integer, 0, {}},                                     // T feedback rounds
        {"mode", ParamKind::string, std::nullopt, {"iad", "no_feedback", "best_of_n"}},
        {"verifier", ParamKind::string, std::nullopt, {"judge", "exact", "command"}},
        {"verifier_command", ParamKind::string, std::nullopt, {}},                 // verifier: command
        {"verifier_timeout_s", ParamKind::number, 0, {}},
        {"verifier_cpu_s", ParamKind::number, 1, {}},                              // command sandbox limits
        {"verifier_memory_mb", ParamKind::integer, 16, {}},
        {"verifier_file_mb", ParamKind::integer, 1, {}},
        {"verifier_processes", ParamKind::integer, 1, {}},
        {"judge_scale", ParamKind::number, 0, {}},                                 // "Score: X/scale"
        {"critique", ParamKind::boolean, std::nullopt, {}},                        // v4 critic in the feedback
        {"max_score", ParamKind::number, 0, {}},                                   // early-stop score in (0, 1]
        {"early_stop", ParamKind::boolean, std::nullopt, {}},
        {"seed", ParamKind::integer, std::nullopt, {}},
        {"feedback_template", ParamKind::string, std::nullopt, {}},
        {"critique_template", ParamKind::string, std::nullopt, {}}}},
      // Archon (pipelines.md §4); read by workflows/archon.cpp.
      // The orchestrator role is not a model: it records each layer's state
      // and the final choice as steps. Either `config` (an Archon JSON file)
      // or `layers` (the same shape inline) gives the system.
      {"archon",
       {"generator", "critic", "ranker", "fuser", "verifier", "unit_test_generator", "unit_test_evaluator",
        "orchestrator"},
       {{"config", ParamKind::path, std::nullopt, {}},
        {"layers", ParamKind::structured, std::nullopt, {}},
        {"seed", ParamKind::integer, std::nullopt, {}},             // the final choice: seed + item id
        {"parse_retries", ParamKind::integer, 0, {}},               // critic/verifier/unit tests (§4(d): 10)
        {"warn_candidates", ParamKind::integer, 1, {}},             // note a layer above this many (32)
        {"verifier_reasoning_template", ParamKind::string, std::nullopt, {}}}},
      // Chain-of-Clarifications (pipelines.md §6); read by workflows/coc.cpp
      // (docs/coc.md). The judge role is C++ (ROUGE-L against the gold answer).
      {"coc",
       {"clarifier", "grounder", "solver", "verifier", "judge"},
       {{"mode", ParamKind::string, std::nullopt, {"inference", "tree"}},
        {"chunk_tokens", ParamKind::integer, 1, {}},           // approximate tokens per <para i>
        {"questions", ParamKind::integer, 1, {}},              // inference: questions per round
        {"max_rounds", ParamKind::integer, 1, {}},             // inference: rounds at most
        {"width", ParamKind::integer, 1, {}},                  // tree: children per node
        {"depth", ParamKind::integer, 1, {}},                  // tree: expanded levels
        {"seed", ParamKind::integer, std::nullopt, {}},        // paraphrase draws (with the item id)
        {"context_field", ParamKind::string, std::nullopt, {}},
        {"system_prompt", ParamKind::string, std::nullopt, {}},
        {"inference_temperature", ParamKind::number, 0, {}},   // solver, inference mode
        {"judge_bonus", ParamKind::boolean, std::nullopt, {}}, // tree: +1 from an LLM judge
        {"node_pairs", ParamKind::boolean, std::nullopt, {}}}},
  };
  return table;
}

// Names accepted in backend.unsupported: the sampling parameters a server may
// be unable to honour, and prefix continuation.
const std::vector<std::string>& unsupported_names() {
  static const std::vector<std::string> names = {
      "n",    "temperature", "top_p", "top_k",    "min_p", "seed",
      "stop", "max_tokens",  "logprobs", "continue_final_message"};
  return names;
}

const std::vector<std::string> kTopKeys = {"name",  "pipeline", "backend", "store",
                                           "roles", "params",   "budget",  "concurrency"};
const std::vector<std::string> kBackendKeys = {
    "kind",          "url",         "model",          "api",        "api_key_env",
    "stream",        "timeout_s",   "connect_timeout_s", "max_in_flight", "max_retries",
    "backoff_ms",    "backoff_max_ms", "unsupported", "on_unsupported", "fixture",
    "model_file",    "tokenizer",   "chat_template",  "threads",    "kv_mb",
    "context",       "kv_type",     "urls",           "replicas",   "routing"};
const std::vector<std::string> kRoutingKeys = {"policy",            "beta",     "overload_ratio", "eject_after",
                                               "health_interval_s", "health_timeout_s"};
const std::vector<std::string> kStoreKeys = {"path"};
const std::vector<std::string> kRoleKeys = {"system", "template", "sampling", "parse_retries"};
const std::vector<std::string> kSamplingKeys = {"n",          "temperature", "top_p",
                                                "top_k",      "min_p",       "max_tokens",
                                                "seed",       "stop",        "logprobs"};
const std::vector<std::string> kBudgetKeys = {"max_calls", "max_tokens", "wall_time_s"};

// ---------------------------------------------------------------------------
// Small text helpers.

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Levenshtein distance, case-insensitive.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The closest candidate when it is close enough to be a likely typo.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  if (!best || best_distance > 2 || 3 * best_distance > best->size()) return std::nullopt;
  return best;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto c = closest(word, candidates);
  return c ? " (did you mean '" + *c + "'?)" : "";
}

std::string quote_value(const std::string& text) {
  if (text.size() <= 60) return "'" + text + "'";
  return "'" + text.substr(0, 57) + "...'";
}

std::string location(const std::string& file, int line, int col) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
}

std::string location(const std::string& file, const YAML::Mark& mark) {
  // yaml-cpp marks are 0-based; an unset mark is -1.
  return location(file, std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1);
}

// ---------------------------------------------------------------------------
// Scalar parsing, shared by the loader and param_*().

std::optional<int64_t> parse_int(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view s) {
  std::string t(s);
  std::transform(t.begin(), t.end(), t.begin(), lower);
  if (t == "true" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The loader.

struct Failure {
  Error error;
};

// One `key: value` of a map, with the dotted path used in messages.
struct Entry {
  std::string key;
  std::string path;  // "backend.timeout_s"
  YAML::Mark key_mark;
  YAML::Node value;
  // Where to point for a problem with the value (a missing value has no
  // useful mark of its own: point at its key).
  YAML::Mark mark() const { return value.IsNull() ? key_mark : value.Mark(); }
};

// A map, its keys checked against the allowed ones.
struct Section {
  std::string path;  // "" for the top level
  YAML::Mark mark;   // the map itself (for missing keys)
  std::vector<Entry> entries;

  const Entry* find(const std::string& key) const {
    for (const auto& e : entries)
      if (e.key == key) return &e;
    return nullptr;
  }
};

class Loader {
 public:
  explicit Loader(std::string file, LoadOptions options = {}) : file_(std::move(file)), options_(std::move(options)) {}

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& message) const {
    throw Failure{Error(ErrorCode::parse, location(file_, mark) + message)};
  }

  static std::string describe(const YAML::Node& node) {
    if (node.IsNull()) return "nothing";
    if (node.IsMap()) return "a map";
    if (node.IsSequence()) return "a list";
    return quote_value(node.Scalar());
  }

  // `node` as a map whose keys must be in `allowed`. A missing value (`key:`
  // with nothing after it) reads as an empty map when `null_ok`.
  Section section(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                  const std::vector<std::string>& allowed, const std::string& allowed_note = "",
                  bool null_ok = true) const {
    Section s{path, mark, {}};
    if (node.IsNull() && null_ok) return s;
    if (!node.IsMap()) fail(mark, path + ": expected a map, got " + describe(node));
    s.mark = node.Mark();
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: the iterator's -> yields a temporary pair (yaml-cpp).
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) fail(k.Mark(), "expected a key name " + where(path) + ", got " + describe(k));
      std::string key = k.Scalar();
      if (s.find(key)) fail(k.Mark(), "duplicate key '" + key + "' " + where(path));
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string note = allowed_note.empty() ? "allowed keys: " + join(allowed) : allowed_note;
        fail(k.Mark(), "unknown key '" + key + "' " + where(path) + did_you_mean(key, allowed) + "; " + note);
      }
      s.entries.push_back(Entry{key, path.empty() ? key : path + "." + key, k.Mark(), v});
    }
    return s;
  }

  static std::string where(const std::string& path) { return path.empty() ? "at the top level" : "in " + path; }

  std::string scalar(const Entry& e, const char* expected) const {
    if (!e.value.IsScalar()) fail(e.mark(), e.path + ": expected " + expected + ", got " + describe(e.value));
    return e.value.Scalar();
  }

  std::string get_string(const Entry& e) const { return scalar(e, "a string"); }

  std::string get_nonempty_string(const Entry& e) const {
    std::string s = get_string(e);
    if (s.empty()) fail(e.mark(), e.path + ": must not be empty");
    return s;
  }

  std::string get_choice(const Entry& e, const std::vector<std::string>& choices) const {
    std::string s = scalar(e, "a string");
    if (std::find(choices.begin(), choices.end(), s) == choices.end())
      fail(e.mark(), e.path + ": expected one of " + join(choices) + ", got " + quote_value(s) + did_you_mean(s, choices));
    return s;
  }

  double get_number(const Entry& e) const {
    std::string s = scalar(e, "a number");
    auto v = parse_double(s);
    if (!v) fail(e.mark(), e.path + ": expected a number, got " + quote_value(s));
    return *v;
  }

  int64_t get_int64(const Entry& e) const {
    std::string s = scalar(e, "an integer");
    auto v = parse_int(s);
    if (!v) fail(e.mark(), e.path + ": expected an integer, got " + quote_value(s));
    return *v;
  }

  int get_int(const Entry& e) const {
    int64_t v = get_int64(e);
    if (v > std::numeric_limits<int>::max() || v < std::numeric_limits<int>::min())
      fail(e.mark(), e.path + ": " + std::to_string(v) + " is out of range");
    return static_cast<int>(v);
  }

  bool get_bool(const Entry& e) const {
    std::string s = scalar(e, "true or false");
    auto v = parse_bool(s);
    if (!v) fail(e.mark(), e.path + ": expected true or false, got " + quote_value(s));
    return *v;
  }

  // A string or a list of strings.
  std::vector<std::string> get_strings(const Entry& e) const {
    if (e.value.IsScalar()) return {e.value.Scalar()};
    if (!e.value.IsSequence())
      fail(e.mark(), e.path + ": expected a string or a list of strings, got " + describe(e.value));
    std::vector<std::string> out;
    for (const auto& item : e.value) {
      if (!item.IsScalar())
        fail(item.Mark(), e.path + ": expected a list of strings, but an item is " + describe(item));
      out.push_back(item.Scalar());
    }
    return out;
  }

  // Range checks. `v` as written is e.value.Scalar().
  void at_least(const Entry& e, double v, double min) const {
    if (v < min) {
      std::ostringstream os;
      os << min;
      fail(e.mark(), e.path + ": must be at least " + os.str() + ", got " + e.value.Scalar());
    }
  }
  void not_negative(const Entry& e, double v) const {
    if (v < 0) fail(e.mark(), e.path + ": must not be negative, got " + e.value.Scalar());
  }
  void positive(const Entry& e, double v) const {
    if (!(v > 0)) fail(e.mark(), e.path + ": must be greater than 0, got " + e.value.Scalar());
  }

  // A file named in the workflow, relative to the workflow file's folder,
  // made absolute.
  std::string file_path(const Entry& f) const {
    fs::path path(get_nonempty_string(f));
    if (path.is_relative()) path = fs::path(file_).parent_path() / path;
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec);
    return (ec ? path : absolute).lexically_normal().string();
  }

  // A YAML tree as JSON text: quoted scalars are strings; plain ones are
  // null, true/false, numbers, or else strings.
  static void yaml_json(const YAML::Node& n, std::string& out) {
    if (n.IsSequence()) {
      out += '[';
      bool first = true;
      for (const auto& item : n) {
        if (!first) out += ',';
        first = false;
        yaml_json(item, out);
      }
      out += ']';
    } else if (n.IsMap()) {
      out += '{';
      bool first = true;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!first) out += ',';
        first = false;
        out += json_quote(it->first.IsScalar() ? it->first.Scalar() : std::string());
        out += ':';
        yaml_json(it->second, out);
      }
      out += '}';
    } else if (!n.IsDefined() || n.IsNull()) {
      out += "null";
    } else {
      const std::string& s = n.Scalar();
      bool quoted = n.Tag() == "!";
      if (!quoted && (s == "true" || s == "false")) out += s;
      else if (!quoted && parse_int(s)) out += std::to_string(*parse_int(s));
      else if (!quoted && parse_double(s)) {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, *parse_double(s));  // shortest round-trip form
        out.append(buf, r.ptr);
      } else {
        out += json_quote(s);
      }
    }
  }
  static std::string yaml_to_json(const YAML::Node& n) {
    std::string out;
    yaml_json(n, out);
    return out;
  }

  Workflow load(const std::string& text) const;

 private:
  void load_backend(const Section& top, Workflow& wf) const;
  void load_endpoints(const Section& s, BackendConfig& b) const;
  void load_roles(const Entry& e, const PipelineRules& pipeline, Workflow& wf) const;
  void load_sampling(const Entry& e, engine::SamplingParams& sp) const;
  void load_params(const Entry& e, const PipelineRules& pipeline, Workflow& wf) const;
  void load_budget(const Entry& e, BudgetConfig& budget) const;
  void check_trust(const std::string& pipeline, const Entry& e, bool names_file) const;

  std::string file_;
  LoadOptions options_;
};

// The trust hook (LoadOptions): keys that name a program, a file or an
// environment variable are refused in untrusted text; file params of a
// workflow with a base_dir must stay inside it.
void Loader::check_trust(const std::string& pipeline, const Entry& e, bool names_file) const {
  if (!options_.trusted) {
    bool program = (pipeline == "iad" && (e.key == "verifier_command" ||
                                          (e.key == "verifier" && e.value.IsScalar() && e.value.Scalar() == "command"))) ||
                   (pipeline == "linc" && e.key == "prover");
    if (program || names_file)
      fail(e.key == "verifier" ? e.mark() : e.key_mark,
           e.path + (e.key == "verifier" ? ": 'command'" : "") +
               ": a workflow submitted inline may not name " + (program ? "a program to run" : "a file") +
               "; put the workflow in the daemon's workflows folder and submit it by name");
  }
  if (names_file && !options_.base_dir.empty() && e.value.IsScalar()) {
    fs::path path(e.value.Scalar());
    if (path.is_relative()) path = fs::path(file_).parent_path() / path;
    if (!path_inside_folder(path, options_.base_dir))
      fail(e.mark(), e.path + ": must name a file inside the workflows folder (" + options_.base_dir + ")");
  }
}

Workflow Loader::load(const std::string& text) const {
  // Bounded: aliases expanded, nesting and size are capped (common/yaml_read.hpp),
  // so no walk below (yaml_json included) can blow up or loop.
  auto read = read_yaml_documents(text, file_);
  if (!read.ok()) throw Failure{read.error()};
  std::vector<YAML::Node> docs = std::move(read.value());
  YAML::Mark start;
  start.line = 0;
  start.column = 0;
  if (docs.empty() || docs[0].IsNull())
    fail(start, "the workflow file is empty; expected a map with at least 'pipeline' and 'backend'");
  if (docs.size() > 1) fail(docs[1].Mark(), "expected one YAML document, found " + std::to_string(docs.size()));
  const YAML::Node& root = docs[0];
  if (!root.IsMap())
    fail(root.Mark(), "expected a map at the top level (keys: " + join(kTopKeys) + "), got " + describe(root));

  Section top = section(root, root.Mark(), "", kTopKeys);
  Workflow wf;
  wf.file = file_;
  wf.base_dir = options_.base_dir;
  wf.text_hash = sha256_hex(text);
  wf.name = fs::path(file_).stem().string();
  if (auto* e = top.find("name")) wf.name = get_nonempty_string(*e);

  // pipeline: required, and it decides which roles and params are allowed.
  const Entry* p = top.find("pipeline");
  std::vector<std::string> known;
  for (const auto& rules : pipeline_table()) known.push_back(rules.name);
  if (!p) fail(top.mark, "missing required key 'pipeline' (one of: " + join(known) + ")");
  wf.pipeline = get_string(*p);
  const PipelineRules* pipeline = nullptr;
  for (const auto& rules : pipeline_table())
    if (rules.name == wf.pipeline) pipeline = &rules;
  if (!pipeline)
    fail(p->mark(), "unknown pipeline " + quote_value(wf.pipeline) + did_you_mean(wf.pipeline, known) +
                        "; known pipelines: " + join(known));

  load_backend(top, wf);

  if (auto* e = top.find("store")) {
    Section s = section(e->value, e->mark(), e->path, kStoreKeys);
    if (auto* path = s.find("path")) wf.store_path = get_nonempty_string(*path);
  }
  if (auto* e = top.find("roles")) load_roles(*e, *pipeline, wf);
  if (auto* e = top.find("params")) load_params(*e, *pipeline, wf);
  if (auto* e = top.find("budget")) load_budget(*e, wf.budget);
  if (auto* e = top.find("concurrency")) {
    wf.concurrency = get_int(*e);
    at_least(*e, wf.concurrency, 1);
  }
  return wf;
}

void Loader::load_backend(const Section& top, Workflow& wf) const {
  const Entry* e = top.find("backend");
  if (!e) fail(top.mark, "missing required key 'backend' (a map with at least 'kind')");
  Section s = section(e->value, e->mark(), e->path, kBackendKeys, "", /*null_ok=*/false);
  BackendConfig& b = wf.backend;
  if (!options_.trusted)
    for (const char* key : {"fixture", "model_file", "tokenizer", "api_key_env"})
      if (auto* f = s.find(key))
        fail(f->key_mark, f->path + ": a workflow submitted inline may not name files or environment variables; "
                                    "leave out `backend` (the daemon's backend is used)");

  if (auto* f = s.find("kind")) b.kind = get_choice(*f, {"http", "scripted", "local"});
  load_endpoints(s, b);
  if (auto* f = s.find("model")) b.model = get_nonempty_string(*f);
  if (auto* f = s.find("api")) b.api = get_choice(*f, {"chat", "completions"});
  if (auto* f = s.find("api_key_env")) b.api_key_env = get_string(*f);
  if (auto* f = s.find("stream")) b.stream = get_bool(*f);
  if (auto* f = s.find("timeout_s")) {
    b.timeout_s = get_number(*f);
    positive(*f, b.timeout_s);
  }
  if (auto* f = s.find("connect_timeout_s")) {
    b.connect_timeout_s = get_number(*f);
    positive(*f, b.connect_timeout_s);
  }
  if (auto* f = s.find("max_in_flight")) {
    b.max_in_flight = get_int(*f);
    at_least(*f, b.max_in_flight, 1);
  }
  if (auto* f = s.find("max_retries")) {
    b.max_retries = get_int(*f);
    not_negative(*f, b.max_retries);
  }
  if (auto* f = s.find("backoff_ms")) {
    b.backoff_ms = get_int(*f);
    not_negative(*f, b.backoff_ms);
  }
  if (auto* f = s.find("backoff_max_ms")) {
    b.backoff_max_ms = get_int(*f);
    not_negative(*f, b.backoff_max_ms);
    if (b.backoff_max_ms < b.backoff_ms)
      fail(f->mark(), f->path + ": must be at least backoff_ms (" + std::to_string(b.backoff_ms) + "), got " +
                          f->value.Scalar());
  }
  if (auto* f = s.find("unsupported")) {
    b.unsupported = get_strings(*f);
    for (size_t i = 0; i < b.unsupported.size(); ++i) {
      const std::string& name = b.unsupported[i];
      const auto& known = unsupported_names();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        YAML::Mark mark = f->value.IsSequence() ? f->value[i].Mark() : f->mark();
        fail(mark, f->path + ": unknown parameter " + quote_value(name) + did_you_mean(name, known) +
                       "; known: " + join(known));
      }
    }
  }
  if (auto* f = s.find("on_unsupported")) b.on_unsupported = get_choice(*f, {"emulate", "refuse"});
  if (auto* f = s.find("fixture")) b.fixture = file_path(*f);
  if (auto* f = s.find("model_file")) b.model_file = file_path(*f);
  if (auto* f = s.find("tokenizer")) b.tokenizer = file_path(*f);
  if (auto* f = s.find("chat_template")) b.chat_template = get_choice(*f, {"chatml", "llama3", "llama2"});
  if (auto* f = s.find("threads")) {
    b.threads = get_int(*f);
    not_negative(*f, b.threads);
  }
  if (auto* f = s.find("kv_mb")) {
    b.kv_mb = get_int(*f);
    at_least(*f, b.kv_mb, 1);
  }
  if (auto* f = s.find("kv_type")) b.kv_type = get_choice(*f, {"f32", "f16"});
  if (auto* f = s.find("context")) {
    b.context_length = get_int(*f);  // tokens per sequence, as `troupe generate --context`
    at_least(*f, b.context_length, 1);
    if (b.context_length > (1 << 30)) fail(f->mark(), f->path + ": must be at most 1073741824, got " + f->value.Scalar());
  }

  if (b.kind == "http") {
    if (!s.find("url") && !s.find("urls"))
      fail(s.mark, "backend: missing required key 'url' (kind http needs url and model)");
    if (!s.find("model")) fail(s.mark, "backend: missing required key 'model' (kind http needs url and model)");
    if (auto* f = s.find("replicas")) fail(f->key_mark, f->path + ": only kind local runs replicas; list servers in urls");
  } else if (auto* f = s.find("urls")) {
    fail(f->key_mark, f->path + ": only kind http lists servers (kind local runs several engines with replicas)");
  }
  if (b.kind == "scripted") {
    if (!s.find("fixture")) fail(s.mark, "backend: missing required key 'fixture' (kind scripted needs a fixture file)");
  } else if (b.kind == "local") {
    if (!s.find("model_file"))
      fail(s.mark, "backend: missing required key 'model_file' (kind local needs a .gguf or llama2.c model file)");
  }
}

// url / urls (kind http), replicas (kind local) and routing: the endpoints
// behind one backend and how requests are spread over them.
void Loader::load_endpoints(const Section& s, BackendConfig& b) const {
  auto url = [&](const std::string& u, const YAML::Mark& mark, const std::string& path) {
    bool http = u.rfind("http://", 0) == 0 && u.size() > 7;
    bool https = u.rfind("https://", 0) == 0 && u.size() > 8;
    if (!http && !https) fail(mark, path + ": expected a URL starting with http:// or https://, got " + quote_value(u));
  };
  const Entry* one = s.find("url");
  const Entry* many = s.find("urls");
  if (one && many) fail(many->key_mark, many->path + ": give either url (one server) or urls (several), not both");
  if (one) {
    b.url = get_string(*one);
    url(b.url, one->mark(), one->path);
  }
  if (many) {
    if (!many->value.IsSequence() || many->value.size() == 0)
      fail(many->mark(), many->path + ": expected a non-empty list of URLs, got " + describe(many->value));
    b.urls = get_strings(*many);
    for (size_t i = 0; i < b.urls.size(); ++i) {
      url(b.urls[i], many->value[i].Mark(), many->path + "[" + std::to_string(i) + "]");
      for (size_t k = 0; k < i; ++k)
        if (b.urls[k] == b.urls[i])
          fail(many->value[i].Mark(), many->path + "[" + std::to_string(i) + "]: " + quote_value(b.urls[i]) +
                                          " is listed twice");
    }
    b.url = b.urls.front();
  }
  if (auto* f = s.find("replicas")) {
    b.replicas = get_int(*f);
    at_least(*f, b.replicas, 1);
  }
  const Entry* r = s.find("routing");
  if (!r) return;
  Section rs = section(r->value, r->mark(), r->path, kRoutingKeys);
  auto& o = b.routing;
  if (auto* f = rs.find("policy")) o.policy = get_choice(*f, {"affinity", "round_robin", "least_load"});
  if (auto* f = rs.find("beta")) {
    o.beta = get_number(*f);
    not_negative(*f, o.beta);
  }
  if (auto* f = rs.find("overload_ratio")) {
    o.overload_ratio = get_number(*f);
    at_least(*f, o.overload_ratio, 1);
  }
  if (auto* f = rs.find("eject_after")) {
    o.eject_after = get_int(*f);
    at_least(*f, o.eject_after, 1);
  }
  if (auto* f = rs.find("health_interval_s")) {
    o.health_interval_s = get_number(*f);
    not_negative(*f, o.health_interval_s);
  }
  if (auto* f = rs.find("health_timeout_s")) {
    o.health_timeout_s = get_number(*f);
    positive(*f, o.health_timeout_s);
  }
}

void Loader::load_roles(const Entry& e, const PipelineRules& pipeline, Workflow& wf) const {
  Section roles = section(e.value, e.mark(), e.path, pipeline.roles,
                          "pipeline '" + pipeline.name + "' has roles: " + join(pipeline.roles));
  for (const Entry& r : roles.entries) {
    RoleConfig role;
    Section s = section(r.value, r.mark(), r.path, kRoleKeys);
    if (auto* f = s.find("system")) role.system = get_string(*f);
    if (auto* f = s.find("template")) role.template_text = get_string(*f);
    if (auto* f = s.find("sampling")) load_sampling(*f, role.sampling);
    if (auto* f = s.find("parse_retries")) {
      role.parse_retries = get_int(*f);
      not_negative(*f, role.parse_retries);
    }
    wf.roles[r.key] = std::move(role);
  }
}

void Loader::load_sampling(const Entry& e, engine::SamplingParams& sp) const {
  Section s = section(e.value, e.mark(), e.path, kSamplingKeys);
  if (auto* f = s.find("n")) {
    sp.n = get_int(*f);
    at_least(*f, sp.n, 1);
  }
  if (auto* f = s.find("temperature")) {
    sp.temperature = get_number(*f);
    not_negative(*f, *sp.temperature);
  }
  if (auto* f = s.find("top_p")) {
    sp.top_p = get_number(*f);
    if (!(*sp.top_p > 0 && *sp.top_p <= 1)) fail(f->mark(), f->path + ": must be in (0, 1], got " + f->value.Scalar());
  }
  if (auto* f = s.find("top_k")) {
    sp.top_k = get_int(*f);
    not_negative(*f, sp.top_k);
  }
  if (auto* f = s.find("min_p")) {
    sp.min_p = get_number(*f);
    if (!(sp.min_p >= 0 && sp.min_p <= 1)) fail(f->mark(), f->path + ": must be in [0, 1], got " + f->value.Scalar());
  }
  if (auto* f = s.find("max_tokens")) {
    sp.max_tokens = get_int(*f);
    at_least(*f, sp.max_tokens, 1);
  }
  if (auto* f = s.find("seed")) sp.seed = get_int64(*f);
  if (auto* f = s.find("stop")) {
    sp.stop = get_strings(*f);
    for (const auto& stop : sp.stop)
      if (stop.empty()) fail(f->mark(), f->path + ": a stop string must not be empty");
  }
  if (auto* f = s.find("logprobs")) {
    sp.logprobs = get_int(*f);
    at_least(*f, sp.logprobs, -1);
  }
}

void Loader::load_params(const Entry& e, const PipelineRules& pipeline, Workflow& wf) const {
  std::vector<std::string> names;
  for (const auto& rule : pipeline.params) names.push_back(rule.name);
  std::string note = names.empty() ? "pipeline '" + pipeline.name + "' takes no params"
                                   : "pipeline '" + pipeline.name + "' has params: " + join(names);
  Section s = section(e.value, e.mark(), e.path, names, note);
  for (const Entry& p : s.entries) {
    const ParamRule& rule = *std::find_if(pipeline.params.begin(), pipeline.params.end(),
                                          [&](const ParamRule& r) { return r.name == p.key; });
    check_trust(pipeline.name, p, rule.kind == ParamKind::path);
    switch (rule.kind) {
      case ParamKind::integer: {
        int64_t v = get_int64(p);
        if (rule.min) at_least(p, static_cast<double>(v), *rule.min);
        break;
      }
      case ParamKind::number: {
        double v = get_number(p);
        if (rule.min) at_least(p, v, *rule.min);
        break;
      }
      case ParamKind::boolean:
        get_bool(p);
        break;
      case ParamKind::string:
        if (rule.choices.empty())
          get_string(p);
        else
          get_choice(p, rule.choices);
        break;
      case ParamKind::structured:
        if (!p.value.IsSequence() && !p.value.IsMap())
          fail(p.mark(), p.path + ": expected a list or a map, got " + describe(p.value));
        wf.params[p.key] = ParamValue{yaml_to_json(p.value), p.mark().line + 1, p.mark().column + 1};
        continue;
      case ParamKind::path:
        wf.params[p.key] = ParamValue{file_path(p), p.mark().line + 1, p.mark().column + 1};
        continue;
    }
    wf.params[p.key] = ParamValue{p.value.Scalar(), p.mark().line + 1, p.mark().column + 1};
  }
}

void Loader::load_budget(const Entry& e, BudgetConfig& budget) const {
  Section s = section(e.value, e.mark(), e.path, kBudgetKeys);
  if (auto* f = s.find("max_calls")) {
    budget.max_calls = get_int64(*f);
    not_negative(*f, static_cast<double>(budget.max_calls));
  }
  if (auto* f = s.find("max_tokens")) {
    budget.max_tokens = get_int64(*f);
    not_negative(*f, static_cast<double>(budget.max_tokens));
  }
  if (auto* f = s.find("wall_time_s")) {
    budget.wall_time_s = get_number(*f);
    not_negative(*f, budget.wall_time_s);
  }
}

const ParamValue* find_param(const Workflow& wf, const std::string& key) {
  auto it = wf.params.find(key);
  return it == wf.params.end() ? nullptr : &it->second;
}

Error param_error(const Workflow& wf, const std::string& key, const ParamValue& v, const char* expected) {
  return Error(ErrorCode::parse,
               location(wf.file, v.line, v.col) + "params." + key + ": expected " + expected + ", got " + quote_value(v.text));
}

}  // namespace

const std::vector<PipelineSchema>& pipeline_schemas() {
  static const std::vector<PipelineSchema> schemas = [] {
    std::vector<PipelineSchema> out;
    for (const auto& rules : pipeline_table()) {
      PipelineSchema s{rules.name, rules.roles, {}};
      for (const auto& p : rules.params) s.params.push_back(p.name);
      out.push_back(std::move(s));
    }
    return out;
  }();
  return schemas;
}

Result<Workflow> parse_workflow(const std::string& text, const std::string& path) {
  return parse_workflow(text, path, LoadOptions{});
}

Result<Workflow> parse_workflow(const std::string& text, const std::string& path, const LoadOptions& options) {
  try {
    return Loader(path, options).load(text);
  } catch (const Failure& f) {
    return f.error;
  }
}

Result<Workflow> load_workflow(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Error(ErrorCode::not_found, "workflow file not found: " + path);
  if (fs::is_directory(path, ec)) return Error(ErrorCode::io, "workflow file is a folder: " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::io, "cannot open workflow file: " + path);
  // At most one byte more than the YAML reader accepts, so that a huge file
  // (or /dev/zero) is refused by parse_workflow() without being read whole.
  std::string text(YamlLimits{}.max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Error(ErrorCode::io, "cannot read workflow file: " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_workflow(text, path);
}

Result<int64_t> param_int(const Workflow& wf, const std::string& key, int64_t fallback) {
  const ParamValue* v = find_param(wf, key);
  if (!v) return fallback;
  auto parsed = parse_int(v->text);
  if (!parsed) return param_error(wf, key, *v, "an integer");
  return *parsed;
}

Result<double> param_double(const Workflow& wf, const std::string& key, double fallback) {
  const ParamValue* v = find_param(wf, key);
  if (!v) return fallback;
  auto parsed = parse_double(v->text);
  if (!parsed) return param_error(wf, key, *v, "a number");
  return *parsed;
}

Result<bool> param_bool(const Workflow& wf, const std::string& key, bool fallback) {
  const ParamValue* v = find_param(wf, key);
  if (!v) return fallback;
  auto parsed = parse_bool(v->text);
  if (!parsed) return param_error(wf, key, *v, "true or false");
  return *parsed;
}

std::string param_string(const Workflow& wf, const std::string& key, const std::string& fallback) {
  const ParamValue* v = find_param(wf, key);
  return v ? v->text : fallback;
}

}  // namespace troupe::workflows
