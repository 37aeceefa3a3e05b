// Throughput measurements of the local engine's forward pass, the way
// llama-bench measures llama.cpp, for `troupe bench` and bench/ drivers.
//
// What callers may rely on:
// - A test is one of: prompt processing "ppN" (one forward pass over N
//   random tokens into an empty cache, logits for the last), token
//   generation "tgN" (N single-token forward passes from an empty cache,
//   logits each time), or "tgN@ppP xS": a P-token prompt prefilled once,
//   then S samples that share its KV rows (prefix sharing, as LeaP and IAD
//   use the engine) decoding N tokens each as one batch per step; its
//   tokens/s counts the S*N decoded tokens over the decode time only.
// - measure() runs the test once to warm up, then `reps` times, and reports
//   every repetition's tokens/s with their median, mean and sample stddev.
// - Tokens are drawn from a fixed-seed generator: the same test on the
//   same model computes the same thing every time.
// - The forward pass runs on make_cpu_kernels({threads}) directly (no
//   scheduler, tokenizer or sampling), as llama-bench drives llama_decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/model.hpp"
#include "engine/local/transformer.hpp"

namespace troupe::engine::local {

struct SpeedTest {
  int n_prompt = 0;   // tokens prefilled (pp, or the shared prompt of a samples test)
  int n_gen = 0;      // tokens decoded per sequence
  int n_samples = 0;  // 0: a plain pp or tg test; >= 1: samples after a shared prompt
  std::string name() const;  // "pp512", "tg128", "tg128@pp512x8"
  int tokens() const;        // tokens counted for tokens/s
};

struct SpeedResult {
  SpeedTest test;
  int threads = 0;
  std::vector<double> tokens_per_s;  // one per repetition
  double median = 0, mean = 0, stddev = 0;
};

class SpeedBench {
 public:
  static Result<std::unique_ptr<SpeedBench>> create(const ModelWeights& weights, int threads,
                                                    KvType kv_type = KvType::f32);
  // Seconds of the measured part of one run of `test`.
  Result<double> run(const SpeedTest& test);
  // A warm-up run, then `reps` measured runs.
  Result<SpeedResult> measure(const SpeedTest& test, int reps);
  int threads() const { return threads_; }

 private:
  SpeedBench(std::unique_ptr<Transformer> t, int threads, KvType kv) : tr_(std::move(t)), threads_(threads), kv_(kv) {}
  std::vector<int32_t> random_tokens(int n);

  std::unique_ptr<Transformer> tr_;
  int threads_;
  KvType kv_;
  uint64_t rng_ = 0x2545f4914f6cdd1dull;  // any nonzero xorshift64 state
};

// Median, mean and sample standard deviation of `v` into r.
void summarize(SpeedResult& r);

// STREAM-style copy bandwidth with `threads` threads: (bytes read + bytes
// written) per second copying 128 MiB arrays, median of `reps` runs after a
// warm-up.
double measure_copy_bandwidth(int threads, int reps);

// Bytes of weights one decoded token reads: every layer matrix and norm,
// the output projection (or the tied embedding) and one embedding row.
size_t weight_bytes_per_token(const ModelWeights& w);
// Bytes and element count of every tensor of the model.
size_t model_bytes(const ModelWeights& w);
int64_t model_parameters(const ModelWeights& w);
// The type most of the layer matrices have ("F16", "Q8_0", ...).
std::string model_weight_type(const ModelWeights& w);
// K and V bytes one token occupies in the cache: 2 * layers * kv_dim * element.
size_t kv_bytes_per_token(const ModelConfig& c, KvType t);
// Peak resident set size of this process so far (VmHWM), 0 if unknown.
size_t peak_rss_bytes();

}  // namespace troupe::engine::local
