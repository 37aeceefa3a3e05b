// Dataset export: turns a Store's trajectories into fine-tuning data.
//
// Callers may rely on:
// - Export streams: it visits runs one at a time and reads only that run's
//   steps (pairs one at a time), never the whole database.
// - Runs match a filter when RunRecord.workflow equals `workflow` (empty =
//   any), created_ms >= since_ms and the id equals `run_id` (empty = any);
//   pairs match on PairRecord.workflow, created_ms and run_id the same way.
//   With a run_id, the steps of that run alone are read (no scan of runs);
//   pairs are still one pass over the pairs.
// - export_jsonl writes one JSON object per line with exactly TRL's keys
//   (see shared/docs/formats.md §3):
//     sft: every step with label == true:
//          {"messages":[...prompt..., {"role":"assistant","content":completion}]}
//     dpo: every pair: {"prompt":[...],"chosen":[{"role":"assistant",..}],
//                       "rejected":[{"role":"assistant",..}]}
//     kto: every labelled step: {"prompt":[...],"completion":[{"role":"assistant",..}],
//                                "label":true|false}
//   A prompt that ends with an unfinished assistant message (a
//   continuation) keeps it in "prompt" for dpo/kto (TRL continues the final
//   message); for sft the completion is appended to it directly, making one
//   assistant message.
// - export_jsonl also writes the RL shapes (every field: docs/export.md):
//     rollouts:  one row per run: its model calls as token-exact turns
//                (prompt_ids, completion_ids, logprobs, loss_mask whose
//                length is prompt_ids + completion_ids, reward) and the
//                run's outcome (gold match) as reward.
//     verl:      one row per run with a gold answer, in verl's prompt
//                parquet columns (data_source, prompt, ability,
//                reward_model{style, ground_truth}, extra_info{split,
//                index, ...}); runs without gold or without a model call
//                are skipped.
//     sft-turns: one row per model call not labelled bad:
//                {"messages":[{role, content, train}...]}, train = true on
//                the completion alone.
// - export_llamafactory creates `out_dir`, writes troupe_sft.jsonl or
//   troupe_dpo.jsonl (sharegpt rows, see sharegpt.hpp) and adds or replaces
//   the "troupe_sft"/"troupe_dpo" entry of out_dir/dataset_info.json,
//   keeping every other entry. Files are written to a temporary name and
//   renamed, so a failed export leaves the previous files as they were. An
//   existing dataset_info.json that does not parse is an error, not
//   overwritten.
// - ExportStats: rows written, runs that matched the filter (dpo: distinct
//   runs of exported pairs), rows skipped because they cannot be laid out
//   in the target format (see sharegpt.hpp).
// - Errors: a format the function does not write is invalid_argument; a
//   store read error is returned as is (export stops); a write failure is
//   io naming the file.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "memory/store.hpp"

namespace troupe::memory {

enum class ExportFormat { sft, dpo, kto, llamafactory_sft, llamafactory_dpo, rollouts, verl, sft_turns };

// "sft", "dpo", "kto", "llamafactory-sft", "llamafactory-dpo", "rollouts",
// "verl", "sft-turns".
Result<ExportFormat> parse_export_format(std::string_view name);
const char* to_string(ExportFormat format);

struct ExportFilter {
  std::string workflow;             // exact match; empty = every workflow
  std::optional<int64_t> since_ms;  // created_ms >= since_ms
  std::string run_id;               // exact match; empty = every run
};

struct ExportStats {
  size_t rows = 0;
  size_t runs = 0;
  size_t skipped = 0;
};

// sft, dpo or kto (TRL conversational JSONL), rollouts, verl or sft-turns to `out`.
Result<ExportStats> export_jsonl(Store& store, ExportFormat format, const ExportFilter& filter,
                                 std::ostream& out);

// The RL shapes (called by export_jsonl).
Result<ExportStats> export_rl_jsonl(Store& store, ExportFormat format, const ExportFilter& filter, std::ostream& out);

// llamafactory_sft or llamafactory_dpo into the folder `out_dir`.
Result<ExportStats> export_llamafactory(Store& store, ExportFormat format, const ExportFilter& filter,
                                        const std::string& out_dir);

}  // namespace troupe::memory
