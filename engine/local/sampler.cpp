#include "engine/local/sampler.hpp"
#include "common/hash.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace troupe::engine::local {
namespace {

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

SequenceRng::SequenceRng(uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
  for (auto& s : s_) s = hash::splitmix64_next(x);
}

double SequenceRng::next_unit() {
  // xoshiro256** step.
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

SampledToken Sampler::sample(std::span<const float> logits_in, const SamplerParams& p,
                             std::span<const int32_t> history, SequenceRng& rng) {
  const size_t n = logits_in.size();
  std::vector<float> logits(logits_in.begin(), logits_in.end());

  // Penalties.
  if (p.repetition_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : history)
      if (t >= 0 && static_cast<size_t>(t) < n) ++counts[t];
    for (auto [t, c] : counts) {
      float& l = logits[static_cast<size_t>(t)];
      if (p.repetition_penalty != 1.0)
        l = l > 0 ? static_cast<float>(l / p.repetition_penalty) : static_cast<float>(l * p.repetition_penalty);
      l -= static_cast<float>(c * p.frequency_penalty + p.presence_penalty);
    }
  }

  const bool greedy = p.temperature <= 0.0;
  if (!greedy && p.temperature != 1.0)
    for (auto& l : logits) l = static_cast<float>(l / p.temperature);

  // Log-softmax for the reported logprobs.
  float max_l = -std::numeric_limits<float>::infinity();
  for (float l : logits) max_l = std::max(max_l, l);
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max_l));
  const float log_z = max_l + static_cast<float>(std::log(sum));

  SampledToken out;
  if (greedy) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
      if (logits[i] > logits[best]) best = i;
    out.id = static_cast<int32_t>(best);
  } else {
    // Candidates sorted by logit (ties: lower id first).
    std::vector<int32_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    size_t keep = n;
    if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) keep = static_cast<size_t>(p.top_k);
    auto by_logit = [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    if (keep < n) {
      std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(), by_logit);
      idx.resize(keep);
    } else {
      std::sort(idx.begin(), idx.end(), by_logit);
    }
    std::vector<double> probs(idx.size());
    double total = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      probs[i] = std::exp(static_cast<double>(logits[idx[i]] - max_l));
      total += probs[i];
    }
    for (auto& q : probs) q /= total;
    // min_p: drop tokens below min_p * the top probability.
    size_t cut = probs.size();
    if (p.min_p > 0.0) {
      double floor = p.min_p * probs[0];
      size_t k = 1;
      while (k < cut && probs[k] >= floor) ++k;
      cut = k;
    }
    // top_p: the smallest prefix whose mass reaches top_p.
    if (p.top_p < 1.0) {
      double mass = 0;
      size_t k = 0;
      while (k < cut) {
        mass += probs[k];
        ++k;
        if (mass >= p.top_p) break;
      }
      cut = std::max<size_t>(1, k);
    }
    double kept = 0;
    for (size_t i = 0; i < cut; ++i) kept += probs[i];
    double r = rng.next_unit() * kept;
    size_t chosen = cut - 1;
    double acc = 0;
    for (size_t i = 0; i < cut; ++i) {
      acc += probs[i];
      if (r < acc) {
        chosen = i;
        break;
      }
    }
    out.id = idx[chosen];
  }
  out.logprob = logits[static_cast<size_t>(out.id)] - log_z;
  if (p.logprobs > 0) {
    size_t k = std::min<size_t>(static_cast<size_t>(p.logprobs), n);
    std::vector<int32_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (size_t i = 0; i < k; ++i) out.top.emplace_back(idx[i], logits[idx[i]] - log_z);
  }
  return out;
}

}  // namespace troupe::engine::local
