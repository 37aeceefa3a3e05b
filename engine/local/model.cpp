// The small functions model.hpp declares: names and sizes of tensor types.
#include "engine/local/model.hpp"

namespace troupe::engine::local {

const char* to_string(TensorType t) {
  switch (t) {
    case TensorType::f32: return "f32";
    case TensorType::f16: return "f16";
    case TensorType::q4_0: return "q4_0";
    case TensorType::q8_0: return "q8_0";
    case TensorType::bf16: return "bf16";
  }
  return "unknown";
}

int64_t block_size(TensorType t) {
  switch (t) {
    case TensorType::q4_0:
    case TensorType::q8_0: return 32;
    default: return 1;
  }
}

size_t tensor_bytes(TensorType t, int64_t n) {
  if (n <= 0) return 0;
  const auto un = static_cast<size_t>(n);
  switch (t) {
    case TensorType::f32: return un * 4;
    case TensorType::f16:
    case TensorType::bf16: return un * 2;
    case TensorType::q8_0: return un / 32 * 34;  // f16 scale + 32 int8
    case TensorType::q4_0: return un / 32 * 18;  // f16 scale + 16 bytes of nibbles
  }
  return 0;
}

const char* to_string(Arch a) {
  switch (a) {
    case Arch::llama: return "llama";
    case Arch::qwen2: return "qwen2";
  }
  return "unknown";
}

}  // namespace troupe::engine::local
