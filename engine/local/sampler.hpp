// Token sampling for the local engine. A Sampler turns one logits vector
// into one token id under a request's sampling parameters.
//
// Callers may rely on:
// - temperature == 0 (or unset with greedy requested) picks the argmax; ties
//   go to the lowest token id.
// - Penalties are applied to the logits first (repetition: divide positive /
//   multiply negative logits of tokens seen; frequency: minus
//   count * penalty; presence: minus penalty once), then temperature, then
//   the filters top_k, top_p, min_p (each keeps at least one token), then
//   one draw from the renormalised distribution.
// - Determinism: the draw uses the sequence's own RNG (SequenceRng), seeded
//   from (request seed, choice index) and advanced once per sampled token,
//   so the same request with the same seed yields the same tokens whatever
//   else shares the batch.
// - Logprobs are log-softmax of the logits after penalties and temperature
//   (before the filters), as vLLM reports them; top-N alternatives sorted
//   by logprob, ties by token id.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace troupe::engine::local {

struct SamplerParams {
  double temperature = 1.0;  // 0 = greedy
  int top_k = 0;             // 0 = off
  double top_p = 1.0;        // 1 = off
  double min_p = 0.0;        // 0 = off
  double repetition_penalty = 1.0;  // 1 = off
  double frequency_penalty = 0.0;
  double presence_penalty = 0.0;
  int logprobs = 0;  // top-N alternatives to report; 0 = none, -1 = chosen token only
};

// A per-sequence random stream: splitmix64-seeded xoshiro-style generator.
class SequenceRng {
 public:
  SequenceRng() : SequenceRng(0, 0) {}
  SequenceRng(uint64_t seed, uint64_t stream);
  // Uniform in [0, 1).
  double next_unit();

 private:
  uint64_t s_[4];
};

struct SampledToken {
  int32_t id = -1;
  float logprob = 0;  // of the chosen token (always computed)
  std::vector<std::pair<int32_t, float>> top;  // top-N (id, logprob) when asked
};

class Sampler {
 public:
  // `history` holds the tokens the penalties look at (prompt + generated).
  static SampledToken sample(std::span<const float> logits, const SamplerParams& p,
                             std::span<const int32_t> history, SequenceRng& rng);
};

}  // namespace troupe::engine::local
