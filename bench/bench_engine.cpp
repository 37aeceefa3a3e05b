// Local-engine scheduling benchmarks, as ratios within one run:
//  1. n=8 samples of one 512-token prompt vs 8 independent requests
//     (8 different prompts of the same length, submitted together):
//     prompt tokens computed and wall time.
//  2. LeaP-shaped continuation: 4 paths x 4 segments of 256 generated
//     tokens, each next segment's prompt = the path so far + 40 appended
//     tokens of text: prompt tokens recomputed per segment.
// Random-weight llama model built in a temp folder (default dim 256, 4
// layers; --full for the 134M shape of the issue). Medians of --reps runs,
// at 1 and 2 threads.
//   build/release/bench/bench_engine [--reps 5] [--full]
//       [--leap-model stories260K.bin --leap-tokenizer tok512.bin]
// Part 2 re-tokenizes each path's text, so it measures the cache only as
// far as the model's output tokenizes back to the same ids. A random model
// over a merge vocabulary emits non-canonical token sequences, so part 2
// uses a byte-level vocabulary (261 tokens: every text has one
// tokenization) unless --leap-model names a trained model.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/local/model_random.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;

namespace {

std::future<Result<GenerateResult>> submit(Backend& b, GenerateRequest r) {
  auto p = std::make_shared<std::promise<Result<GenerateResult>>>();
  auto f = p->get_future();
  b.submit(std::move(r), [p](Result<GenerateResult> res) { p->set_value(std::move(res)); });
  return f;
}

GenerateRequest request(std::string prompt, int max_tokens, int n, int64_t seed) {
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = std::move(prompt);
  r.sampling.max_tokens = max_tokens;
  r.sampling.n = n;
  r.sampling.temperature = 0.8;
  r.sampling.seed = seed;
  return r;
}

// A prompt of about `tokens` tokens for the synthetic vocabulary.
std::string prompt_of(int tokens, char salt) {
  std::string s(1, salt);
  const char* words[] = {" the", " a", " of", " and", " to", " in", " is", " it"};
  for (int i = 0; static_cast<int>(s.size()) < tokens * 3; ++i) s += words[(i * 7 + salt) % 8];
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::unique_ptr<Scheduler> engine_for(const std::string& model, int threads, const std::string& tokenizer = "") {
  LocalEngineOptions o;
  o.model_path = model;
  o.tokenizer_path = tokenizer;
  o.threads = threads;
  o.kv_budget_bytes = size_t{512} << 20;
  o.max_step_tokens = 512;
  auto b = make_local_backend(o);
  if (!b.ok()) {
    std::fprintf(stderr, "%s\n", b.error().describe().c_str());
    std::exit(1);
  }
  return std::move(b.value());
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  bool full = false;
  std::string leap_model, leap_tokenizer;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--full")) full = true;
    else if (!std::strcmp(argv[i], "--leap-model") && i + 1 < argc) leap_model = argv[++i];
    else if (!std::strcmp(argv[i], "--leap-tokenizer") && i + 1 < argc) leap_tokenizer = argv[++i];
  }
  testing::TempDir dir;
  RandomModelOptions m;
  if (full) {
    m.dim = 768, m.n_layers = 12, m.n_heads = 12, m.n_kv_heads = 12, m.ffn_dim = 2048, m.vocab_size = 32000;
  } else {
    m.dim = 256, m.n_layers = 4, m.n_heads = 4, m.n_kv_heads = 4, m.ffn_dim = 688, m.vocab_size = 512;
  }
  m.context_length = 4096;
  m.seed = 1;
  std::string model = dir.file("bench.gguf");
  if (Status s = write_random_model(m, model); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.error().describe().c_str());
    return 1;
  }
  std::printf("model: llama dim %d, %d layers, vocab %d (random weights); medians of %d runs\n\n", m.dim, m.n_layers,
              m.vocab_size, reps);
  RandomModelOptions bytes_model = m;
  bytes_model.vocab_size = 261;
  std::string byte_model = dir.file("bytes.gguf");
  if (Status s = write_random_model(bytes_model, byte_model); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.error().describe().c_str());
    return 1;
  }

  std::printf("1. n=8 samples of one long prompt vs 8 independent requests of the same length (32 new tokens each)\n");
  std::printf("%-8s %-14s %-14s %-12s %-12s %-10s\n", "threads", "prompt tok n=8", "prompt tok 8x", "wall n=8 s",
              "wall 8x s", "speed-up");
  for (int threads : {1, 2}) {
    std::vector<double> shared_s, indep_s;
    int64_t shared_tokens = 0, indep_tokens = 0;
    for (int r = 0; r < reps; ++r) {
      {
        auto e = engine_for(model, threads);
        Stopwatch w;
        auto f = submit(*e, request(prompt_of(512, 'a'), 32, 8, r));
        if (!f.get().ok()) return 1;
        shared_s.push_back(w.elapsed_s());
        shared_tokens = e->stats().computed_prompt_tokens;
      }
      {
        auto e = engine_for(model, threads);
        Stopwatch w;
        std::vector<std::future<Result<GenerateResult>>> fs;
        for (int i = 0; i < 8; ++i) fs.push_back(submit(*e, request(prompt_of(512, static_cast<char>('b' + i)), 32, 1, r)));
        for (auto& f : fs)
          if (!f.get().ok()) return 1;
        indep_s.push_back(w.elapsed_s());
        indep_tokens = e->stats().computed_prompt_tokens;
      }
    }
    std::printf("%-8d %-14lld %-14lld %-12.3f %-12.3f %.2fx\n", threads, static_cast<long long>(shared_tokens),
                static_cast<long long>(indep_tokens), median(shared_s), median(indep_s),
                median(indep_s) / median(shared_s));
  }

  std::printf("\n2. LeaP-shaped continuation: 4 paths x 4 segments of 256 tokens, text appended per segment (%s)\n",
              leap_model.empty() ? "random model, byte vocabulary" : leap_model.c_str());
  std::printf("%-8s %-10s %-22s %-22s %-10s\n", "threads", "segment", "prompt tokens (avg)", "recomputed (avg)",
              "appended");
  for (int threads : {1, 2}) {
    auto e = leap_model.empty() ? engine_for(byte_model, threads) : engine_for(leap_model, threads, leap_tokenizer);
    std::vector<std::string> paths(4, leap_model.empty() ? prompt_of(200, 'q') : std::string("Once upon a time, there was a little girl who"));
    const std::string append = " Her friend said: \"Let us look at what the others found before we go on.\" The";
    std::string append_tokens;
    {
      // Tokens the appended text adds on its own.
      auto probe = submit(*e, request(append, 1, 1, 0)).get();
      append_tokens = probe.ok() ? std::to_string(probe->usage.prompt_tokens - 1) : "?";
    }
    for (int seg = 0; seg < 4; ++seg) {
      int64_t before = e->stats().computed_prompt_tokens;
      int64_t prompt_tokens = 0;
      std::vector<std::future<Result<GenerateResult>>> fs;
      for (int p = 0; p < 4; ++p) fs.push_back(submit(*e, request(paths[static_cast<size_t>(p)], 256, 1, p * 100 + seg)));
      for (int p = 0; p < 4; ++p) {
        auto r = fs[static_cast<size_t>(p)].get();
        if (!r.ok()) return 1;
        prompt_tokens += r->usage.prompt_tokens;
        paths[static_cast<size_t>(p)] += r->choices[0].text + append;
      }
      int64_t recomputed = e->stats().computed_prompt_tokens - before;
      std::printf("%-8d %-10d %-22.1f %-22.1f %-10s\n", threads, seg + 1, prompt_tokens / 4.0, recomputed / 4.0,
                  seg == 0 ? "(first)" : append_tokens.c_str());
    }
  }
  std::printf("\n(Recomputed = prompt tokens run through the model; after a segment the cache holds the path\n"
              " but its last sampled token, which the next segment computes along with the appended text.)\n");
  return 0;
}
