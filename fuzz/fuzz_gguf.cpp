// libFuzzer target for the GGUF reader: any bytes must give a GgufFile or
// an Error, never a crash, a sanitizer report or a huge allocation; a file
// that parses must be safe to walk (metadata, tensor bytes) and to load as
// a model.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/local/gguf.hpp"
#include "engine/local/model_loader.hpp"
#include "engine/local/quant.hpp"

using namespace troupe::engine::local;

namespace {

volatile float g_sink;

void touch(const GgufValue& v, int depth) {
  (void)v.describe();
  if (v.type() != GgufType::array || depth > 16) return;
  const size_t n = std::min<size_t>(v.size(), 64);
  for (size_t i = 0; i < n; ++i) touch(v.at(i), depth + 1);
}

void touch(const TensorView& t) {
  if (t.empty()) return;
  // Dequantise the first row (at most 4096 values) to read real bytes.
  const int64_t row = std::min<int64_t>(t.shape.empty() ? 1 : t.shape[0], 4096);
  std::vector<float> out(static_cast<size_t>(row));
  dequantize_row(t.type, t.data, out.data(), row);
  g_sink = out.empty() ? 0.0f : out.back();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = GgufFile::from_memory(data, size, "fuzz.gguf");
  if (!file) return 0;
  for (const auto& kv : file->metadata()) touch(kv.value, 0);
  (void)file->get_u32("llama.block_count");
  (void)file->get_string_array("tokenizer.ggml.tokens");
  (void)file->get_f32_array("tokenizer.ggml.scores");
  (void)file->get_i32_array("tokenizer.ggml.token_type");
  for (const auto& t : file->tensors()) {
    const auto* bytes = static_cast<const uint8_t*>(t.data);
    if (t.bytes) g_sink = static_cast<float>(bytes[0] + bytes[t.bytes - 1]);
    touch(t.view());
  }
  auto model = load_gguf_model(*file);
  if (!model) return 0;
  touch(model->tok_embd);
  touch(model->output_norm);
  touch(model->output);
  for (const auto& l : model->layers)
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.ffn_norm,
                                &l.w_gate, &l.w_up, &l.w_down})
      touch(*t);
  return 0;
}
