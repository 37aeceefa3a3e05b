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
#include "engine/local/device.hpp"
#include "engine/local/kernels.hpp"
#include "workflows/param_file.hpp"
#include "workflows/pipeline_rules.hpp"

namespace troupe::workflows {
namespace {

namespace fs = std::filesystem;

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
    "context",       "kv_type",     "device",     "urls",           "replicas",   "routing"};
const std::vector<std::string> kRoutingKeys = {"policy",            "beta",     "overload_ratio", "eject_after",
                                               "health_interval_s", "health_timeout_s"};
const std::vector<std::string> kStoreKeys = {"path"};
const std::vector<std::string> kRoleKeys = {"system", "template", "sampling", "parse_retries"};
const std::vector<std::string> kSamplingKeys = {"n",          "temperature", "top_p",
                                                "top_k",      "min_p",       "max_tokens",
                                                "seed",       "stop",        "logprobs"};
const std::vector<std::string> kBudgetKeys = {"max_calls", "max_tokens", "wall_time_s"};

// ---------------------------------------------------------------------------
// Small text helpers (the shared ones are in pipeline_rules.hpp).

std::string join(const std::vector<std::string>& items) { return join_names(items); }

std::string location(const std::string& file, const YAML::Mark& mark) {
  // yaml-cpp marks are 0-based; an unset mark is -1.
  return file + ":" + std::to_string(std::max(mark.line, 0) + 1) + ":" + std::to_string(std::max(mark.column, 0) + 1) +
         ": ";
}

std::optional<int64_t> parse_int(std::string_view s) { return parse_int_text(s); }
std::optional<double> parse_double(std::string_view s) { return parse_double_text(s); }
std::optional<bool> parse_bool(std::string_view s) { return parse_bool_text(s); }

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
  void check_trust(const ParamRule& rule, const Entry& e) const;

  std::string file_;
  LoadOptions options_;
};

// The trust hook (LoadOptions): keys that name a program, a file or an
// environment variable are refused in untrusted text; file params of a
// workflow with a base_dir must stay inside it.
void Loader::check_trust(const ParamRule& rule, const Entry& e) const {
  bool names_file = rule.kind == ParamKind::path;
  if (!options_.trusted) {
    bool program = rule.kind == ParamKind::program ||
                   (e.value.IsScalar() && std::find(rule.program_values.begin(), rule.program_values.end(),
                                                    e.value.Scalar()) != rule.program_values.end());
    if (program || names_file)
      fail(!rule.program_values.empty() ? e.mark() : e.key_mark,
           e.path + (!rule.program_values.empty() ? ": " + quote_value(e.value.Scalar()) : "") +
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
  for (const PipelineRules* rules : registered_pipeline_rules()) known.push_back(rules->name);
  if (!p) fail(top.mark, "missing required key 'pipeline' (one of: " + join(known) + ")");
  wf.pipeline = get_string(*p);
  const PipelineRules* pipeline = nullptr;
  for (const PipelineRules* rules : registered_pipeline_rules())
    if (rules->name == wf.pipeline) pipeline = rules;
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

  if (auto* f = s.find("kind")) b.kind = backend_kind_named(get_choice(*f, backend_kind_names()));
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
  if (auto* f = s.find("kv_type")) {
    b.kv_type = get_string(*f);
    if (auto t = engine::local::parse_kv_type(b.kv_type); !t.ok()) fail(f->mark(), f->path + ": " + t.error().message);
  }
  if (auto* f = s.find("device")) {
    b.device = get_string(*f);
    if (auto d = engine::local::parse_device(b.device); !d.ok()) fail(f->mark(), f->path + ": " + d.error().message);
    if (b.kind != BackendKind::local) fail(f->key_mark, f->path + ": only kind local computes on a device");
  }
  if (auto* f = s.find("context")) {
    b.context_length = get_int(*f);  // tokens per sequence, as `troupe generate --context`
    at_least(*f, b.context_length, 1);
    if (b.context_length > (1 << 30)) fail(f->mark(), f->path + ": must be at most 1073741824, got " + f->value.Scalar());
  }

  if (b.kind == BackendKind::http) {
    if (!s.find("url") && !s.find("urls"))
      fail(s.mark, "backend: missing required key 'url' (kind http needs url and model)");
    if (!s.find("model")) fail(s.mark, "backend: missing required key 'model' (kind http needs url and model)");
    if (auto* f = s.find("replicas")) fail(f->key_mark, f->path + ": only kind local runs replicas; list servers in urls");
  } else if (auto* f = s.find("urls")) {
    fail(f->key_mark, f->path + ": only kind http lists servers (kind local runs several engines with replicas)");
  }
  if (b.kind == BackendKind::scripted) {
    if (!s.find("fixture")) fail(s.mark, "backend: missing required key 'fixture' (kind scripted needs a fixture file)");
  } else if (b.kind == BackendKind::local) {
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
    check_trust(rule, p);
    switch (rule.kind) {
      case ParamKind::structured:
        if (!p.value.IsSequence() && !p.value.IsMap())
          fail(p.mark(), p.path + ": expected a list or a map, got " + describe(p.value));
        wf.params[p.key] = ParamValue{yaml_to_json(p.value), p.mark().line + 1, p.mark().column + 1};
        continue;
      case ParamKind::path:
        wf.params[p.key] = ParamValue{file_path(p), p.mark().line + 1, p.mark().column + 1};
        continue;
      case ParamKind::integer:
        scalar(p, "an integer");
        break;
      case ParamKind::number:
        scalar(p, "a number");
        break;
      case ParamKind::boolean:
        scalar(p, "true or false");
        break;
      default:
        scalar(p, "a string");
        break;
    }
    // The rule's own check, the one the pipeline's typed reader makes too.
    if (auto problem = check_param_text(rule, p.value.Scalar())) fail(p.mark(), p.path + ": " + *problem);
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

}  // namespace

const std::vector<PipelineSchema>& pipeline_schemas() {
  static const std::vector<PipelineSchema> schemas = [] {
    std::vector<PipelineSchema> out;
    for (const PipelineRules* rules : registered_pipeline_rules()) {
      PipelineSchema s{rules->name, rules->roles, {}};
      for (const auto& p : rules->params) s.params.push_back(p.name);
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

}  // namespace troupe::workflows
