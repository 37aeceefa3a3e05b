// The call journal of durable runs (docs/durability.md): how a role call is
// identified, and how its reply is kept in and restored from the store.
//
// Callers may rely on:
// - call_content_hash() is a sha256 (hex) over the role's name and identity
//   and everything in the task and step info that shapes the call: vars,
//   history, messages, n, max_tokens (as the pipeline asked, before any
//   budget clipping), continue_final, stop, temperature, seed, model, the
//   step kind and parents. It never includes run-local ids (run_id,
//   request_id). Two calls differing in any of these hash differently.
// - journal_key(hash, k) names the k-th call (from 0) with that hash in a
//   run: "<hash>#<k>". Occurrence indices keep identical parallel calls
//   apart, and do not depend on the order their replies arrive in.
// - role_identity() covers what a role adds to a call: backend label,
//   model, sampling parameters, parse retries and prompt templates.
// - to_call_record()/from_call_record() round-trip every field of a
//   RoleOutput.
#pragma once

#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/pipeline.hpp"
#include "actors/roles.hpp"

namespace troupe::actors {

std::string role_identity(const RoleSpec& spec);

std::string call_content_hash(const std::string& role, const std::string& role_identity, const RoleTask& task,
                              const StepInfo& info);

std::string journal_key(const std::string& content_hash, int64_t occurrence);

memory::CallRecord to_call_record(const std::string& run_id, const std::string& key,
                                  const std::string& request_id, const RoleOutput& out,
                                  const std::vector<uint64_t>& step_seqs);
RoleOutput from_call_record(const memory::CallRecord& call);

// The seed in a RoleOutput's sampling_json ({"seed":N,...}), if any.
std::optional<int64_t> sampling_seed(const std::string& sampling_json);

}  // namespace troupe::actors
