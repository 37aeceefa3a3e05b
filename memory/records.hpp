// The value encoding of the trajectory store: one JSON object per record,
// written with JsonWriter and read back with simdjson (DOM).
//
// Callers may rely on:
// - decode_X(encode_X(r)) == r for every field of every record, including
//   optionals (an absent optional is an absent key; `false` stays false),
//   unicode, NUL and other control characters. Two exceptions, both by
//   design: bytes that are not valid UTF-8 come back as U+FFFD (JsonWriter
//   sanitizes them, so model output never makes a write fail), and a
//   non-finite double comes back as NaN (JSON has no Inf/NaN; it is written
//   as null).
// - A step's value does not hold its prompt: encode_step() takes the key of
//   the prompt blob (encode_messages() of the prompt) and decode_step()
//   returns it beside the step, whose `prompt` is left empty.
// - Decoders never throw and never crash on bad input: text that is not
//   JSON, not an object, or has a field of the wrong type is an Error with
//   ErrorCode::parse naming the field. Unknown keys are ignored and missing
//   keys keep the field's default, so later schema versions can add fields.
// - Decoding is thread-safe (one simdjson parser per thread).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "memory/store.hpp"

namespace troupe::memory {

// [{"role":..,"content":..},...]
std::string encode_messages(const std::vector<Message>& messages);
Result<std::vector<Message>> decode_messages(std::string_view json);

std::string encode_run(const RunRecord& run);
Result<RunRecord> decode_run(std::string_view json);

// The step's fields are written by write_step_fields (step_json.hpp,
// stored shape). Its prompt token ids are not in the value either: they
// are a blob (pack_token_ids() text) whose key encode_step() takes and
// decode_step() returns; completion ids and logprobs are packed inline.
std::string encode_step(const StepRecord& step, std::string_view prompt_blob_key,
                        std::string_view prompt_ids_blob_key = {});
struct DecodedStep {
  StepRecord step;              // prompt and prompt_token_ids empty
  std::string prompt_blob;      // "" when the step has no prompt
  std::string prompt_ids_blob;  // "" when the step has no prompt token ids
};
Result<DecodedStep> decode_step(std::string_view json);

// A journaled call; like a step, its prompt is a blob key beside it.
std::string encode_call(const CallRecord& call, std::string_view prompt_blob_key);
struct DecodedCall {
  CallRecord call;          // prompt empty
  std::string prompt_blob;  // "" when the call has no prompt
};
Result<DecodedCall> decode_call(std::string_view json);

std::string encode_pair(const PairRecord& pair);
Result<PairRecord> decode_pair(std::string_view json);

}  // namespace troupe::memory
