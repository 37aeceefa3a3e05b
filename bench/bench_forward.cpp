// Forward-pass throughput of the optimised CPU kernels on a random-weight
// llama model built in memory (no file): decode tokens/s at batch 1 and
// prefill tokens/s, for 1 and 2 threads and f32 / f16 / q8_0 weights, next
// to a STREAM-style copy bandwidth measured in the same run, and the ratio
// of decode speed to the bandwidth bound (bandwidth / bytes of weights read
// per token). Every figure is the median of --reps repetitions.
//
//   bench_forward                      134M shape: dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000
//   bench_forward --small              dim 256, 4 layers, 8 heads, ffn 768, vocab 4096 (quick)
//   options: --reps N (5) --decode N (16 tokens) --prefill N (64 tokens)
//            --types f32,f16,q8_0 --threads 1,2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "engine/local/kernels.hpp"
#include "engine/local/speed_bench.hpp"
#include "engine/local/thread_pool.hpp"
#include "engine/local/transformer.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

double copy_bandwidth(int threads, int reps) { return measure_copy_bandwidth(threads, reps); }

TensorType parse_type(const std::string& s) {
  if (s == "f16") return TensorType::f16;
  if (s == "bf16") return TensorType::bf16;
  if (s == "q8_0") return TensorType::q8_0;
  if (s == "q4_0") return TensorType::q4_0;
  return TensorType::f32;
}

}  // namespace

int main(int argc, char** argv) {
  troupe::testing::RandomModelSpec spec;
  spec.dim = 768, spec.layers = 12, spec.heads = 12, spec.kv_heads = 12, spec.ffn = 2048, spec.vocab = 32000;
  spec.context = 1024;
  int reps = 5, n_decode = 16, n_prefill = 64;
  std::string types = "f32,f16,q8_0", thread_list = "1,2";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--small") spec.dim = 256, spec.layers = 4, spec.heads = 8, spec.kv_heads = 8, spec.ffn = 768, spec.vocab = 4096;
    else if (a == "--reps") reps = std::max(1, std::stoi(next()));
    else if (a == "--decode") n_decode = std::max(1, std::stoi(next()));
    else if (a == "--prefill") n_prefill = std::max(1, std::stoi(next()));
    else if (a == "--types") types = next();
    else if (a == "--threads") thread_list = next();
    else {
      std::fprintf(stderr, "usage: %s [--small] [--reps N] [--decode N] [--prefill N] [--types f32,f16,q8_0] [--threads 1,2]\n", argv[0]);
      return 2;
    }
  }
  std::printf("model: llama dim %d, %d layers, %d heads, ffn %d, vocab %d (random weights); kernels: %s; "
              "median of %d reps; decode %d tokens after an 8-token prompt; prefill %d tokens\n\n",
              spec.dim, spec.layers, spec.heads, spec.ffn, spec.vocab, cpu_has_avx2() ? "avx2" : "plain", reps,
              n_decode, n_prefill);
  std::vector<int> threads;
  for (const auto& t : split(thread_list)) threads.push_back(std::stoi(t));
  std::vector<double> bandwidth;
  for (int t : threads) bandwidth.push_back(copy_bandwidth(t, reps));

  std::printf("| weights | threads | MB read/token | copy GB/s | decode tok/s | bound tok/s | decode/bound | decode vs first thread count | prefill tok/s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& type_name : split(types)) {
    spec.type = parse_type(type_name);
    const ModelWeights weights = troupe::testing::make_random_model(spec);
    const size_t per_token = weight_bytes_per_token(weights);
    double first_decode = 0;  // the same-run baseline of the speed-up column
    for (size_t ti = 0; ti < threads.size(); ++ti) {
      auto made = Transformer::create(weights, make_cpu_kernels({.threads = threads[ti]}));
      if (!made.ok()) {
        std::fprintf(stderr, "%s\n", made.error().describe().c_str());
        return 1;
      }
      Transformer& tr = *made.value();
      std::vector<int32_t> prompt;
      for (int i = 0; i < std::max(8, n_prefill); ++i) prompt.push_back((i * 131 + 7) % spec.vocab);
      std::vector<double> decode_tps, prefill_tps;
      for (int r = 0; r < reps; ++r) {
        ContiguousKvCache cache(tr.config(), tr.kernels(), 1, 8 + n_decode + n_prefill);
        const BatchEntry p = cache.entry(0, std::span(prompt).first(8), 0);
        auto l = tr.forward({&p, 1});
        int32_t token = static_cast<int32_t>(std::max_element(l->last(0).begin(), l->last(0).end()) - l->last(0).begin());
        const auto t0 = Clock::now();
        for (int i = 0; i < n_decode; ++i) {
          const BatchEntry e = cache.entry(0, {&token, 1}, 8 + i);
          auto out = tr.forward({&e, 1});
          token = static_cast<int32_t>(std::max_element(out->last(0).begin(), out->last(0).end()) - out->last(0).begin());
        }
        decode_tps.push_back(n_decode / seconds_since(t0));
        ContiguousKvCache pcache(tr.config(), tr.kernels(), 1, n_prefill);
        const BatchEntry pe = pcache.entry(0, std::span(prompt).first(n_prefill), 0);
        const auto t1 = Clock::now();
        auto pl = tr.forward({&pe, 1});
        prefill_tps.push_back(n_prefill / seconds_since(t1));
        if (!pl.ok()) return 1;
      }
      const double dec = median(decode_tps), bound = bandwidth[ti] / static_cast<double>(per_token);
      if (ti == 0) first_decode = dec;
      std::printf("| %s | %d | %.1f | %.2f | %.2f | %.2f | %.0f%% | %.2fx | %.2f |\n", type_name.c_str(), threads[ti],
                  per_token / 1e6, bandwidth[ti] / 1e9, dec, bound, 100.0 * dec / bound, dec / first_decode,
                  median(prefill_tps));
      std::fflush(stdout);
    }
  }
  return 0;
}
