#include "engine/local/speed_bench.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "engine/local/thread_pool.hpp"

namespace troupe::engine::local {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

size_t bytes_of(const TensorView& t) { return t.empty() ? 0 : tensor_bytes(t.type, t.elements()); }

template <class F>
void for_each_tensor(const ModelWeights& w, F f) {
  f(w.tok_embd);
  f(w.output_norm);
  f(w.output);
  for (const LayerWeights& L : w.layers)
    for (const TensorView* t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv, &L.ffn_norm,
                                &L.w_gate, &L.w_up, &L.w_down})
      f(*t);
}

}  // namespace

std::string SpeedTest::name() const {
  if (n_samples > 0)
    return "tg" + std::to_string(n_gen) + "@pp" + std::to_string(n_prompt) + "x" + std::to_string(n_samples);
  if (n_gen > 0) return "tg" + std::to_string(n_gen);
  return "pp" + std::to_string(n_prompt);
}

int SpeedTest::tokens() const {
  if (n_samples > 0) return n_samples * n_gen;
  return n_gen > 0 ? n_gen : n_prompt;
}

Result<std::unique_ptr<SpeedBench>> SpeedBench::create(const ModelWeights& weights, int threads, KvType kv_type) {
  if (threads < 1) return Error{ErrorCode::invalid_argument, "bench: threads must be at least 1"};
  std::shared_ptr<Kernels> k = make_cpu_kernels({.threads = threads});
  auto tr = Transformer::create(weights, std::move(k));
  if (!tr.ok()) return tr.error();
  return std::unique_ptr<SpeedBench>(new SpeedBench(std::move(tr.value()), threads, kv_type));
}

std::vector<int32_t> SpeedBench::random_tokens(int n) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  const uint64_t vocab = static_cast<uint64_t>(tr_->config().vocab_size);
  for (auto& t : out) {
    rng_ ^= rng_ << 13, rng_ ^= rng_ >> 7, rng_ ^= rng_ << 17;  // xorshift64
    t = static_cast<int32_t>(rng_ % vocab);
  }
  return out;
}

Result<double> SpeedBench::run(const SpeedTest& t) {
  const ModelConfig& c = tr_->config();
  const int ctx = c.context_length > 0 ? c.context_length : (1 << 30);
  if (t.n_prompt < 0 || t.n_gen < 0 || t.n_samples < 0 || (t.n_prompt == 0 && t.n_gen == 0))
    return Error{ErrorCode::invalid_argument, "bench: a test needs a prompt or tokens to generate"};
  if (t.n_prompt + t.n_gen > ctx)
    return Error{ErrorCode::invalid_argument, "bench: " + t.name() + " needs " + std::to_string(t.n_prompt + t.n_gen) +
                                                  " positions, more than the model's context of " +
                                                  std::to_string(ctx)};
  if (t.n_samples == 0 && t.n_gen == 0) {  // pp
    ContiguousKvCache cache(c, tr_->kernels(), 1, t.n_prompt, kv_);
    const auto tokens = random_tokens(t.n_prompt);
    const BatchEntry e = cache.entry(0, tokens, 0);
    const auto t0 = Clock::now();
    auto out = tr_->forward({&e, 1});
    const double s = seconds_since(t0);
    if (!out.ok()) return out.error();
    return s;
  }
  if (t.n_samples == 0) {  // tg
    ContiguousKvCache cache(c, tr_->kernels(), 1, t.n_prompt + t.n_gen, kv_);
    const auto tokens = random_tokens(t.n_prompt + t.n_gen);
    if (t.n_prompt > 0) {
      const BatchEntry p = cache.entry(0, std::span(tokens).first(static_cast<size_t>(t.n_prompt)), 0);
      if (auto out = tr_->forward({&p, 1}); !out.ok()) return out.error();
    }
    const auto t0 = Clock::now();
    for (int i = 0; i < t.n_gen; ++i) {
      const BatchEntry e = cache.entry(0, std::span(tokens).subspan(static_cast<size_t>(t.n_prompt + i), 1), t.n_prompt + i);
      if (auto out = tr_->forward({&e, 1}); !out.ok()) return out.error();
    }
    return seconds_since(t0);
  }
  // Samples after a shared prompt: blocks of 16 rows; the prompt's full
  // blocks are shared by every sample, its partial last block is copied
  // into each sample's own first block (copy on write, as the paged cache does).
  constexpr int kBlock = 16;
  const int S = t.n_samples;
  const int shared = t.n_prompt / kBlock;
  const int per_seq = (t.n_prompt + t.n_gen + kBlock - 1) / kBlock;
  const int own = per_seq - shared;
  const int n_blocks = shared + (S + 1) * own;  // the prompt's own tail block(s), then each sample's
  const int64_t kvd = tr_->kv_dim();
  const size_t elem = kv_element_bytes(kv_);
  const size_t block_bytes = static_cast<size_t>(kBlock) * kvd * elem;
  KvPool pool;
  pool.block_size = kBlock;
  pool.row_stride = kvd;
  pool.block_stride = kBlock * kvd;
  pool.type = kv_;
  std::vector<std::shared_ptr<float[]>> buffers;
  const size_t floats = (block_bytes * n_blocks + sizeof(float) - 1) / sizeof(float);
  for (int l = 0; l < c.n_layers; ++l) {
    buffers.push_back(tr_->kernels().alloc(floats));
    pool.k.push_back(buffers.back().get());
    buffers.push_back(tr_->kernels().alloc(floats));
    pool.v.push_back(buffers.back().get());
  }
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(S + 1));
  for (int s = 0; s <= S; ++s) {
    for (int b = 0; b < shared; ++b) tables[s].push_back(b);
    for (int b = 0; b < own; ++b) tables[s].push_back(shared + s * own + b);
  }
  const auto prompt = random_tokens(t.n_prompt);
  if (t.n_prompt > 0) {
    const BatchEntry p{prompt, 0, &pool, tables[0]};
    if (auto out = tr_->forward({&p, 1}); !out.ok()) return out.error();
    if (t.n_prompt % kBlock != 0)
      for (int s = 1; s <= S; ++s)
        for (int l = 0; l < c.n_layers; ++l)
          for (float* base : {pool.k[l], pool.v[l]}) {
            char* bytes = reinterpret_cast<char*>(base);
            std::memcpy(bytes + tables[s][shared] * block_bytes, bytes + tables[0][shared] * block_bytes, block_bytes);
          }
  }
  std::vector<std::vector<int32_t>> next(static_cast<size_t>(S));
  for (auto& n : next) n = random_tokens(t.n_gen);
  std::vector<BatchEntry> batch(static_cast<size_t>(S));
  const auto t0 = Clock::now();
  for (int i = 0; i < t.n_gen; ++i) {
    for (int s = 0; s < S; ++s)
      batch[s] = BatchEntry{std::span(next[s]).subspan(static_cast<size_t>(i), 1), t.n_prompt + i, &pool, tables[s + 1]};
    if (auto out = tr_->forward(batch); !out.ok()) return out.error();
  }
  return seconds_since(t0);
}

void summarize(SpeedResult& r) {
  const auto& v = r.tokens_per_s;
  if (v.empty()) return;
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  r.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  double sum = 0;
  for (double x : v) sum += x;
  r.mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double x : v) ss += (x - r.mean) * (x - r.mean);
  r.stddev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
}

Result<SpeedResult> SpeedBench::measure(const SpeedTest& test, int reps) {
  SpeedResult r;
  r.test = test;
  r.threads = threads_;
  if (auto warm = run(test); !warm.ok()) return warm.error();
  for (int i = 0; i < reps; ++i) {
    auto s = run(test);
    if (!s.ok()) return s.error();
    r.tokens_per_s.push_back(static_cast<double>(test.tokens()) / std::max(*s, 1e-9));
  }
  summarize(r);
  return r;
}

double measure_copy_bandwidth(int threads, int reps) {
  const size_t n = size_t{1} << 25;  // 32 Mi floats = 128 MiB per array
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  ThreadPool pool(threads);
  SpeedResult r;
  for (int i = 0; i < reps + 1; ++i) {
    const auto t0 = Clock::now();
    pool.parallel_for(static_cast<int64_t>(n / 4096), [&](int64_t s, int64_t e, int) {
      std::memcpy(b.data() + s * 4096, a.data() + s * 4096, static_cast<size_t>(e - s) * 4096 * sizeof(float));
    });
    const double t = seconds_since(t0);
    if (i > 0) r.tokens_per_s.push_back(2.0 * n * sizeof(float) / t);  // the first run warms the pages
  }
  summarize(r);
  return r.median;
}

size_t weight_bytes_per_token(const ModelWeights& w) {
  size_t total = bytes_of(w.output.empty() ? w.tok_embd : w.output) + bytes_of(w.output_norm);
  total += tensor_bytes(w.tok_embd.type, w.tok_embd.shape[0]);  // one embedding row
  for (const LayerWeights& L : w.layers)
    for (const TensorView* t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv, &L.ffn_norm,
                                &L.w_gate, &L.w_up, &L.w_down})
      total += bytes_of(*t);
  return total;
}

size_t model_bytes(const ModelWeights& w) {
  size_t total = 0;
  for_each_tensor(w, [&](const TensorView& t) { total += bytes_of(t); });
  return total;
}

int64_t model_parameters(const ModelWeights& w) {
  int64_t total = 0;
  for_each_tensor(w, [&](const TensorView& t) { total += t.empty() ? 0 : t.elements(); });
  return total;
}

std::string model_weight_type(const ModelWeights& w) {
  std::map<std::string, int64_t> by_type;
  for (const LayerWeights& L : w.layers)
    for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      by_type[to_string(t->type)] += t->elements();
  std::string best;
  int64_t most = -1;
  for (const auto& [name, n] : by_type)
    if (n > most) best = name, most = n;
  std::transform(best.begin(), best.end(), best.begin(), [](unsigned char ch) { return std::toupper(ch); });
  return best;
}

size_t kv_bytes_per_token(const ModelConfig& c, KvType t) {
  return 2 * static_cast<size_t>(c.n_layers) * static_cast<size_t>(c.n_kv_heads) * c.head_dim() * kv_element_bytes(t);
}

size_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return static_cast<size_t>(std::strtoull(line.c_str() + 6, nullptr, 10)) * 1024;
  return 0;
}

}  // namespace troupe::engine::local
