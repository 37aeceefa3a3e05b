// load_model / load_gguf_model / load_llama2c, convert llama2c and mkmodel.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <tuple>
#include <vector>

#include "engine/local/gguf.hpp"
#include "engine/local/model_convert.hpp"
#include "engine/local/model_loader.hpp"
#include "engine/local/model_random.hpp"
#include "engine/local/quant.hpp"
#include "local_model/shared_files.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine::local;

namespace {

using Edit = std::function<bool(std::string& name, std::vector<int64_t>& shape)>;

// A small model (dim 16, 2 layers, 4 heads, 2 kv heads, ffn 32, vocab 40)
// written tensor by tensor; `edit` may rename, reshape or (returning
// false) drop a tensor; `keys` may change the metadata afterwards.
std::vector<uint8_t> small_model(Arch arch, const Edit& edit = nullptr,
                                 const std::function<void(GgufWriter&)>& keys = nullptr) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 16;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn_dim = 32;
  c.vocab_size = 40;
  c.context_length = 64;
  GgufWriter w;
  GgufModelOptions o;
  o.arch = arch;
  add_model_hparams(w, c, o);
  if (keys) keys(w);
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
      {"token_embd.weight", {16, 40}}, {"output_norm.weight", {16}}, {"output.weight", {16, 40}}};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    for (auto& t : std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {"attn_norm.weight", {16}}, {"attn_q.weight", {16, 16}}, {"attn_k.weight", {16, 8}},
             {"attn_v.weight", {16, 8}}, {"attn_output.weight", {16, 16}}, {"ffn_norm.weight", {16}},
             {"ffn_gate.weight", {16, 32}}, {"ffn_up.weight", {16, 32}}, {"ffn_down.weight", {32, 16}}})
      tensors.push_back({p + t.first, t.second});
    if (arch == Arch::qwen2)
      for (auto& t : std::vector<std::pair<std::string, std::vector<int64_t>>>{
               {"attn_q.bias", {16}}, {"attn_k.bias", {8}}, {"attn_v.bias", {8}}})
        tensors.push_back({p + t.first, t.second});
  }
  for (auto& [name, shape] : tensors) {
    if (edit && !edit(name, shape)) continue;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i % 7) * 0.01f;
    REQUIRE(w.add_tensor_f32(name, TensorType::f32, shape, v).ok());
  }
  return w.to_bytes();
}

Result<ModelWeights> load_bytes(const std::vector<uint8_t>& bytes) {
  auto f = GgufFile::from_memory(bytes.data(), bytes.size(), "m.gguf");
  if (!f) return f.error();
  return load_gguf_model(*f);
}

std::string load_error(const std::vector<uint8_t>& bytes) {
  auto m = load_bytes(bytes);
  return m.ok() ? std::string() : m.error().message;
}

std::vector<float> floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.elements()));
  dequantize_row(t.type, t.data, out.data(), t.elements());
  return out;
}

bool same_bits(const TensorView& a, const TensorView& b) {
  return a.type == b.type && a.shape == b.shape &&
         std::memcmp(a.data, b.data, tensor_bytes(a.type, a.elements())) == 0;
}

std::vector<const TensorView*> all_tensors(const ModelWeights& w) {
  std::vector<const TensorView*> v = {&w.tok_embd, &w.output_norm, &w.output};
  for (const auto& l : w.layers)
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.ffn_norm,
                                &l.w_gate, &l.w_up, &l.w_down})
      v.push_back(t);
  return v;
}

}  // namespace

TEST_CASE("a well-formed llama and qwen2 GGUF load with their hyper-parameters", "[model]") {
  auto llama = load_bytes(small_model(Arch::llama));
  REQUIRE(llama.ok());
  const ModelConfig& c = llama->config;
  CHECK(c.arch == Arch::llama);
  CHECK(c.dim == 16);
  CHECK(c.n_layers == 2);
  CHECK(c.n_heads == 4);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.ffn_dim == 32);
  CHECK(c.vocab_size == 40);
  CHECK(c.context_length == 64);
  CHECK(c.rope_theta == 10000.0f);
  CHECK(c.rms_eps == 1e-5f);
  CHECK(!c.rope_neox);
  CHECK(!llama->output.empty());
  CHECK(llama->layers[1].bq.empty());
  CHECK(llama->layers[1].wk.shape == std::vector<int64_t>{16, 8});
  CHECK(llama->source == "m.gguf");

  auto qwen = load_bytes(small_model(Arch::qwen2));
  REQUIRE(qwen.ok());
  CHECK(qwen->config.arch == Arch::qwen2);
  CHECK(qwen->config.rope_neox);
  CHECK(qwen->layers[0].bk.shape == std::vector<int64_t>{8});
  CHECK(!qwen->layers[0].bq.empty());
}

TEST_CASE("a missing output.weight means tied output", "[model]") {
  auto m = load_bytes(small_model(Arch::qwen2, [](std::string& name, std::vector<int64_t>&) {
    return name != "output.weight";
  }));
  REQUIRE(m.ok());
  CHECK(m->output.empty());
}

TEST_CASE("shape mismatches name the tensor, its shape and the hyper-parameters", "[model][bad]") {
  auto err = load_error(small_model(Arch::llama, [](std::string& name, std::vector<int64_t>& shape) {
    if (name == "blk.1.attn_k.weight") shape = {16, 16};
    return true;
  }));
  CHECK(err == "m.gguf: blk.1.attn_k.weight: shape {16,16} but n_embd=16, n_head_kv=2, head_dim=4 needs {16,8}");
  err = load_error(small_model(Arch::llama, [](std::string& name, std::vector<int64_t>& shape) {
    if (name == "blk.0.ffn_down.weight") shape = {16, 32};
    return true;
  }));
  CHECK(err == "m.gguf: blk.0.ffn_down.weight: shape {16,32} but n_embd=16, n_ff=32 needs {32,16}");
  err = load_error(small_model(Arch::qwen2, [](std::string& name, std::vector<int64_t>& shape) {
    if (name == "blk.0.attn_v.bias") shape = {16};
    return true;
  }));
  CHECK_THAT(err, Catch::Contains("blk.0.attn_v.bias: shape {16}"));
  err = load_error(small_model(Arch::llama, [](std::string& name, std::vector<int64_t>& shape) {
    if (name == "output.weight") shape = {16, 41};
    return true;
  }));
  CHECK_THAT(err, Catch::Contains("output.weight: shape {16,41} but n_embd=16, n_vocab=40 needs {16,40}"));
}

TEST_CASE("missing keys, tensors and unsupported architectures are named", "[model][bad]") {
  auto drop_key = [](const std::string& key, const std::string& type = "") {
    return [key, type](GgufWriter& w) {
      // Rewrite the key under another name so it is absent.
      if (type.empty()) w.set_string("unrelated", "");
      w.set(key, GgufValue::string("wrong"));
    };
  };
  // A wrong-typed key.
  CHECK_THAT(load_error(small_model(Arch::llama, nullptr, drop_key("llama.block_count"))),
             Catch::Contains("key llama.block_count: expected u32, got string"));
  // A missing key: build without it.
  {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.embedding_length", 16);
    CHECK_THAT(load_error(w.to_bytes()), Catch::Contains("missing key llama.block_count"));
  }
  CHECK(load_error([] {
          GgufWriter w;
          return w.to_bytes();
        }()) == "m.gguf: missing key general.architecture");
  CHECK_THAT(load_error(small_model(Arch::llama, nullptr,
                                    [](GgufWriter& w) { w.set_string("general.architecture", "gemma"); })),
             Catch::Contains("unsupported architecture 'gemma'"));
  CHECK_THAT(load_error(small_model(Arch::llama, [](std::string& name, std::vector<int64_t>&) {
               return name != "blk.1.ffn_up.weight";
             })),
             Catch::Contains("missing tensor blk.1.ffn_up.weight"));
  CHECK_THAT(load_error(small_model(Arch::qwen2, [](std::string& name, std::vector<int64_t>&) {
               return name != "blk.0.attn_q.bias";
             })),
             Catch::Contains("missing tensor blk.0.attn_q.bias"));
  CHECK_THAT(load_error(small_model(Arch::llama, nullptr,
                                    [](GgufWriter& w) { w.set_u32("llama.attention.head_count_kv", 3); })),
             Catch::Contains("n_head=4 is not a multiple of n_head_kv=3"));
  CHECK_THAT(load_error(small_model(Arch::llama, nullptr, [](GgufWriter& w) { w.set_u32("llama.block_count", 0); })),
             Catch::Contains("key llama.block_count: 0 is out of range"));
  CHECK_THAT(load_error(small_model(Arch::llama, nullptr,
                                    [](GgufWriter& w) { w.set_u32("llama.rope.dimension_count", 2); })),
             Catch::Contains("rope.dimension_count"));
}

TEST_CASE("1-D tensors stored as F16 are handed out as F32", "[model]") {
  auto bytes = small_model(Arch::llama, [](std::string& name, std::vector<int64_t>& shape) {
    return !(name == "output_norm.weight" && shape.size() == 1);
  });
  // Same model with output_norm in F16.
  GgufWriter w;
  {
    auto f = GgufFile::from_memory(bytes.data(), bytes.size());
    REQUIRE(f.ok());
    for (const auto& kv : f->metadata()) w.set(kv.key, kv.value);
    for (const auto& t : f->tensors()) REQUIRE(w.add_tensor(t.name, t.type, t.shape, t.data, t.bytes).ok());
    REQUIRE(w.add_tensor_f32("output_norm.weight", TensorType::f16, {16}, std::vector<float>(16, 1.5f)).ok());
  }
  auto m = load_bytes(w.to_bytes());
  REQUIRE(m.ok());
  CHECK(m->output_norm.type == TensorType::f32);
  CHECK(static_cast<const float*>(m->output_norm.data)[15] == 1.5f);
}

TEST_CASE("the third-party tiny llama GGUF loads as a model", "[model][shared]") {
  const std::string path = testing::shared_model("third-party/llama-2-tiny-random.gguf");
  if (path.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/third-party/llama-2-tiny-random.gguf is absent");
    return;
  }
  auto m = load_model(path);
  REQUIRE(m.ok());
  CHECK(m->config.arch == Arch::llama);
  CHECK(m->config.dim == 8);
  CHECK(m->config.n_layers == 1);
  CHECK(m->config.n_heads == 2);
  CHECK(m->config.n_kv_heads == 2);
  CHECK(m->config.ffn_dim == 32);
  CHECK(m->config.vocab_size == 32000);
  CHECK(m->config.context_length == 4096);
  CHECK(m->tok_embd.type == TensorType::f16);
  CHECK(!m->output.empty());
  CHECK(m->layers[0].attn_norm.type == TensorType::f32);
}

TEST_CASE("stories260K loads from the llama2.c checkpoint with the README's shape", "[model][llama2c][shared]") {
  const std::string path = testing::shared_model("stories260K/stories260K.bin");
  if (path.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/stories260K is absent");
    return;
  }
  auto m = load_model(path);
  REQUIRE(m.ok());
  const ModelConfig& c = m->config;
  CHECK(c.arch == Arch::llama);
  CHECK(c.dim == 64);
  CHECK(c.n_layers == 5);
  CHECK(c.n_heads == 8);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.ffn_dim == 172);
  CHECK(c.vocab_size == 512);
  CHECK(c.context_length == 512);
  CHECK(c.rms_eps == 1e-5f);
  CHECK(c.rope_theta == 10000.0f);
  CHECK(!c.rope_neox);
  CHECK(m->output.empty());  // tied
  CHECK(m->tok_embd.shape == std::vector<int64_t>{64, 512});
  CHECK(m->layers[4].wk.shape == std::vector<int64_t>{64, 32});
  CHECK(m->layers[4].w_down.shape == std::vector<int64_t>{172, 64});
  // The first weight is the first float after the 28-byte header; the final
  // norm sits right before the RoPE tables, which the loader skips.
  const std::string bytes = testing::read_file(path);
  float first = 0;
  std::memcpy(&first, bytes.data() + 28, 4);
  CHECK(static_cast<const float*>(m->tok_embd.data)[0] == first);
  const auto* base = reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(m->tok_embd.data) - 28 + 28);
  CHECK(static_cast<const float*>(m->output_norm.data) == base + (bytes.size() - 28) / 4 - 512 * 8 - 64);
  for (const auto& l : m->layers) {
    CHECK(l.wq.type == TensorType::f32);
    CHECK(l.bq.empty());
  }
}

TEST_CASE("malformed llama2.c checkpoints are errors", "[model][llama2c][bad]") {
  testing::TempDir dir;
  testing::write_file(dir.file("short.bin"), "abc");
  CHECK_THAT(load_model(dir.file("short.bin")).error().message, Catch::Contains("neither GGUF nor a llama2.c checkpoint"));
  int32_t header[7] = {64, 172, 5, 8, 4, 512, 512};
  std::string h(reinterpret_cast<const char*>(header), sizeof header);
  testing::write_file(dir.file("trunc.bin"), h + std::string(1000, '\0'));
  CHECK_THAT(load_model(dir.file("trunc.bin")).error().message,
             Catch::Contains("not a llama2.c checkpoint") && Catch::Contains("needs 1056540 bytes, the file has 1028"));
  header[3] = 7;  // 64 % 7 != 0
  testing::write_file(dir.file("heads.bin"), std::string(reinterpret_cast<const char*>(header), sizeof header));
  CHECK_THAT(load_model(dir.file("heads.bin")).error().message, Catch::Contains("implausible header"));
  CHECK_THAT(load_model(dir.file("absent.bin")).error().message, Catch::Contains("absent.bin"));
}

TEST_CASE("convert llama2c -> GGUF keeps every F32 tensor bit for bit and the config", "[model][convert][shared]") {
  const std::string bin = testing::shared_model("stories260K/stories260K.bin");
  const std::string tok = testing::shared_model("stories260K/tok512.bin");
  if (bin.empty() || tok.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/stories260K is absent");
    return;
  }
  testing::TempDir dir;
  const std::string out = dir.file("stories260K.gguf");
  REQUIRE(convert_llama2c(bin, tok, out, GgufModelOptions{}).ok());
  auto src = load_llama2c(bin);
  auto gguf = GgufFile::open(out);
  REQUIRE(src.ok());
  REQUIRE(gguf.ok());
  auto dst = load_gguf_model(*gguf);
  REQUIRE(dst.ok());
  const ModelConfig &a = src->config, &b = dst->config;
  CHECK(a.arch == b.arch);
  CHECK(a.dim == b.dim);
  CHECK(a.n_layers == b.n_layers);
  CHECK(a.n_heads == b.n_heads);
  CHECK(a.n_kv_heads == b.n_kv_heads);
  CHECK(a.ffn_dim == b.ffn_dim);
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.context_length == b.context_length);
  CHECK(a.rope_theta == b.rope_theta);
  CHECK(a.rms_eps == b.rms_eps);
  CHECK(a.rope_neox == b.rope_neox);
  // llama arch: no permutation, so every tensor is byte-identical.
  const auto ta = all_tensors(*src), tb = all_tensors(*dst);
  for (size_t i = 0; i < ta.size(); ++i) {
    INFO(ta[i]->name);
    CHECK(ta[i]->empty() == tb[i]->empty());
    if (!ta[i]->empty()) CHECK(same_bits(*ta[i], *tb[i]));
  }
  CHECK(gguf->find_tensor("output.weight") == nullptr);  // tied
  // llama.cpp's names for the hyper-parameters and the tokenizer.
  CHECK(*gguf->get_u32("llama.context_length") == 512);
  CHECK(*gguf->get_u32("llama.rope.dimension_count") == 8);
  CHECK(*gguf->get_u32("general.file_type") == 0);
  CHECK(*gguf->get_string("tokenizer.ggml.model") == "llama");
  auto tokens = gguf->get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens->size() == 512);
  CHECK((*tokens)[0] == "<unk>");
  CHECK((*tokens)[1] == "<s>");
  CHECK((*tokens)[2] == "</s>");
  CHECK((*tokens)[3] == "<0x00>");
  CHECK((*tokens)[259] == "\xe2\x96\x81t");
  CHECK((*tokens)[260] == "he");
  auto types = gguf->get_i32_array("tokenizer.ggml.token_type");
  CHECK((*types)[0] == 2);
  CHECK((*types)[1] == 3);
  CHECK((*types)[2] == 3);
  CHECK((*types)[3] == 6);
  CHECK((*types)[258] == 6);
  CHECK((*types)[259] == 1);
  CHECK((*gguf->get_f32_array("tokenizer.ggml.scores"))[261] == -2.0f);
  CHECK(*gguf->get_u32("tokenizer.ggml.bos_token_id") == 1);
  CHECK(*gguf->get_u32("tokenizer.ggml.eos_token_id") == 2);
  CHECK(*gguf->get_u32("tokenizer.ggml.unknown_token_id") == 0);
}

TEST_CASE("convert --arch qwen2 permutes Q/K rows to NEOX order, adds zero biases, ties output", "[model][convert][shared]") {
  const std::string bin = testing::shared_model("stories260K/stories260K.bin");
  const std::string tok = testing::shared_model("stories260K/tok512.bin");
  if (bin.empty() || tok.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/stories260K is absent");
    return;
  }
  testing::TempDir dir;
  GgufModelOptions o;
  o.arch = Arch::qwen2;
  REQUIRE(convert_llama2c(bin, tok, dir.file("q.gguf"), o).ok());
  auto src = load_llama2c(bin);
  auto dst = load_model(dir.file("q.gguf"));
  REQUIRE(src.ok());
  REQUIRE(dst.ok());
  CHECK(dst->config.arch == Arch::qwen2);
  CHECK(dst->config.rope_neox);
  CHECK(dst->output.empty());
  const int64_t hd = 8, dim = 64, half = hd / 2;
  for (size_t li = 0; li < src->layers.size(); ++li) {
    const LayerWeights &s = src->layers[li], &d = dst->layers[li];
    for (auto [sw, dw, heads] : {std::tuple{&s.wq, &d.wq, 8}, std::tuple{&s.wk, &d.wk, 4}}) {
      const auto* a = static_cast<const float*>(sw->data);
      const auto* b = static_cast<const float*>(dw->data);
      for (int h = 0; h < heads; ++h)
        for (int64_t i = 0; i < half; ++i) {
          // NEOX row i = Meta row 2i; NEOX row half+i = Meta row 2i+1.
          REQUIRE(std::memcmp(b + (h * hd + i) * dim, a + (h * hd + 2 * i) * dim, dim * 4) == 0);
          REQUIRE(std::memcmp(b + (h * hd + half + i) * dim, a + (h * hd + 2 * i + 1) * dim, dim * 4) == 0);
        }
    }
    CHECK(same_bits(s.wv, d.wv));
    CHECK(same_bits(s.wo, d.wo));
    CHECK(same_bits(s.w_down, d.w_down));
    for (const TensorView* bias : {&d.bq, &d.bk, &d.bv}) {
      REQUIRE(!bias->empty());
      for (float v : floats(*bias)) CHECK(v == 0.0f);
    }
  }
  CHECK(same_bits(src->tok_embd, dst->tok_embd));
  // Permuting back restores the original rows exactly.
  std::vector<float> q = floats(dst->layers[0].wq);
  permute_rows_from_neox(q.data(), 64, 64, hd);
  CHECK(std::memcmp(q.data(), src->layers[0].wq.data, q.size() * 4) == 0);
}

TEST_CASE("convert --type q8_0 quantises matrices, F16 where rows do not fill blocks", "[model][convert][shared]") {
  const std::string bin = testing::shared_model("stories260K/stories260K.bin");
  const std::string tok = testing::shared_model("stories260K/tok512.bin");
  if (bin.empty() || tok.empty()) {
    WARN("skipped: " TROUPE_SHARED_DIR "/models/stories260K is absent");
    return;
  }
  testing::TempDir dir;
  GgufModelOptions o;
  o.type = TensorType::q8_0;
  REQUIRE(convert_llama2c(bin, tok, dir.file("q8.gguf"), o).ok());
  auto src = load_llama2c(bin);
  auto dst = load_model(dir.file("q8.gguf"));
  REQUIRE(dst.ok());
  CHECK(dst->tok_embd.type == TensorType::q8_0);
  CHECK(dst->layers[0].wq.type == TensorType::q8_0);
  CHECK(dst->layers[0].w_gate.type == TensorType::q8_0);
  CHECK(dst->layers[0].w_down.type == TensorType::f16);  // rows of 172 values
  CHECK(dst->layers[0].attn_norm.type == TensorType::f32);
  const auto a = floats(src->layers[2].wq), b = floats(dst->layers[2].wq);
  float amax = 0, err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    amax = std::max(amax, std::fabs(a[i]));
    err = std::max(err, std::fabs(a[i] - b[i]));
  }
  CHECK(err <= amax / 127.0f);
}

TEST_CASE("mkmodel writes the requested shapes for llama and qwen2 in f32, f16, q8_0, q4_0", "[model][mkmodel]") {
  testing::TempDir dir;
  for (Arch arch : {Arch::llama, Arch::qwen2})
    for (TensorType type : {TensorType::f32, TensorType::f16, TensorType::q8_0, TensorType::q4_0}) {
      RandomModelOptions o;
      o.arch = arch;
      o.type = type;
      o.dim = 64;
      o.n_layers = 3;
      o.n_heads = 8;
      o.n_kv_heads = 2;
      o.ffn_dim = 96;
      o.vocab_size = 300;
      o.context_length = 256;
      o.seed = 42;
      const std::string path = dir.file(std::string(to_string(arch)) + "-" + to_string(type) + ".gguf");
      REQUIRE(write_random_model(o, path).ok());
      auto m = load_model(path);
      INFO(path);
      REQUIRE(m.ok());
      const ModelConfig& c = m->config;
      CHECK(c.arch == arch);
      CHECK(c.rope_neox == (arch == Arch::qwen2));
      CHECK(c.dim == 64);
      CHECK(c.n_layers == 3);
      CHECK(c.n_heads == 8);
      CHECK(c.n_kv_heads == 2);
      CHECK(c.ffn_dim == 96);
      CHECK(c.vocab_size == 300);
      CHECK(c.context_length == 256);
      CHECK(m->output.empty() == (arch == Arch::qwen2));
      CHECK(m->layers[2].wk.shape == std::vector<int64_t>{64, 16});
      CHECK(m->layers[2].w_down.shape == std::vector<int64_t>{96, 64});
      CHECK(m->layers[0].wq.type == type);
      CHECK(m->layers[0].attn_norm.type == TensorType::f32);
      CHECK(floats(m->layers[0].ffn_norm) == std::vector<float>(64, 1.0f));
      CHECK(m->layers[0].bq.empty() == (arch == Arch::llama));
      // Weights look like N(0, 0.02).
      const auto w = floats(m->layers[1].w_gate);
      double sum = 0, sq = 0;
      for (float v : w) {
        sum += v;
        sq += static_cast<double>(v) * v;
      }
      const double mean = sum / w.size(), sd = std::sqrt(sq / w.size() - mean * mean);
      CHECK(std::fabs(mean) < 0.003);
      CHECK(sd == Approx(0.02).epsilon(0.1));
    }
}

TEST_CASE("mkmodel is deterministic per seed and carries a usable tokenizer and ChatML", "[model][mkmodel]") {
  testing::TempDir dir;
  RandomModelOptions o;
  o.vocab_size = 2000;
  o.seed = 7;
  REQUIRE(write_random_model(o, dir.file("a.gguf")).ok());
  REQUIRE(write_random_model(o, dir.file("b.gguf")).ok());
  o.seed = 8;
  REQUIRE(write_random_model(o, dir.file("c.gguf")).ok());
  CHECK(testing::read_file(dir.file("a.gguf")) == testing::read_file(dir.file("b.gguf")));
  CHECK(testing::read_file(dir.file("a.gguf")) != testing::read_file(dir.file("c.gguf")));
  auto f = GgufFile::open(dir.file("a.gguf"));
  REQUIRE(f.ok());
  CHECK(*f->get_string("tokenizer.ggml.model") == "llama");
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens->size() == 2000);
  CHECK((*tokens)[1] == "<s>");
  CHECK((*tokens)[3 + 0x41] == "<0x41>");
  CHECK((*tokens)[259] == "<|im_start|>");
  CHECK((*tokens)[260] == "<|im_end|>");
  CHECK((*tokens)[261] == "\xe2\x96\x81");
  auto types = f->get_i32_array("tokenizer.ggml.token_type");
  CHECK((*types)[259] == 3);
  CHECK((*types)[300] == 1);
  // Tokens are unique, and every normal piece longer than one character is
  // a shorter piece plus one character (reachable by SPM merges).
  std::set<std::string> seen(tokens->begin(), tokens->end());
  CHECK(seen.size() == tokens->size());
  for (size_t i = 261; i < tokens->size(); ++i) {
    const std::string& t = (*tokens)[i];
    if (t.size() <= 1 || t == "\xe2\x96\x81") continue;
    const std::string prefix = t.substr(0, t.size() - 1);
    CHECK((seen.count(prefix) || prefix.size() == 0));
  }
  auto scores = f->get_f32_array("tokenizer.ggml.scores");
  CHECK((*scores)[262] < (*scores)[261]);
  CHECK_THAT(*f->get_string("tokenizer.chat_template"), Catch::Contains("<|im_start|>"));
  CHECK(*f->get_u32("tokenizer.ggml.eos_token_id") == 2);
}

TEST_CASE("mkmodel rejects impossible shapes with the option's name", "[model][mkmodel][bad]") {
  RandomModelOptions o;
  o.n_heads = 5;
  CHECK_THAT(validate(o).error().message, Catch::Contains("--heads 5 does not divide --dim 64"));
  o = {};
  o.n_kv_heads = 3;
  CHECK_THAT(validate(o).error().message, Catch::Contains("--kv-heads 3"));
  o = {};
  o.vocab_size = 100;
  CHECK_THAT(validate(o).error().message, Catch::Contains("--vocab 100"));
}
