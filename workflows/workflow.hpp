// A workflow file, loaded and validated. load_workflow() reads YAML and
// either returns a Workflow whose every field is checked (types, ranges,
// known pipeline and role names, required fields) or an Error whose message
// is "FILE:LINE:COL: what is wrong" (1-based line and column) naming the
// first problem found. Unknown keys are errors (a typo must not be silently
// ignored). Nothing here talks to a backend or opens the store.
//
// Shape (every key but `pipeline` and `backend` is optional):
//
//   name: spoc-demo               # default: the file name without extension
//   pipeline: spoc                # spoc | linc | leap | iad | archon | coc
//   backend:
//     kind: http                  # http | scripted
//     url: http://127.0.0.1:8000  # http: required (scheme http or https)
//     model: my-model             # http: required
//     api: chat                   # chat | completions
//     api_key_env: OPENAI_API_KEY # name of the environment variable
//     stream: false
//     timeout_s: 120              # per request
//     connect_timeout_s: 10
//     max_in_flight: 16
//     max_retries: 4
//     backoff_ms: 250             # first retry delay; doubles, with jitter
//     backoff_max_ms: 8000
//     unsupported: [n]            # parameters this server cannot honour
//     on_unsupported: emulate     # emulate | refuse
//     fixture: rules.yaml         # scripted: required; relative to the workflow file
//     model_file: m.gguf          # local: required (.gguf or llama2.c .bin); relative to the workflow file
//     tokenizer: tok512.bin       # local, llama2.c checkpoints: the tokenizer file
//     chat_template: chatml       # local: override the model file's template (chatml | llama3 | llama2)
//     threads: 0                  # local: compute threads (0 = all cores)
//     kv_mb: 256                  # local: KV cache budget in MiB
//     kv_type: f32                # local: KV cache element type, f32 | f16 | bf16 (16-bit: half the bytes per token)
//     device: cpu                 # local: cpu | cuda | cuda:N (a GPU; the build must have CUDA)
//     context: 4096               # local: tokens per sequence (default: the model file's)
//   store:
//     path: troupe.db             # relative to the working folder
//   roles:
//     solver:                     # any of the pipeline's roles
//       system: "..."             # system prompt
//       template: "..."           # user prompt; {question} {attempt} ... placeholders
//       sampling: {temperature: 0.7, top_p: 0.95, top_k: 0, min_p: 0.0,
//                  max_tokens: 512, seed: 1, n: 1, stop: ["..."], logprobs: 0}
//       parse_retries: 1          # re-ask when the output does not parse
//   params:                       # pipeline parameters (per pipeline)
//     max_turns: 4
//   budget:
//     max_calls: 0                # 0 = unlimited
//     max_tokens: 0
//     wall_time_s: 0
//   concurrency: 4                # items run at once
//
// Checked besides types (every failure is ErrorCode::parse):
//   required  pipeline, backend; backend.url and backend.model for kind http,
//             backend.fixture for kind scripted (pointing at the enclosing map)
//   ranges    sampling: n >= 1, temperature >= 0, 0 < top_p <= 1, top_k >= 0,
//             0 <= min_p <= 1, max_tokens >= 1, logprobs >= -1; parse_retries,
//             max_retries, backoff_ms and budgets >= 0; backoff_max_ms >=
//             backoff_ms; timeout_s, connect_timeout_s > 0; max_in_flight,
//             concurrency >= 1
//   names     roles and params: only the pipeline's (pipeline_schemas());
//             params are checked by the pipeline's parameter table
//             (workflows/NAME/NAME_descriptor.hpp: type, bounds, choices;
//             the same check the pipeline's typed params make); archon's
//             `layers` is structured (YAML kept as JSON text) and its
//             `config` a path resolved like `fixture`; unsupported: sampling
//             parameter names and continue_final_message; url: http:// or
//             https://; urls (kind http, instead of url): a non-empty list
//             of such URLs; replicas (kind local) >= 1; routing (with
//             several urls or replicas, docs/routing.md): policy affinity |
//             round_robin | least_load, beta >= 0, overload_ratio >= 1,
//             eject_after >= 1, health_interval_s >= 0, health_timeout_s > 0
//   structure duplicate keys, an empty file, a top level that is not a map,
//             more than one YAML document
// An unknown key or value lists the accepted ones and suggests the closest
// when it looks like a typo: "unknown key 'solverr' in roles (did you mean
// 'solver'?); pipeline 'spoc' has roles: solver, verifier". A missing file is
// ErrorCode::not_found, an unreadable one ErrorCode::io; both name the path.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "engine/backend.hpp"

namespace troupe::workflows {

// backend.kind, parsed once by the loader.
enum class BackendKind { http, scripted, local };
// "http", "scripted", "local": the names a workflow file writes.
const std::vector<std::string>& backend_kind_names();
const std::string& to_string(BackendKind kind);
// The kind a name in backend_kind_names() stands for (http for any other).
BackendKind backend_kind_named(const std::string& name);
std::ostream& operator<<(std::ostream& out, BackendKind kind);

struct BackendConfig {
  BackendKind kind = BackendKind::http;
  std::string url;
  std::string model;
  std::string api = "chat";  // "chat" | "completions"
  std::string api_key_env;
  bool stream = false;
  double timeout_s = 120;
  double connect_timeout_s = 10;
  int max_in_flight = 16;
  int max_retries = 4;
  int backoff_ms = 250;
  int backoff_max_ms = 8000;
  std::vector<std::string> unsupported;
  std::string on_unsupported = "emulate";  // "emulate" | "refuse"
  std::string fixture;  // scripted: absolute path after loading
  // local: the in-process engine.
  std::string model_file;     // .gguf or llama2.c .bin (absolute after loading)
  std::string tokenizer;      // llama2.c checkpoints: tok*.bin
  std::string chat_template;  // "" = from the model file; chatml | llama3 | llama2
  int threads = 0;            // 0 = all cores
  int kv_mb = 256;            // KV cache budget
  std::string kv_type = "f32";  // KV cache element type: f32 | f16 | bf16 (checked by engine::local::parse_kv_type)
  std::string device = "cpu";   // local: cpu | cuda | cuda:N (engine/local/device.hpp)
  int context_length = 0;     // YAML `context`: tokens per sequence; 0 = the model file's
  // Several endpoints behind one router (engine/router, docs/routing.md).
  // kind http: `urls` lists the servers (url then holds the first); kind
  // local: `replicas` engines of the same model. One of either: no router.
  std::vector<std::string> urls;
  int replicas = 1;
  struct Routing {
    std::string policy = "affinity";  // affinity | round_robin | least_load
    double beta = 0.5;                // weight of relative load
    double overload_ratio = 2.0;      // in flight past ratio x (others' mean + 1): passed over
    int eject_after = 3;              // consecutive failed requests that eject a server
    double health_interval_s = 5;     // 0 = no periodic health checks
    double health_timeout_s = 2;      // per check
  } routing;
};

struct RoleConfig {
  std::string system;
  std::string template_text;  // YAML key `template`
  engine::SamplingParams sampling;
  int parse_retries = 1;
};

struct BudgetConfig {
  int64_t max_calls = 0;   // 0 = unlimited
  int64_t max_tokens = 0;  // prompt + completion, 0 = unlimited
  double wall_time_s = 0;  // 0 = unlimited
};

// A parameter value as written (numbers, booleans and strings). Params a
// pipeline declares structured (a YAML list or map) hold JSON text; path
// params hold the absolute path, resolved against the workflow file's folder.
struct ParamValue {
  std::string text;  // as written
  int line = 0, col = 0;
};

struct Workflow {
  std::string file;  // path as given
  std::string name;
  std::string pipeline;
  std::string text_hash;  // sha256 of the file text
  BackendConfig backend;
  std::string store_path = "troupe.db";
  std::map<std::string, RoleConfig> roles;  // only roles named in the file
  std::map<std::string, ParamValue> params;
  BudgetConfig budget;
  int concurrency = 4;
  // From LoadOptions: the folder its param files must stay inside ("" = any).
  std::string base_dir;
};

// Where a workflow's text came from decides what it may name (docs/daemon.md,
// "Trust model").
struct LoadOptions {
  // false: text from a client (the daemon's inline `workflow_yaml`). It may
  // not name programs, files or environment variables: IAD's `verifier:
  // command` and `verifier_command`, LINC's `prover`, every file param
  // (Archon's `config`), and the backend keys fixture, model_file,
  // tokenizer and api_key_env are errors at their file:line:col.
  bool trusted = true;
  // Non-empty: a file param must resolve (symlinks followed) to a file
  // inside this folder; otherwise an error that does not say whether the
  // file exists. Checked again when the file is opened (read_param_file).
  std::string base_dir;
};

// Pipelines the loader knows, with the roles and parameters each accepts.
struct PipelineSchema {
  std::string name;
  std::vector<std::string> roles;
  std::vector<std::string> params;
};
const std::vector<PipelineSchema>& pipeline_schemas();

Result<Workflow> load_workflow(const std::string& path);
// Same, from text already read; `path` names it in messages and anchors
// relative paths (fixture).
Result<Workflow> parse_workflow(const std::string& text, const std::string& path);
Result<Workflow> parse_workflow(const std::string& text, const std::string& path, const LoadOptions& options);

// Reads the file a path param names (e.g. Archon's `config`): it must be a
// regular file of at most max_bytes and, when the workflow has a base_dir,
// resolve inside it. Errors name the param's file:line:col; one outside the
// folder says only that, whether or not such a file exists.
Result<std::string> read_param_file(const Workflow& wf, const std::string& key, size_t max_bytes);

// Typed access to params with defaults; a malformed value is an error that
// names the file, line and column.
Result<int64_t> param_int(const Workflow& wf, const std::string& key, int64_t fallback);
Result<double> param_double(const Workflow& wf, const std::string& key, double fallback);
Result<bool> param_bool(const Workflow& wf, const std::string& key, bool fallback);
std::string param_string(const Workflow& wf, const std::string& key, const std::string& fallback);

}  // namespace troupe::workflows
