// A run as it travels between daemons through NATS JetStream (the message
// body; docs/scale-out.md): what a daemon that did not receive the request
// needs to run it against its own catalog, backends and store.
//
// Callers may rely on:
// - parse_shared_run(encode_shared_run(r)) == r for every field.
// - parse_shared_run() refuses (ErrorCode::parse, naming the field) a body
//   that is not a JSON object, lacks run_id or input, gives both or neither
//   of workflow / workflow_yaml, or holds an unknown field; bodies are
//   bounded by the server's max payload (1 MiB by default).
// - keyed_run_id(key, n) is the id of the n-th (1-based) input of a request
//   with idempotency key `key`: "run-k" + 24 hex digits of
//   sha256(key + "#" + n). Equal on every daemon, so a request retried on
//   another daemon names the same runs. check_idempotency_key() accepts 1 to
//   200 printable ASCII characters.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.hpp"

namespace troupe::daemon {

struct SharedRun {
  std::string run_id;
  std::string workflow;       // a catalog name, or
  std::string workflow_yaml;  // the inline text (loaded untrusted)
  std::string backend;        // a backend name; each daemon's config says what it is
  std::string input_json;     // the input line as given
  std::string item_id;
  std::string gold;
  std::string idempotency_key;  // "" = none
  int64_t created_ms = 0;
  bool operator==(const SharedRun&) const = default;
};

std::string encode_shared_run(const SharedRun& run);
Result<SharedRun> parse_shared_run(const std::string& body);

Status check_idempotency_key(const std::string& key);
std::string keyed_run_id(const std::string& key, size_t n);

}  // namespace troupe::daemon
