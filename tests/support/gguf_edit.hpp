// Test helpers for GGUF files "written by other tools": copy a GGUF with
// edited metadata (llama.cpp-style 0xFFFFFFFF special ids, a different
// context length, a key of the wrong type), tensors copied byte for byte.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "engine/local/gguf.hpp"
#include "engine/local/model_random.hpp"

namespace troupe::testing {

// Writes `dst` with every key and tensor of the GGUF at `src` (same order,
// same alignment); `edit` may then set or replace keys.
inline Status copy_gguf_with(const std::string& src, const std::string& dst,
                             const std::function<void(engine::local::GgufWriter&)>& edit) {
  auto f = engine::local::GgufFile::open(src);
  if (!f.ok()) return f.error();
  engine::local::GgufWriter w;
  if (f->alignment() != 32)
    if (auto st = w.set_alignment(static_cast<uint32_t>(f->alignment())); !st) return st;
  for (const auto& kv : f->metadata()) w.set(kv.key, kv.value);
  for (const auto& t : f->tensors())
    if (auto st = w.add_tensor(t.name, t.type, t.shape, t.data, static_cast<size_t>(t.bytes)); !st) return st;
  if (edit) edit(w);
  return w.write(dst);
}

// A tiny random llama (dim 32, 1 layer, 2 heads, ffn 64, mkmodel's
// 300-token vocabulary) written to `path`; `context` 0 keeps the default.
inline Status write_tiny_model(const std::string& path, uint64_t seed, int context = 0) {
  engine::local::RandomModelOptions o;
  o.dim = 32;
  o.n_layers = 1;
  o.n_heads = 2;
  o.n_kv_heads = 2;
  o.ffn_dim = 64;
  o.vocab_size = 300;
  if (context > 0) o.context_length = context;
  o.seed = seed;
  return engine::local::write_random_model(o, path);
}

// How often `needle` occurs in `haystack` (overlaps counted): error
// messages must name a file exactly once.
inline size_t count_occurrences(std::string_view haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace troupe::testing
