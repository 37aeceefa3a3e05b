// The daemon's configuration file (troupe.yaml), loaded and checked.
// load_daemon_config() returns a DaemonConfig whose every field is valid, or
// an Error "FILE:LINE:COL: what is wrong" (ErrorCode::parse; a missing file
// is not_found). Unknown keys are errors. Relative paths are resolved
// against the config file's folder. Nothing here starts a backend.
//
// Shape (see docs/daemon.md):
//   listen: {host: 127.0.0.1, port: 8080}   # port 0 = any free port
//   token: "secret"            # or token_env: TROUPE_TOKEN (one of them)
//   workflows_dir: workflows   # workflow files, referenced by file name
//   db: troupe.db
//   concurrency: 4             # runs executing at once
//   max_body_bytes: 1048576
//   shutdown_grace_s: 30       # SIGTERM: how long in-flight runs may finish
//   http_threads: 64           # requests served at once (see docs/daemon.md "Limits")
//   max_connections: 256       # open connections; past it 503
//   max_event_streams: 32      # event streams + OpenAI completions at once (< http_threads); past it 503
//   header_timeout_s: 10       # a request header must arrive within (408)
//   read_timeout_s: 30         # a request body must arrive within, after its header
//   write_timeout_s: 30        # a reply write that makes no progress this long ends the connection
//   backends:                  # name -> a workflow file's backend section
//     qwen: {kind: http, url: "http://127.0.0.1:8000", model: qwen2.5-7b-instruct}
//   default_backend: qwen      # default: the first listed
//   openai:                    # the OpenAI-compatible front
//     models:                  # default: every workflow x every backend,
//       - name: spoc/qwen2.5-7b-instruct   #   named <workflow>/<backend model>
//         workflow: spoc
//         backend: qwen
//   nats:                      # share work with other daemons (docs/scale-out.md)
//     url: nats://127.0.0.1:4222
//     stream: TROUPE_RUNS      # created when missing (work-queue, file storage)
//     subject: troupe.runs
//     consumer: troupe-daemons # the durable pull consumer every daemon shares
//     ack_wait_s: 30           # an unacknowledged run is redelivered after this
//     duplicate_window_s: 120  # JetStream drops a re-published run id within it
// The token itself is resolved here (token_env read from the environment):
// a token_env naming an unset variable is an error. A non-loopback host
// without a token is an error (engine::is_loopback_host: parsed, not a
// prefix test).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "workflows/workflow.hpp"

namespace troupe::daemon {

struct NamedBackend {
  std::string name;
  workflows::BackendConfig config;  // file paths absolute
  std::string yaml;                 // the section as a flow-style YAML map, paths absolute
};

struct ModelRoute {
  std::string name;      // the model name clients ask for
  std::string workflow;  // a workflow file name in workflows_dir
  std::string backend;   // a backend name
};

// Work sharing through NATS JetStream (docs/scale-out.md); off when url is "".
struct NatsConfig {
  std::string url;
  std::string stream = "TROUPE_RUNS";
  std::string subject = "troupe.runs";
  std::string consumer = "troupe-daemons";
  double ack_wait_s = 30;
  double duplicate_window_s = 120;
};

struct DaemonConfig {
  std::string file;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string token;  // resolved
  std::string workflows_dir;
  std::string db = "troupe.db";
  int concurrency = 4;
  size_t max_body_bytes = 1u << 20;
  double shutdown_grace_s = 30;
  int http_threads = 64;       // requests served at once
  int max_connections = 256;   // open connections at once
  int max_event_streams = 32;  // requests that hold a thread until a run ends (SSE, OpenAI completions)
  double header_timeout_s = 10;
  double read_timeout_s = 30;
  double write_timeout_s = 30;
  std::vector<NamedBackend> backends;
  std::string default_backend;
  bool models_listed = false;  // openai.models given (else derived)
  std::vector<ModelRoute> models;
  NatsConfig nats;
};

Result<DaemonConfig> load_daemon_config(const std::string& path);
Result<DaemonConfig> parse_daemon_config(const std::string& text, const std::string& path);

// A string that is equal for two backend sections exactly when they
// describe the same backend (used to find a stored run's backend again).
std::string backend_key(const workflows::BackendConfig& b);

}  // namespace troupe::daemon
