// A fake model for scheduler tests. It writes each token id into its K row
// and computes logits from the whole history it reads back from the KV
// cache, so any mistake in prefix sharing, copy-on-write, forking or
// preemption changes the output. Token ids are bytes + 3 (0 pad, 1 BOS,
// 2 EOS); EOS gets a very low logit unless `eos_after` tokens were seen.
#pragma once

#include <cmath>
#include <string>

#include "common/hash.hpp"
#include "engine/local/scheduler.hpp"

namespace troupe::testing {

class FakeModel : public engine::local::ModelRunner {
 public:
  explicit FakeModel(int context = 4096) : context_(context) {}
  int vocab_size() const override { return 259; }
  int context_length() const override { return context_; }
  int64_t tokens_run = 0;

  Status forward(std::span<const engine::local::StepEntry> entries, engine::local::KvCache& cache,
                 std::vector<float>& logits) override {
    logits.clear();
    const int bs = cache.config().block_size;
    const int dim = cache.config().kv_dim;
    for (const auto& e : entries) {
      const auto& table = cache.block_table(e.seq);
      auto row = [&](int pos) {
        return cache.k_base(0) + (static_cast<size_t>(table[static_cast<size_t>(pos / bs)]) * bs + pos % bs) * dim;
      };
      for (size_t i = 0; i < e.tokens.size(); ++i) row(e.pos0 + static_cast<int>(i))[0] = static_cast<float>(e.tokens[i]);
      tokens_run += static_cast<int64_t>(e.tokens.size());
      if (!e.want_logits) continue;
      uint64_t h = hash::kFnv1aOffset;
      int last = e.pos0 + static_cast<int>(e.tokens.size());
      for (int p = 0; p < last; ++p) h = hash::fnv1a64_u64(static_cast<uint64_t>(row(p)[0]), h);
      for (int v = 0; v < vocab_size(); ++v) {
        const uint64_t x = hash::splitmix64(h ^ static_cast<uint64_t>(v));
        float l = static_cast<float>(x % 10000) / 1000.0f - 5.0f;
        if (v < 3) l = (v == 2 && eos_after > 0 && last >= eos_after) ? 100.0f : -100.0f;
        logits.push_back(l);
      }
    }
    return {};
  }
  int eos_after = 0;

 private:
  int context_;
};

class ByteCodec : public engine::local::TextCodec {
 public:
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos) out.push_back(1);
    for (unsigned char c : text) out.push_back(static_cast<int32_t>(c) + 3);
    return out;
  }
  std::string piece(int32_t id) const override {
    return id >= 3 ? std::string(1, static_cast<char>(id - 3)) : std::string();
  }
  bool is_eos(int32_t id) const override { return id == 2; }
  Result<std::string> render_chat(const std::vector<engine::ChatMessage>& messages, bool continue_final) const override {
    std::string out;
    for (size_t i = 0; i < messages.size(); ++i) {
      out += "<" + messages[i].role + ">" + messages[i].content;
      if (!(continue_final && i + 1 == messages.size())) out += "</>";
    }
    if (!continue_final) out += "<assistant>";
    return out;
  }
};

}  // namespace troupe::testing
