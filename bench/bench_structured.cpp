// Constrained decoding overhead, as ratios within one run:
//  1. Decoding on a random-weight qwen2 model (dim 256, 4 layers) with
//     response_format json_object and with a schema of free strings, vs the
//     same requests unconstrained: wall time per generated token.
//  2. The token mask alone (one trie walk) in three matcher states —
//     inside a free string (most tokens fit), at an object's key, inside a
//     number — per call, against one unconstrained decode step.
// For a 512-token vocabulary (mkmodel's size) and a 32000-token one
// (Llama-2-sized). Medians of --reps runs.
//   build/release/bench/bench_structured [--reps 3] [--tokens 96] [--threads 2]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "engine/json_grammar.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/local/model_random.hpp"
#include "engine/local/token_constraint.hpp"
#include "engine/local/tokenizer.hpp"
#include "engine/local/gguf.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Result<GenerateResult> run(Backend& b, GenerateRequest r) {
  auto p = std::make_shared<std::promise<Result<GenerateResult>>>();
  auto f = p->get_future();
  b.submit(std::move(r), [p](Result<GenerateResult> res) { p->set_value(std::move(res)); });
  return f.get();
}

const char* kFreeStrings =
    R"({"type":"object","properties":{"title":{"type":"string"},"body":{"type":"string"},"n":{"type":"integer"}},)"
    R"("required":["title","body","n"],"additionalProperties":false})";

}  // namespace

int main(int argc, char** argv) {
  int reps = 3, tokens = 96, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  auto schema = JsonGrammar::from_schema_text(kFreeStrings, "schema");
  if (!schema.ok()) return 1;
  for (int vocab : {512, 32000}) {
    testing::TempDir dir;
    RandomModelOptions m;
    m.arch = Arch::qwen2;
    m.dim = 256;
    m.n_layers = 4;
    m.n_heads = 8;
    m.n_kv_heads = 4;
    m.ffn_dim = 768;
    m.vocab_size = vocab;
    m.seed = 3;
    m.stddev = 0.05f;
    const std::string path = dir.file("m.gguf");
    if (!write_random_model(m, path).ok()) return 1;
    LocalEngineOptions o;
    o.model_path = path;
    o.threads = threads;
    auto b = make_local_backend(o);
    if (!b.ok()) return 1;
    std::printf("qwen2 dim %d, %d layers, vocab %d (random weights), %d threads; medians of %d runs\n", m.dim,
                m.n_layers, vocab, threads, reps);

    auto per_token = [&](std::shared_ptr<const JsonGrammar> g) {
      std::vector<double> v;
      for (int r = 0; r < reps; ++r) {
        GenerateRequest req;
        req.kind = PromptKind::chat;
        req.messages.push_back({"user", "Write something."});
        req.sampling.max_tokens = tokens;
        req.sampling.temperature = 1.0;
        req.sampling.seed = 100 + r;
        req.response_grammar = g;
        Stopwatch w;
        auto res = run(**b, req);
        const double s = w.elapsed_s();
        if (!res.ok() || res->usage.completion_tokens == 0) return -1.0;
        v.push_back(s / static_cast<double>(res->usage.completion_tokens));
      }
      return median(v);
    };
    per_token(nullptr);  // warm up (and build nothing yet)
    const double plain = per_token(nullptr);
    const double object = per_token(JsonGrammar::any_object());
    const double strings = per_token(*schema);
    std::printf("  decode per token: unconstrained %.3f ms, json_object %.3f ms (x%.2f), free-string schema %.3f ms "
                "(x%.2f)\n",
                plain * 1e3, object * 1e3, object / plain, strings * 1e3, strings / plain);

    // The mask alone.
    auto gguf = GgufFile::open(path);
    auto tok = Tokenizer::from_gguf(*gguf);
    if (!tok.ok()) return 1;
    std::vector<std::string> pieces;
    std::vector<int32_t> eos;
    for (int32_t id = 0; id < tok->vocab_size(); ++id) {
      const bool end = tok->is_end_of_generation(id);
      if (end) eos.push_back(id);
      pieces.push_back(end ? std::string() : tok->token_to_piece(id));
    }
    Stopwatch build;
    VocabTrie trie(pieces, eos);
    const double build_s = build.elapsed_s();
    std::printf("  vocab trie: %zu nodes, built in %.1f ms\n", trie.node_count(), build_s * 1e3);
    for (auto [label, prefix] : {std::pair{"in a free string", "{\"title\":\"abc"}, std::pair{"at a key", "{"},
                                 std::pair{"in a number", "{\"title\":\"\",\"body\":\"\",\"n\":12"}}) {
      JsonMatcher mt(*schema);
      mt.feed(prefix);
      std::vector<uint8_t> allowed;
      std::vector<double> v;
      int n_allowed = 0;
      for (int r = 0; r < std::max(reps, 5); ++r) {
        Stopwatch w;
        const int calls = vocab > 1000 ? 20 : 200;
        for (int i = 0; i < calls; ++i) trie.allowed(mt, allowed);
        v.push_back(w.elapsed_s() / calls);
      }
      n_allowed = static_cast<int>(std::count(allowed.begin(), allowed.end(), 1));
      std::printf("  mask %-16s %8.1f us/call (%5d tokens allowed) = x%.3f of an unconstrained decode step\n", label,
                  median(v) * 1e6, n_allowed, median(v) / plain);
    }
    std::printf("\n");
  }
  return 0;
}
