// Key layout of the trajectory store's column families.
//
// Callers may rely on:
// - step_key(run, seq) = run id + '\0' + seq as 8 big-endian bytes, so
//   byte-wise key order is (run id, seq) order, and every key of a run starts
//   with step_prefix(run) = run id + '\0'. Because '\0' sorts first, the
//   prefix of "run-1" never matches a key of "run-10".
// - step_prefix_end(run) is the first key after all of that run's steps
//   (run id + '\x01'): an exclusive upper bound for a prefix scan.
// - Run ids containing '\0' cannot be encoded; valid_run_id() says so.
// - printable_key() renders any stored key for error messages
//   ("run-1#7" for a step, other bytes below 0x20 as \xNN).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::memory {

bool valid_run_id(std::string_view run_id);
std::string step_prefix(std::string_view run_id);
std::string step_prefix_end(std::string_view run_id);
std::string step_key(std::string_view run_id, uint64_t seq);

// A journaled call: run id + '\0' + call key (shares step_prefix()).
std::string call_key(std::string_view run_id, std::string_view key);

struct StepKey {
  std::string run_id;
  uint64_t seq = 0;
};
// nullopt when `key` is not run id + '\0' + 8 bytes.
std::optional<StepKey> parse_step_key(std::string_view key);

// For messages: `family` is a column family name ("steps", "runs", ...).
std::string printable_key(std::string_view family, std::string_view key);

}  // namespace troupe::memory
