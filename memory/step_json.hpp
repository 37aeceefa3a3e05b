// The one field list of a step as JSON, in its two shapes, and the compact
// packing of token ids and logprobs the stored shape uses.
//
// Callers may rely on:
// - write_step_fields() writes every field of a StepRecord into an object
//   the caller has opened (so it can add fields of its own, e.g. the
//   daemon's "replayed"), in one order, in either shape:
//     stored: the store's record value (records.hpp): the prompt as a blob
//             key ("prompt_blob"), the prompt's token ids as a blob key
//             ("prompt_ids_blob"), completion ids and logprobs packed
//             (below), optionals absent when unset, sampling_json and
//             meta_json as strings; token fields absent when empty, so a
//             step without ids is written as before they existed.
//     api:    GET /v1/runs/{id}/steps and exports: the prompt as messages,
//             ids and logprobs as plain JSON arrays (a NaN logprob as
//             null), optionals as null when unset, "sampling" and "meta"
//             as JSON values (null when empty or not JSON).
// - pack_token_ids / unpack_token_ids: ids as unsigned LEB128 varints in
//   base64 (about 4 characters a token for vocabularies under 2^21);
//   pack_logprobs / unpack_logprobs: little-endian float32 in base64
//   (about 5.3 characters a value; NaN stays NaN). unpack_* return
//   ErrorCode::parse for text that is not such a packing (or an id above
//   INT32_MAX); they round-trip exactly (logprobs at float32 precision).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json_writer.hpp"
#include "memory/store.hpp"

namespace troupe::memory {

enum class StepShape { stored, api };

struct StepBlobKeys {
  std::string prompt;      // stored shape: the prompt messages' blob key ("" = none)
  std::string prompt_ids;  // stored shape: the packed prompt ids' blob key ("" = none)
};

void write_step_fields(JsonWriter& w, const StepRecord& step, StepShape shape, const StepBlobKeys& keys = {});

// `text` as raw JSON when it is a JSON object or array, else null.
void raw_json_or_null(JsonWriter& w, const std::string& text);

// A JSON value: a number, or null for NaN/Inf.
void write_logprob(JsonWriter& w, double value);

std::string pack_token_ids(const std::vector<int32_t>& ids);
Result<std::vector<int32_t>> unpack_token_ids(std::string_view packed);
std::string pack_logprobs(const std::vector<double>& values);
Result<std::vector<double>> unpack_logprobs(std::string_view packed);

}  // namespace troupe::memory
