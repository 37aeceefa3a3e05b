// bench_cuda: decode and prefill speed of the CUDA backend on random-weight
// models, printed as a markdown table (a plain driver: no Google Benchmark,
// so the engine-only build on a bare GPU machine builds it).
//
// Models: a Qwen2-0.5B shape (dim 896, 24 layers, 14/2 heads, ffn 4864,
// vocab 151936, tied output) and a Llama-3-8B shape (dim 4096, 32 layers,
// 32/8 heads, ffn 14336, vocab 128256, rope theta 500000), in bf16 and/or
// q8_0. For each: prefill tok/s of one prompt, decode µs per step and tok/s
// at batch 1, 8, 64 (each sequence decoding after a 128-token context, f16
// KV cache), and the fraction of the device's copy bandwidth (bytes read +
// written per second, cudaMemcpy device to device) that a decode step
// reaches counting the weight bytes it reads. Targets reported: batch-1
// decode >= 70% of copy bandwidth for 8B bf16; <= 1 ms per decode step for
// 0.5B at batch 1; batch-64 aggregate >= 5000 tok/s for 8B.
//
// Weights are filled on the host in parallel with a cheap generator
// (values uniform in +-1/sqrt(in), q8_0 blocks of random quants); they are
// not meant to produce sensible text.
//
// Flags: --models 0.5b,8b  --types bf16,q8_0 (default: 0.5b bf16, 8b bf16
// and q8_0)  --batches 1,8,64  --prompt 512  --steps 32  --device N
// --quick (prompt 128, 8 steps, batches 1 and 8). Exit status: 0 when
// every measurement ran (targets missed are reported, not failed), 1 on an
// error, 2 without a CUDA device.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/local/cuda/kernels_cuda.hpp"
#include "engine/local/quant.hpp"
#include "engine/local/transformer.hpp"

using namespace troupe::engine::local;

namespace {

struct Shape {
  std::string name;
  Arch arch;
  int dim, layers, heads, kv_heads, ffn, vocab;
  float theta;
  bool tied;
};

const Shape kQwen05{"qwen2-0.5B", Arch::qwen2, 896, 24, 14, 2, 4864, 151936, 1000000.0f, true};
const Shape kLlama8{"llama3-8B", Arch::llama, 4096, 32, 32, 8, 14336, 128256, 500000.0f, false};

struct Options {
  std::vector<std::string> models = {"0.5b", "8b"};
  std::vector<std::string> types;  // empty: the defaults per model
  std::vector<int> batches = {1, 8, 64};
  int prompt = 512;
  int steps = 32;
  int device = 0;
  int context = 128;  // tokens of each sequence before decoding
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

template <class F>
void parallel_for(int64_t n, F&& f) {
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(std::thread::hardware_concurrency(), 32));
  const int64_t chunk = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&f, b, e] { f(b, e); });
  }
  for (auto& th : pool) th.join();
}

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Random weights of one model, filled in parallel.
struct Model {
  ModelWeights weights;
  size_t decode_bytes = 0;  // weight bytes a decode step reads
  size_t total_bytes = 0;
};

Model build(const Shape& s, TensorType type) {
  Model m;
  ModelConfig& c = m.weights.config;
  c.arch = s.arch;
  c.dim = s.dim;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.ffn_dim = s.ffn;
  c.vocab_size = s.vocab;
  c.context_length = 4096;
  c.rope_theta = s.theta;
  c.rope_neox = s.arch == Arch::qwen2;
  c.rms_eps = 1e-6f;
  auto store = std::make_shared<std::vector<std::unique_ptr<uint8_t[]>>>();
  uint64_t tensor_seed = 1;
  auto matrix = [&](const std::string& name, int64_t in, int64_t out) {
    const size_t bytes = tensor_bytes(type, in * out);
    store->emplace_back(new uint8_t[bytes]);
    uint8_t* data = store->back().get();
    const uint64_t seed = mix(++tensor_seed);
    const float a = 1.0f / std::sqrt(static_cast<float>(in));
    if (type == TensorType::q8_0) {
      const uint16_t d = f32_to_f16(a / 127.0f);
      const int64_t blocks = in * out / 32;
      parallel_for(blocks, [&](int64_t b0, int64_t b1) {
        uint64_t x = mix(seed ^ static_cast<uint64_t>(b0));
        for (int64_t b = b0; b < b1; ++b) {
          uint8_t* blk = data + b * 34;
          std::memcpy(blk, &d, 2);
          for (int j = 0; j < 32; j += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            for (int k = 0; k < 8; ++k) {
              const auto q = static_cast<int8_t>(static_cast<uint8_t>(x >> (8 * k)));
              blk[2 + j + k] = static_cast<uint8_t>(q == -128 ? -127 : q);
            }
          }
        }
      });
    } else {  // bf16 (or f16/f32 through the generic path)
      const int64_t n = in * out;
      parallel_for(n / 4, [&](int64_t i0, int64_t i1) {
        uint64_t x = mix(seed ^ static_cast<uint64_t>(i0));
        for (int64_t i = i0; i < i1; ++i) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          for (int k = 0; k < 4; ++k) {
            const float v = (static_cast<float>((x >> (16 * k)) & 0xffffu) / 32768.0f - 1.0f) * a;
            if (type == TensorType::bf16) {
              const uint16_t h = f32_to_bf16(v);
              std::memcpy(data + (i * 4 + k) * 2, &h, 2);
            } else if (type == TensorType::f16) {
              const uint16_t h = f32_to_f16(v);
              std::memcpy(data + (i * 4 + k) * 2, &h, 2);
            } else {
              std::memcpy(data + (i * 4 + k) * 4, &v, 4);
            }
          }
        }
      });
    }
    m.total_bytes += bytes;
    return TensorView{name, type, {in, out}, data};
  };
  auto vec = [&](const std::string& name, int64_t n, float value) {
    store->emplace_back(new uint8_t[static_cast<size_t>(n) * 4]);
    auto* f = reinterpret_cast<float*>(store->back().get());
    std::fill(f, f + n, value);
    return TensorView{name, TensorType::f32, {n}, f};
  };
  const int64_t dim = s.dim, kv = static_cast<int64_t>(s.kv_heads) * (s.dim / s.heads);
  m.weights.tok_embd = matrix("token_embd.weight", dim, s.vocab);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = vec(p + "attn_norm.weight", dim, 1.0f);
    L.ffn_norm = vec(p + "ffn_norm.weight", dim, 1.0f);
    L.wq = matrix(p + "attn_q.weight", dim, dim);
    L.wk = matrix(p + "attn_k.weight", dim, kv);
    L.wv = matrix(p + "attn_v.weight", dim, kv);
    L.wo = matrix(p + "attn_output.weight", dim, dim);
    L.w_gate = matrix(p + "ffn_gate.weight", dim, s.ffn);
    L.w_up = matrix(p + "ffn_up.weight", dim, s.ffn);
    L.w_down = matrix(p + "ffn_down.weight", s.ffn, dim);
    if (s.arch == Arch::qwen2) {
      L.bq = vec(p + "attn_q.bias", dim, 0.0f);
      L.bk = vec(p + "attn_k.bias", kv, 0.0f);
      L.bv = vec(p + "attn_v.bias", kv, 0.0f);
    }
    m.weights.layers.push_back(std::move(L));
  }
  m.weights.output_norm = vec("output_norm.weight", dim, 1.0f);
  if (!s.tied) m.weights.output = matrix("output.weight", dim, s.vocab);
  // A decode step reads every layer matrix and the output projection (the
  // embedding lookup reads a few rows only).
  m.decode_bytes = m.total_bytes - (s.tied ? 0 : tensor_bytes(type, dim * s.vocab));
  m.weights.storage = store;
  m.weights.source = "random (bench_cuda)";
  return m;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Row {
  std::string model, type;
  std::string what;  // "prefill N" or "decode bB"
  int batch = 0;
  double us_per_step = 0, tok_s = 0, bw_fraction = -1;
};

bool fail(const std::string& what, const troupe::Error& e) {
  std::fprintf(stderr, "bench_cuda: %s: %s\n", what.c_str(), e.describe().c_str());
  return false;
}

bool run_model(const Shape& s, TensorType type, const Options& o, double bandwidth, std::vector<Row>& rows) {
  auto t0 = std::chrono::steady_clock::now();
  Model m = build(s, type);
  const double t_fill = seconds_since(t0);
  auto k = make_cuda_kernels({.device = o.device});
  if (!k.ok()) return fail("make_cuda_kernels", k.error());
  t0 = std::chrono::steady_clock::now();
  const size_t decode_bytes = m.decode_bytes, total_bytes = m.total_bytes;
  auto tr = Transformer::create(std::move(m.weights), std::shared_ptr<Kernels>(std::move(k.value())));
  if (!tr.ok()) return fail(s.name + " " + to_string(type) + ": Transformer::create", tr.error());
  std::fprintf(stderr, "%s %s: %.2f GiB of weights, filled in %.1f s, uploaded in %.1f s\n", s.name.c_str(),
               to_string(type), static_cast<double>(total_bytes) / (1 << 30), t_fill, seconds_since(t0));
  Transformer& T = *tr.value();
  const int vocab = s.vocab;
  auto token = [&](int i) { return static_cast<int32_t>(mix(static_cast<uint64_t>(i) + 12345) % static_cast<uint64_t>(vocab)); };

  // Prefill: one prompt in one pass (warm-up, then the best of 3).
  {
    ContiguousKvCache cache(T.config(), T.kernels(), 1, o.prompt, KvType::f16);
    std::vector<int32_t> prompt(static_cast<size_t>(o.prompt));
    for (int i = 0; i < o.prompt; ++i) prompt[static_cast<size_t>(i)] = token(i);
    double best = 1e30;
    for (int rep = 0; rep < 4; ++rep) {
      const BatchEntry e = cache.entry(0, prompt, 0);
      const auto t = std::chrono::steady_clock::now();
      auto l = T.forward({&e, 1});
      if (!l.ok()) return fail(s.name + " prefill", l.error());
      if (rep > 0) best = std::min(best, seconds_since(t));
    }
    rows.push_back({s.name, to_string(type), "prefill " + std::to_string(o.prompt), 1, best * 1e6,
                    o.prompt / best, -1});
  }
  // Decode at each batch size: a context of o.context tokens, then steps,
  // with CUDA graphs (the default); batch 1 again without, for the ratio.
  std::vector<std::pair<int, bool>> runs;
  for (int batch : o.batches) runs.push_back({batch, true});
  if (std::find(o.batches.begin(), o.batches.end(), 1) != o.batches.end()) runs.push_back({1, false});
  for (auto [batch, graphs] : runs) {
    set_cuda_graphs(T.kernels(), graphs);
    const int max_len = o.context + o.steps + 4;
    ContiguousKvCache cache(T.config(), T.kernels(), batch, max_len, KvType::f16);
    std::vector<std::vector<int32_t>> ctx(static_cast<size_t>(batch));
    std::vector<BatchEntry> entries;
    for (int b = 0; b < batch; ++b) {
      for (int i = 0; i < o.context; ++i) ctx[b].push_back(token(b * 1000 + i));
      entries.push_back(cache.entry(b, ctx[b], 0));
      entries.back().want_logits = false;
    }
    // The contexts in chunks of at most 4096 tokens per pass.
    for (size_t first = 0; first < entries.size();) {
      size_t count = std::max<size_t>(1, 4096 / static_cast<size_t>(o.context));
      count = std::min(count, entries.size() - first);
      auto l = T.forward(std::span<const BatchEntry>(entries.data() + first, count));
      if (!l.ok()) return fail(s.name + " context prefill", l.error());
      first += count;
    }
    std::vector<int32_t> next(static_cast<size_t>(batch));
    for (int b = 0; b < batch; ++b) next[b] = token(7 * b + 3);
    double elapsed = 0;
    // Step 1 may grow scratch buffers, step 2 sees the step's launches
    // first, step 3 captures them: time from step 4 on.
    const int warm = 3;
    for (int step = 0; step < warm + o.steps; ++step) {
      std::vector<BatchEntry> b;
      for (int i = 0; i < batch; ++i) b.push_back(cache.entry(i, {&next[i], 1}, o.context + step));
      const auto t = std::chrono::steady_clock::now();
      auto l = T.forward(b);
      if (!l.ok()) return fail(s.name + " decode", l.error());
      if (step >= warm) elapsed += seconds_since(t);
      for (int i = 0; i < batch; ++i) {
        const auto row = l->last(i);
        next[i] = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
      }
    }
    const double step_s = elapsed / o.steps;
    rows.push_back({s.name, to_string(type), graphs ? "decode" : "decode, no graphs", batch, step_s * 1e6,
                    batch / step_s, static_cast<double>(decode_bytes) / step_s / bandwidth});
  }
  if (auto g = cuda_graph_stats(T.kernels()))
    std::fprintf(stderr, "%s %s: CUDA graphs captured %llu, steps replayed %llu, recorded steps run eagerly %llu, "
                 "capture failures %llu\n", s.name.c_str(), to_string(type),
                 static_cast<unsigned long long>(g->captured), static_cast<unsigned long long>(g->replayed),
                 static_cast<unsigned long long>(g->eager_steps), static_cast<unsigned long long>(g->capture_failures));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool types_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_cuda: %s needs a value\n", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--models") {
      o.models = split(value());
    } else if (a == "--types") {
      o.types = split(value());
      types_given = true;
    } else if (a == "--batches") {
      o.batches.clear();
      for (const auto& b : split(value())) o.batches.push_back(std::max(1, std::atoi(b.c_str())));
    } else if (a == "--prompt") {
      o.prompt = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--steps") {
      o.steps = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--device") {
      o.device = std::atoi(value().c_str());
    } else if (a == "--quick") {
      o.prompt = 128;
      o.steps = 8;
      o.batches = {1, 8};
    } else {
      std::fprintf(stderr,
                   "usage: bench_cuda [--models 0.5b,8b] [--types bf16,q8_0] [--batches 1,8,64] [--prompt N] "
                   "[--steps N] [--device N] [--quick]\n");
      return a == "--help" || a == "-h" ? 0 : 1;
    }
  }
  if (cuda_device_count() == 0) {
    std::fprintf(stderr, "bench_cuda: no CUDA device: %s\n", describe_cuda_devices().c_str());
    return 2;
  }
  std::printf("device: %s\n", describe_cuda_devices().c_str());
  auto bw = measure_cuda_copy_bandwidth(o.device, size_t{1} << 30, 10);
  if (!bw.ok()) return fail("copy bandwidth", bw.error()) ? 0 : 1;
  std::printf("device-to-device copy bandwidth (read + written): %.0f GB/s\n\n", bw.value() / 1e9);

  std::vector<std::pair<Shape, TensorType>> runs;
  auto parse_type = [](const std::string& t) -> TensorType {
    if (t == "bf16") return TensorType::bf16;
    if (t == "f16") return TensorType::f16;
    if (t == "q8_0") return TensorType::q8_0;
    if (t == "q4_0") return TensorType::q4_0;
    if (t == "f32") return TensorType::f32;
    std::fprintf(stderr, "bench_cuda: unknown type %s (bf16, f16, f32, q8_0, q4_0)\n", t.c_str());
    std::exit(1);
  };
  for (const auto& name : o.models) {
    const Shape* s = name == "0.5b" ? &kQwen05 : name == "8b" ? &kLlama8 : nullptr;
    if (!s) {
      std::fprintf(stderr, "bench_cuda: unknown model %s (0.5b, 8b)\n", name.c_str());
      return 1;
    }
    std::vector<std::string> types = types_given ? o.types
                                     : s == &kQwen05 ? std::vector<std::string>{"bf16"}
                                                     : std::vector<std::string>{"bf16", "q8_0"};
    for (const auto& t : types) runs.emplace_back(*s, parse_type(t));
  }

  std::vector<Row> rows;
  bool all_ok = true;
  for (const auto& [shape, type] : runs) all_ok = run_model(shape, type, o, bw.value(), rows) && all_ok;

  std::printf("| model | weights | run | batch | µs/step | tok/s | decode bytes / copy bandwidth |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    char frac[32] = "";
    if (r.bw_fraction >= 0) std::snprintf(frac, sizeof frac, "%.0f%%", r.bw_fraction * 100);
    std::printf("| %s | %s | %s | %d | %.0f | %.0f | %s |\n", r.model.c_str(), r.type.c_str(), r.what.c_str(),
                r.batch, r.us_per_step, r.tok_s, frac);
  }
  std::printf("\ntargets:\n");
  for (const Row& r : rows) {
    if (r.what != "decode") continue;
    if (r.model == kLlama8.name && r.type == "bf16" && r.batch == 1)
      std::printf("- 8B bf16 batch-1 decode >= 70%% of copy bandwidth: %.0f%% %s\n", r.bw_fraction * 100,
                  r.bw_fraction >= 0.70 ? "MET" : "MISSED");
    if (r.model == kQwen05.name && r.batch == 1)
      std::printf("- 0.5B %s decode <= 1000 µs per step: %.0f µs %s\n", r.type.c_str(), r.us_per_step,
                  r.us_per_step <= 1000 ? "MET" : "MISSED");
    if (r.model == kLlama8.name && r.batch == 64)
      std::printf("- 8B %s batch-64 decode >= 5000 tok/s: %.0f tok/s %s\n", r.type.c_str(), r.tok_s,
                  r.tok_s >= 5000 ? "MET" : "MISSED");
  }
  return all_ok ? 0 : 1;
}
