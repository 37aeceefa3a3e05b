// Test helpers for GGUF files "written by other tools": copy a GGUF with
// edited metadata (llama.cpp-style 0xFFFFFFFF special ids, a different
// context length, a key of the wrong type), tensors copied byte for byte.
#pragma once

#include <functional>
#include <string>

#include "common/error.hpp"
#include "engine/local/gguf.hpp"

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

}  // namespace troupe::testing
