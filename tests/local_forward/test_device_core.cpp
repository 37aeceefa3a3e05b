// The engine core's device-facing contract (issue 11's core changes), shown
// on the CPU with a recording backend that forwards every op to the
// reference kernels and writes down the calls a GPU backend relies on:
// - the KV cache keeps its rows in memory the backend allocated and copies
//   blocks (copy-on-write) through Kernels::copy_blocks;
// - a Transformer uploads the model's weights once, names each forward
//   pass's integer arrays once (begin_step), and returns a backend's
//   reported error instead of logits;
// - devices are named `cpu`, `cuda`, `cuda:N`; asking for CUDA where there
//   is none is a clear error before any model file is read.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>

#include "engine/local/device.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/kv_cache.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/local/transformer.hpp"
#include "local_forward/random_model.hpp"

using namespace troupe::engine::local;
using troupe::testing::make_random_model;
using troupe::testing::RandomModelSpec;
using troupe::Status;

namespace {

// Forwards every op to the reference kernels; records what a device backend
// would act on.
class RecordingKernels final : public Kernels {
 public:
  const char* name() const override { return "recording"; }

  std::shared_ptr<float[]> alloc_uninitialized(size_t n) override {
    uninitialized_allocs.push_back(n);
    return inner_->alloc_uninitialized(n);
  }
  Status upload_weights(const ModelWeights& w) override {
    uploads.push_back(w.tok_embd.data);
    return {};
  }
  void begin_step(const StepArrays& a) override {
    Step s;
    s.ids.assign(a.ids.begin(), a.ids.end());
    s.positions.assign(a.positions.begin(), a.positions.end());
    for (auto t : a.block_tables) s.tables.emplace_back(t.begin(), t.end());
    steps.push_back(std::move(s));
  }
  void copy_blocks(std::span<float* const> buffers, size_t block_floats, std::span<const BlockCopy> copies) override {
    for (const BlockCopy& c : copies) copied.push_back({c.from, c.to, buffers.size(), block_floats});
    Kernels::copy_blocks(buffers, block_floats, copies);
  }
  Status take_error() override {
    Status s = pending_error ? Status(*pending_error) : Status();
    pending_error.reset();
    return s;
  }

  int decode_rows(int sequences) const override { return std::max(sequences, pad_decode_to); }

  void matmul(const TensorView& w, const float* bias, const float* x, int n, float* y) override {
    matmul_rows.push_back(n);
    inner_->matmul(w, bias, x, n, y);
  }
  void get_rows(const TensorView& w, const int32_t* ids, int n, float* y) override { inner_->get_rows(w, ids, n, y); }
  void rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y) override {
    inner_->rmsnorm(x, weight, n, width, eps, y);
  }
  void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, float theta, bool neox) override {
    inner_->rope(x, n, n_heads, head_dim, pos, theta, neox);
  }
  void write_kv(const KvLayerView& kv, int pos0, int n, int kv_dim, const float* k, const float* v) override {
    inner_->write_kv(kv, pos0, n, kv_dim, k, v);
  }
  void attention(const float* q, const AttentionShape& shape, std::span<const AttentionSeq> seqs, float* out) override {
    inner_->attention(q, shape, seqs, out);
  }
  void silu_mul(float* gate, const float* up, size_t n) override { inner_->silu_mul(gate, up, n); }
  void softmax(float* x, int n, int width) override { inner_->softmax(x, n, width); }
  void add(float* y, const float* x, size_t n) override { inner_->add(y, x, n); }

  struct Step {
    std::vector<int32_t> ids, positions;
    std::vector<std::vector<int32_t>> tables;
  };
  struct Copied {
    int32_t from, to;
    size_t buffers, block_floats;
  };
  std::vector<size_t> uninitialized_allocs;
  std::vector<const void*> uploads;
  std::vector<Step> steps;
  std::vector<Copied> copied;
  std::optional<troupe::Error> pending_error;
  int pad_decode_to = 0;  // decode_rows(): at least this many rows
  std::vector<int> matmul_rows;

 private:
  std::unique_ptr<Kernels> inner_ = make_reference_kernels();
};

}  // namespace

TEST_CASE("the KV cache keeps its rows in the backend's memory and copies blocks through copy_blocks", "[device]") {
  auto rec = std::make_shared<RecordingKernels>();
  KvCacheConfig c;
  c.n_layers = 3;
  c.kv_dim = 8;
  c.block_size = 4;
  c.budget_bytes = 10 * 2 * 3 * 4 * 8 * sizeof(float);  // 10 blocks
  auto made = KvCache::create(c, rec);
  REQUIRE(made.ok());
  KvCache& kv = **made;
  REQUIRE(kv.n_blocks() == 10);
  // One K and one V buffer per layer, each holding every block.
  REQUIRE(rec->uninitialized_allocs == std::vector<size_t>(6, static_cast<size_t>(10 * 4 * 8)));

  // A sequence of 6 tokens (a full block and half of a second), forked: the
  // fork's first write copies the shared, partly filled block.
  std::vector<int32_t> toks(6);
  std::iota(toks.begin(), toks.end(), 50);
  auto opened = kv.open(toks);
  REQUIRE(opened.cached_tokens == 0);
  REQUIRE(kv.reserve(opened.seq, 6));
  for (int l = 0; l < 3; ++l)
    for (int p = 0; p < 6; ++p) {
      const int32_t b = kv.block_table(opened.seq)[static_cast<size_t>(p / 4)];
      float* row = kv.k_base(l) + (static_cast<size_t>(b) * 4 + p % 4) * 8;
      for (int d = 0; d < 8; ++d) row[d] = static_cast<float>(1000 * l + 10 * p + d);
    }
  kv.append(opened.seq, toks);
  auto child = kv.fork(opened.seq);
  REQUIRE(rec->copied.empty());
  REQUIRE(kv.reserve(child, 1));
  REQUIRE(rec->copied.size() == 1);
  const auto& cp = rec->copied[0];
  CHECK(cp.from == kv.block_table(opened.seq)[1]);
  CHECK(cp.to == kv.block_table(child)[1]);
  CHECK(cp.from != cp.to);
  CHECK(cp.buffers == 6);
  CHECK(cp.block_floats == 4 * 8);
  CHECK(kv.stats().copies == 1);
  for (int l = 0; l < 3; ++l)
    CHECK(std::memcmp(kv.k_base(l) + static_cast<size_t>(cp.to) * 32, kv.k_base(l) + static_cast<size_t>(cp.from) * 32,
                      32 * sizeof(float)) == 0);
}

TEST_CASE("a KV cache whose blocks are not whole floats is refused, naming the sizes", "[device]") {
  for (KvType type : {KvType::f16, KvType::bf16}) {
    KvCacheConfig c;
    c.n_layers = 1;
    c.kv_dim = 3;
    c.block_size = 1;
    c.type = type;
    c.budget_bytes = 1 << 20;
    auto made = KvCache::create(c);
    REQUIRE_FALSE(made.ok());
    CHECK_THAT(made.error().message, Catch::Contains(std::string("1 rows of 3 ") + to_string(type) + " elements") &&
                                         Catch::Contains("2-byte elements need an even block_size * kv_dim"));
    c.block_size = 2;  // 6 elements of 2 bytes: three floats
    CHECK(KvCache::create(c).ok());
  }
}

TEST_CASE("copy-on-write in a bf16 KV cache copies a block's 2-byte rows whole", "[device]") {
  // 4 rows of 6 bf16 elements: a block of 48 bytes, 12 floats per buffer.
  auto rec = std::make_shared<RecordingKernels>();
  KvCacheConfig c;
  c.n_layers = 2;
  c.kv_dim = 6;
  c.block_size = 4;
  c.type = KvType::bf16;
  c.budget_bytes = 8 * 2 * 2 * 4 * 6 * 2;  // 8 blocks
  auto made = KvCache::create(c, rec);
  REQUIRE(made.ok());
  KvCache& kv = **made;
  REQUIRE(kv.n_blocks() == 8);
  CHECK(kv.bytes_per_block() == 2 * 2 * 4 * 6 * 2);
  std::vector<int32_t> toks{1, 2, 3, 4, 5, 6};
  auto opened = kv.open(toks);
  REQUIRE(kv.reserve(opened.seq, 6));
  // Rows written as write_kv would, through a KvLayerView of 16-bit rows.
  const auto& table = kv.block_table(opened.seq);
  for (int l = 0; l < 2; ++l) {
    const KvLayerView view{kv.k_base(l), kv.v_base(l), 4, 4 * 6, 6, table.data(), static_cast<int>(table.size()), 6,
                           KvType::bf16};
    std::vector<float> k(36), v(36);
    for (int i = 0; i < 36; ++i) {
      k[static_cast<size_t>(i)] = 1.0f + static_cast<float>(100 * l + i) / 256.0f;
      v[static_cast<size_t>(i)] = -k[static_cast<size_t>(i)];
    }
    rec->write_kv(view, 0, 6, 6, k.data(), v.data());
  }
  kv.append(opened.seq, toks);
  auto child = kv.fork(opened.seq);
  REQUIRE(kv.reserve(child, 1));
  REQUIRE(rec->copied.size() == 1);
  const auto& cp = rec->copied[0];
  CHECK(cp.buffers == 4);
  CHECK(cp.block_floats == 12);
  for (int l = 0; l < 2; ++l)
    for (float* base : {kv.k_base(l), kv.v_base(l)}) {
      const auto* h = reinterpret_cast<const uint16_t*>(base);
      // The copy holds the 2 written rows of the shared block, element for element.
      for (int e = 0; e < 2 * 6; ++e) {
        CHECK(h[static_cast<size_t>(cp.to) * 24 + e] == h[static_cast<size_t>(cp.from) * 24 + e]);
        CHECK(h[static_cast<size_t>(cp.to) * 24 + e] != 0);
      }
    }
}

TEST_CASE("a transformer uploads its weights once and names each pass's integer arrays once", "[device]") {
  RandomModelSpec spec;
  spec.arch = Arch::qwen2;
  auto rec = std::make_shared<RecordingKernels>();
  auto made = Transformer::create(make_random_model(spec), rec);
  REQUIRE(made.ok());
  Transformer& tr = **made;
  REQUIRE(rec->uploads.size() == 1);
  CHECK(rec->uploads[0] == tr.weights().tok_embd.data);

  ContiguousKvCache cache(tr.config(), tr.kernels(), 2, 32);
  const std::vector<int32_t> a{3, 9, 27, 81}, b{5, 7};
  const BatchEntry batch[] = {cache.entry(0, a, 0), cache.entry(1, b, 0)};
  auto out = tr.forward(batch);
  REQUIRE(out.ok());
  REQUIRE(rec->steps.size() == 1);
  CHECK(rec->steps[0].ids == std::vector<int32_t>{3, 9, 27, 81, 5, 7});
  CHECK(rec->steps[0].positions == std::vector<int32_t>{0, 1, 2, 3, 0, 1});
  CHECK(rec->steps[0].tables == std::vector<std::vector<int32_t>>{{0}, {1}});

  // The recording backend changes nothing: the logits are the reference's.
  auto ref = Transformer::create(make_random_model(spec), std::shared_ptr<Kernels>(make_reference_kernels()));
  REQUIRE(ref.ok());
  ContiguousKvCache ref_cache((*ref)->config(), (*ref)->kernels(), 2, 32);
  const BatchEntry ref_batch[] = {ref_cache.entry(0, a, 0), ref_cache.entry(1, b, 0)};
  auto expected = (*ref)->forward(ref_batch);
  REQUIRE(expected.ok());
  CHECK(out->values == expected->values);

  // A decode step is one more begin_step, with the new position.
  const std::vector<int32_t> next{11};
  const BatchEntry step[] = {cache.entry(0, next, 4)};
  REQUIRE(tr.forward(step).ok());
  REQUIRE(rec->steps.size() == 2);
  CHECK(rec->steps[1].positions == std::vector<int32_t>{4});
}

TEST_CASE("a decode step runs with the backend's decode_rows, padding rows dropped, logits unchanged", "[device]") {
  RandomModelSpec spec;
  spec.arch = Arch::qwen2;
  auto rec = std::make_shared<RecordingKernels>();
  rec->pad_decode_to = 8;
  auto made = Transformer::create(make_random_model(spec), rec);
  auto ref = Transformer::create(make_random_model(spec), std::shared_ptr<Kernels>(make_reference_kernels()));
  REQUIRE(made.ok());
  REQUIRE(ref.ok());
  Transformer& tr = **made;
  ContiguousKvCache cache(tr.config(), tr.kernels(), 3, 32), ref_cache((*ref)->config(), (*ref)->kernels(), 3, 32);
  const std::vector<std::vector<int32_t>> prompts = {{3, 9, 27}, {5, 7}, {2, 4, 6, 8}};
  // Prefill steps are never padded.
  for (int s = 0; s < 3; ++s) {
    const BatchEntry e = cache.entry(s, prompts[s], 0), r = ref_cache.entry(s, prompts[s], 0);
    auto out = tr.forward({&e, 1});
    REQUIRE(out.ok());
    CHECK(rec->steps.back().ids == prompts[s]);
    auto want = (*ref)->forward({&r, 1});
    REQUIRE(want.ok());
    CHECK(out->values == want->values);
  }
  // A decode step of 3 sequences runs as 8 rows; the logits are the 3 real ones.
  const int32_t next[] = {11, 12, 13};
  std::vector<BatchEntry> batch, ref_batch;
  for (int s = 0; s < 3; ++s) {
    const int pos = static_cast<int>(prompts[s].size());
    batch.push_back(cache.entry(s, {&next[s], 1}, pos));
    ref_batch.push_back(ref_cache.entry(s, {&next[s], 1}, pos));
  }
  rec->matmul_rows.clear();
  auto out = tr.forward(batch);
  auto want = (*ref)->forward(ref_batch);
  REQUIRE(out.ok());
  REQUIRE(want.ok());
  const auto& step = rec->steps.back();
  CHECK(step.ids == std::vector<int32_t>{11, 12, 13, 11, 11, 11, 11, 11});
  CHECK(step.positions == std::vector<int32_t>{3, 2, 4, 3, 3, 3, 3, 3});
  CHECK(step.tables.size() == 3);
  CHECK(std::all_of(rec->matmul_rows.begin(), rec->matmul_rows.end(), [](int n) { return n == 8; }));
  CHECK(out->n_rows == std::vector<int>{1, 1, 1});
  CHECK(out->values.size() == 3 * static_cast<size_t>(tr.config().vocab_size));
  CHECK(out->values == want->values);
}

TEST_CASE("an error a backend reports after a pass fails that pass with its message", "[device]") {
  auto rec = std::make_shared<RecordingKernels>();
  auto made = Transformer::create(make_random_model(RandomModelSpec{}), rec);
  REQUIRE(made.ok());
  ContiguousKvCache cache((*made)->config(), (*made)->kernels(), 1, 16);
  const std::vector<int32_t> t{1, 2, 3};
  const BatchEntry batch[] = {cache.entry(0, t, 0)};
  rec->pending_error = troupe::Error{troupe::ErrorCode::internal, "device fault: illegal address in attention"};
  auto out = (*made)->forward(batch);
  REQUIRE_FALSE(out.ok());
  CHECK_THAT(out.error().message, Catch::Contains("illegal address in attention"));
  // Reported once: the next pass runs.
  const std::vector<int32_t> next{4};
  const BatchEntry again[] = {cache.entry(0, next, 3)};
  CHECK((*made)->forward(again).ok());
}

TEST_CASE("devices are cpu, cuda or cuda:N, and anything else is refused by name", "[device]") {
  CHECK(*parse_device("cpu") == Device{Device::Kind::cpu, 0});
  CHECK(*parse_device("cuda") == Device{Device::Kind::cuda, 0});
  CHECK(*parse_device("cuda:3") == Device{Device::Kind::cuda, 3});
  CHECK(to_string(*parse_device("cuda")) == "cuda:0");
  CHECK(to_string(*parse_device("cpu")) == "cpu");
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", "cuda:0:1", "CPU", "", "cuda:99999", "cuda: 1"}) {
    INFO(bad);
    auto d = parse_device(bad);
    REQUIRE_FALSE(d.ok());
    CHECK_THAT(d.error().message, Catch::Contains("expected cpu, cuda or cuda:N"));
  }
}

TEST_CASE("asking for a GPU where there is none is a clear error before the model file is read", "[device]") {
  auto k = make_kernels(Device{Device::Kind::cuda, 0}, 1);
  if (k.ok()) {
    // A machine with a GPU and a build with CUDA: the GPU backend.
    CHECK(std::string((*k)->name()).find("cuda") != std::string::npos);
    return;
  }
  if (!cuda_compiled())
    CHECK_THAT(k.error().message, Catch::Contains("built without the CUDA backend") && Catch::Contains("--device cpu"));
  else
    CHECK_THAT(k.error().message, Catch::Contains("CUDA"));
  // The local backend checks the device first: the model file is never opened.
  LocalEngineOptions o;
  o.model_path = "/nonexistent/model.gguf";
  o.device = Device{Device::Kind::cuda, 0};
  auto b = make_local_backend(o);
  REQUIRE_FALSE(b.ok());
  CHECK_THAT(b.error().message, Catch::Contains(k.error().message));
  // And the CPU always works.
  auto cpu = make_kernels(Device{}, 2);
  REQUIRE(cpu.ok());
  CHECK(std::string((*cpu)->name()).find("cpu") != std::string::npos);
}
