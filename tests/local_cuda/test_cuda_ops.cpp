// The CUDA kernels against the reference kernels, op by op (GPU only: each
// test skips with a warning when no CUDA device is usable).
//
// Tolerances (|cuda - reference| / max(1, max |reference|) over an output):
//   matmul, GEMV path (n <= 8 float weights, n <= 32 quantised): 1e-5
//       (float32 x, float32 accumulation, another summation order);
//   matmul, cuBLAS path, f32 weights: 1e-5;
//   matmul, cuBLAS path, f16 / q8_0 / q4_0 weights: 2e-3 (x rounded to f16,
//       q8_0/q4_0 weights dequantised to f16);
//   matmul, cuBLAS path, bf16 weights: 1e-2 (x rounded to bf16);
//   get_rows, add, write_kv, copy_blocks: exact (f16 and bf16 KV bit-exact);
//   rmsnorm, softmax, silu_mul: 1e-5;  rope (positions < 5000): 1e-4;
//   attention (f32, f16 or bf16 KV): 1e-5.
// Fused matmuls give exactly what matmul gives.
#include <catch2/catch.hpp>

#include <cstring>
#include <numeric>

#include "engine/local/cuda/cuda_plan.hpp"
#include "local_cuda/cuda_test_util.hpp"

using namespace troupe::cuda_test;

namespace {

constexpr double kGemvTol = 1e-5, kF32GemmTol = 1e-5, kF16GemmTol = 2e-3, kBf16GemmTol = 1e-2;
constexpr double kRowOpTol = 1e-5, kRopeTol = 1e-4, kAttentionTol = 1e-5;

double matmul_tolerance(TensorType t, int n) {
  if (cuda_plan::choose_matmul_path(t, n) == cuda_plan::MatmulPath::gemv) return kGemvTol;
  if (t == TensorType::f32) return kF32GemmTol;
  if (t == TensorType::bf16) return kBf16GemmTol;
  return kF16GemmTol;
}

double scaled_diff(const std::vector<float>& got, const std::vector<float>& want) {
  return max_abs_diff(got, want) / std::max(1.0, max_abs(want));
}

const TensorType kAllTypes[] = {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0,
                                TensorType::q4_0};

}  // namespace

TEST_CASE("cuda matmul matches the reference for every weight type, batch size and odd output size",
          "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  uint64_t seed = 100;
  for (TensorType t : kAllTypes) {
    const bool quant = t == TensorType::q8_0 || t == TensorType::q4_0;
    // Widths: vector-friendly, and (float types) one that forces the scalar path.
    std::vector<int64_t> ins = {256, 96};
    if (!quant) ins.push_back(45);
    for (int64_t in : ins) {
      for (int64_t out : {int64_t{37}, int64_t{131}}) {
        const HostMatrix w = random_matrix(t, in, out, ++seed);
        upload_matrix(*gpu, w);
        const std::vector<float> bias = random_floats(static_cast<size_t>(out), ++seed);
        auto dbias = to_device(*gpu, bias);
        for (int n : {1, 3, 17, 64}) {
          for (bool with_bias : {false, true}) {
            INFO(to_string(t) << " in " << in << " out " << out << " n " << n << (with_bias ? " +bias" : ""));
            const std::vector<float> x = random_floats(static_cast<size_t>(n * in), ++seed);
            std::vector<float> want(static_cast<size_t>(n * out));
            ref->matmul(w.view, with_bias ? bias.data() : nullptr, x.data(), n, want.data());
            auto dx = to_device(*gpu, x);
            auto dy = gpu->alloc(want.size());
            gpu->matmul(w.view, with_bias ? dbias.get() : nullptr, dx.get(), n, dy.get());
            const auto got = from_device(*gpu, dy.get(), want.size());
            REQUIRE(gpu->take_error().ok());
            CHECK(scaled_diff(got, want) <= matmul_tolerance(t, n));
          }
        }
      }
    }
  }
}

TEST_CASE("cuda matmuls (fused q/k/v) give exactly what separate matmuls give", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  for (TensorType t : kAllTypes) {
    for (int n : {1, 5, 40}) {
      INFO(to_string(t) << " n " << n);
      const int64_t in = 128;
      const HostMatrix q = random_matrix(t, in, 128, 1, 1.0f, "q"), k = random_matrix(t, in, 32, 2, 1.0f, "k"),
                       v = random_matrix(t, in, 33, 3, 1.0f, "v");
      for (const HostMatrix* m : {&q, &k, &v}) upload_matrix(*gpu, *m);
      auto bias = to_device(*gpu, random_floats(128, 4));
      auto x = to_device(*gpu, random_floats(static_cast<size_t>(n * in), 5));
      std::shared_ptr<float[]> fused[3], single[3];
      const HostMatrix* ms[3] = {&q, &k, &v};
      for (int i = 0; i < 3; ++i) {
        fused[i] = gpu->alloc(static_cast<size_t>(n * ms[i]->view.shape[1]));
        single[i] = gpu->alloc(static_cast<size_t>(n * ms[i]->view.shape[1]));
        gpu->matmul(ms[i]->view, i == 0 ? bias.get() : nullptr, x.get(), n, single[i].get());
      }
      const Kernels::MatmulOut outs[] = {
          {&q.view, bias.get(), fused[0].get()}, {&k.view, nullptr, fused[1].get()}, {&v.view, nullptr, fused[2].get()}};
      gpu->matmuls(outs, x.get(), n);
      for (int i = 0; i < 3; ++i) {
        const size_t sz = static_cast<size_t>(n * ms[i]->view.shape[1]);
        CHECK(from_device(*gpu, fused[i].get(), sz) == from_device(*gpu, single[i].get(), sz));
      }
      REQUIRE(gpu->take_error().ok());
    }
  }
}

TEST_CASE("cuda GEMV rows do not depend on the other rows of the call", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  for (TensorType t : kAllTypes) {
    INFO(to_string(t));
    const HostMatrix w = random_matrix(t, 256, 77, 9);
    upload_matrix(*gpu, w);
    const std::vector<float> x = random_floats(8 * 256, 10);
    auto dx = to_device(*gpu, x);
    auto all = gpu->alloc(8 * 77), one = gpu->alloc(77);
    gpu->matmul(w.view, nullptr, dx.get(), 8, all.get());
    const auto rows8 = from_device(*gpu, all.get(), 8 * 77);
    for (int r = 0; r < 8; ++r) {
      gpu->matmul(w.view, nullptr, dx.get() + r * 256, 1, one.get());
      const auto row = from_device(*gpu, one.get(), 77);
      CHECK(std::equal(row.begin(), row.end(), rows8.begin() + r * 77));
    }
    REQUIRE(gpu->take_error().ok());
  }
}

TEST_CASE("cuda get_rows matches the reference exactly for every weight type", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  for (TensorType t : kAllTypes) {
    for (int n : {1, 3, 17, 64}) {
      INFO(to_string(t) << " n " << n);
      const int64_t width = 96, rows = 101;
      const HostMatrix w = random_matrix(t, width, rows, 20 + n);
      upload_matrix(*gpu, w);
      std::vector<int32_t> ids(static_cast<size_t>(n));
      Rng r(static_cast<uint64_t>(n));
      for (auto& id : ids) id = r.below(static_cast<int>(rows));
      ids[0] = static_cast<int32_t>(rows - 1);
      std::vector<float> want(static_cast<size_t>(n * width));
      ref->get_rows(w.view, ids.data(), n, want.data());
      auto dy = gpu->alloc(want.size());
      gpu->get_rows(w.view, ids.data(), n, dy.get());
      CHECK(from_device(*gpu, dy.get(), want.size()) == want);
      REQUIRE(gpu->take_error().ok());
    }
  }
}

TEST_CASE("cuda rmsnorm, softmax, silu_mul and add match the reference", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  for (int width : {7, 64, 896, 5000}) {
    const int n = 3;
    INFO("width " << width);
    const std::vector<float> x = random_floats(static_cast<size_t>(n * width), 31, 3.0f);
    const std::vector<float> wt = random_floats(static_cast<size_t>(width), 32);
    std::vector<float> want(x.size());
    ref->rmsnorm(x.data(), wt.data(), n, width, 1e-5f, want.data());
    auto dx = to_device(*gpu, x), dw = to_device(*gpu, wt);
    auto dy = gpu->alloc(x.size());
    gpu->rmsnorm(dx.get(), dw.get(), n, width, 1e-5f, dy.get());
    CHECK(scaled_diff(from_device(*gpu, dy.get(), x.size()), want) <= kRowOpTol);
    gpu->rmsnorm(dx.get(), dw.get(), n, width, 1e-5f, dx.get());  // in place
    CHECK(scaled_diff(from_device(*gpu, dx.get(), x.size()), want) <= kRowOpTol);

    std::vector<float> sm = x;
    ref->softmax(sm.data(), n, width);
    auto ds = to_device(*gpu, x);
    gpu->softmax(ds.get(), n, width);
    CHECK(max_abs_diff(from_device(*gpu, ds.get(), x.size()), sm) <= kRowOpTol);
    REQUIRE(gpu->take_error().ok());
  }
  const size_t n = 100003;
  const std::vector<float> g = random_floats(n, 40, 6.0f), u = random_floats(n, 41, 2.0f);
  std::vector<float> want = g;
  ref->silu_mul(want.data(), u.data(), n);
  auto dg = to_device(*gpu, g), du = to_device(*gpu, u);
  gpu->silu_mul(dg.get(), du.get(), n);
  CHECK(scaled_diff(from_device(*gpu, dg.get(), n), want) <= kRowOpTol);
  std::vector<float> sum = g;
  ref->add(sum.data(), u.data(), n);
  auto da = to_device(*gpu, g);
  gpu->add(da.get(), du.get(), n);
  CHECK(from_device(*gpu, da.get(), n) == sum);
  REQUIRE(gpu->take_error().ok());
}

TEST_CASE("cuda rope matches the reference in both pair orders", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  for (bool neox : {false, true}) {
    for (int hd : {16, 64, 128}) {
      INFO((neox ? "neox" : "normal") << " head_dim " << hd);
      const int n = 5, heads = 7;
      const std::vector<int32_t> pos = {0, 1, 17, 1000, 4999};
      const std::vector<float> x = random_floats(static_cast<size_t>(n * heads * hd), 50 + hd);
      for (float theta : {10000.0f, 1000000.0f}) {
        std::vector<float> want = x;
        ref->rope(want.data(), n, heads, hd, pos.data(), theta, neox);
        auto dx = to_device(*gpu, x);
        gpu->rope(dx.get(), n, heads, hd, pos.data(), theta, neox);
        CHECK(max_abs_diff(from_device(*gpu, dx.get(), x.size()), want) <= kRopeTol);
      }
      REQUIRE(gpu->take_error().ok());
    }
  }
}

namespace {

// A paged KV pool on host and device: n_blocks blocks of block_size rows,
// filled with the same random values; tables index it.
struct Pool {
  int block_size = 0, n_blocks = 0, kv_dim = 0;
  KvType type = KvType::f32;
  std::vector<float> k32, v32;      // f32 storage
  std::vector<uint16_t> k16, v16;   // f16 or bf16 storage
  std::shared_ptr<float[]> dk, dv;

  size_t elements() const { return static_cast<size_t>(n_blocks) * block_size * kv_dim; }
  size_t device_floats() const { return (elements() * kv_element_bytes(type) + 3) / 4; }
  float* host_k() { return type == KvType::f32 ? k32.data() : reinterpret_cast<float*>(k16.data()); }
  float* host_v() { return type == KvType::f32 ? v32.data() : reinterpret_cast<float*>(v16.data()); }

  Pool(Kernels& gpu, int bs, int blocks, int dim, KvType t, uint64_t seed)
      : block_size(bs), n_blocks(blocks), kv_dim(dim), type(t) {
    const auto kf = random_floats(elements(), seed), vf = random_floats(elements(), seed + 1);
    if (t == KvType::f32) {
      k32 = kf;
      v32 = vf;
    } else {
      auto round = t == KvType::f16 ? f32_to_f16 : f32_to_bf16;
      for (float f : kf) k16.push_back(round(f));
      for (float f : vf) v16.push_back(round(f));
      k16.resize(device_floats() * 2);
      v16.resize(device_floats() * 2);
    }
    dk = gpu.alloc(device_floats());
    dv = gpu.alloc(device_floats());
    gpu.from_host(host_k(), dk.get(), device_floats());
    gpu.from_host(host_v(), dv.get(), device_floats());
  }
  KvLayerView view(bool device, const std::vector<int32_t>& table, int n_tokens) {
    KvLayerView v;
    v.k = device ? dk.get() : host_k();
    v.v = device ? dv.get() : host_v();
    v.block_size = block_size;
    v.block_stride = static_cast<int64_t>(block_size) * kv_dim;
    v.row_stride = kv_dim;
    v.block_table = table.data();
    v.n_blocks = static_cast<int>(table.size());
    v.n_tokens = n_tokens;
    v.type = type;
    return v;
  }
};

}  // namespace

TEST_CASE("cuda paged attention matches the reference: decode and chunked prefill, GQA, f32, f16 and bf16 KV",
          "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  struct Shape {
    int heads, kv_heads, hd;
  };
  for (Shape sh : {Shape{7, 7, 64}, Shape{14, 2, 64}, Shape{8, 2, 128}, Shape{4, 1, 256}, Shape{6, 3, 48}}) {
    for (KvType type : {KvType::f32, KvType::f16, KvType::bf16}) {
      for (bool prefill : {false, true}) {
        INFO(sh.heads << "/" << sh.kv_heads << " heads, head_dim " << sh.hd << ", " << to_string(type) << " KV, "
                      << (prefill ? "prefill" : "decode"));
        const int kv_dim = sh.kv_heads * sh.hd, bs = 16, blocks = 64;
        Pool pool(*gpu, bs, blocks, kv_dim, type, 60 + sh.hd);
        // Four sequences: block tables in shuffled order, the first two
        // blocks shared by sequences 0..2 (a common prefix).
        std::vector<int32_t> order(blocks);
        std::iota(order.begin(), order.end(), 0);
        Rng r(77);
        for (int i = blocks - 1; i > 0; --i) std::swap(order[i], order[r.below(i + 1)]);
        const int lengths[] = {300, 35, 17, 1};  // keys after this call
        std::vector<std::vector<int32_t>> tables(4);
        int next = 2;
        for (int s = 0; s < 4; ++s) {
          const int need = (lengths[s] + bs - 1) / bs;
          for (int b = 0; b < need; ++b) tables[s].push_back(s < 3 && b < 2 ? order[b] : order[next++]);
        }
        std::vector<AttentionSeq> host_seqs, dev_seqs;
        int q_rows = 0;
        for (int s = 0; s < 4; ++s) {
          const int n_q = prefill ? std::min(lengths[s], 1 + 9 * (s % 2)) : 1;  // 1 or 10 queries
          const int pos0 = lengths[s] - n_q;
          host_seqs.push_back({q_rows, n_q, pos0, pool.view(false, tables[s], lengths[s])});
          dev_seqs.push_back({q_rows, n_q, pos0, pool.view(true, tables[s], lengths[s])});
          q_rows += n_q;
        }
        const AttentionShape shape{sh.heads, sh.kv_heads, sh.hd, 1.0f / std::sqrt(static_cast<float>(sh.hd))};
        const size_t width = static_cast<size_t>(sh.heads) * sh.hd;
        const std::vector<float> q = random_floats(q_rows * width, 90, 2.0f);
        std::vector<float> want(q.size());
        ref->attention(q.data(), shape, host_seqs, want.data());
        auto dq = to_device(*gpu, q);
        auto dout = gpu->alloc(q.size());
        gpu->attention(dq.get(), shape, dev_seqs, dout.get());
        CHECK(max_abs_diff(from_device(*gpu, dout.get(), q.size()), want) <= kAttentionTol);
        REQUIRE(gpu->take_error().ok());
      }
    }
  }
}

TEST_CASE("cuda write_kv stores rows through the block table, f16 and bf16 rounded to nearest even",
          "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  for (KvType type : {KvType::f32, KvType::f16, KvType::bf16}) {
    INFO(to_string(type));
    const int kv_dim = 40, bs = 4, blocks = 8;
    Pool pool(*gpu, bs, blocks, kv_dim, type, 5);
    const std::vector<int32_t> t0 = {6, 2, 5}, t1 = {1, 7};
    const std::vector<float> k = random_floats(9 * kv_dim, 7, 100.0f), v = random_floats(9 * kv_dim, 8, 0.01f);
    auto dk = to_device(*gpu, k), dv = to_device(*gpu, v);
    // Two calls: queued, and run as one launch by the next op (to_host).
    ref->write_kv(pool.view(false, t0, 11), 2, 9, kv_dim, k.data(), v.data());
    ref->write_kv(pool.view(false, t1, 5), 3, 5, kv_dim, v.data(), k.data());
    gpu->write_kv(pool.view(true, t0, 11), 2, 9, kv_dim, dk.get(), dv.get());
    gpu->write_kv(pool.view(true, t1, 5), 3, 5, kv_dim, dv.get(), dk.get());
    std::vector<float> got_k(pool.device_floats()), got_v(pool.device_floats());
    gpu->to_host(pool.dk.get(), got_k.data(), got_k.size());
    gpu->to_host(pool.dv.get(), got_v.data(), got_v.size());
    CHECK(std::memcmp(got_k.data(), pool.host_k(), got_k.size() * 4) == 0);
    CHECK(std::memcmp(got_v.data(), pool.host_v(), got_v.size() * 4) == 0);
    REQUIRE(gpu->take_error().ok());
    // A table too short for the positions is an error, not a fault.
    gpu->write_kv(pool.view(true, t1, 9), 7, 2, kv_dim, dk.get(), dv.get());
    gpu->synchronize();
    CHECK_FALSE(gpu->take_error().ok());
  }
}

TEST_CASE("cuda copy_blocks copies every buffer's blocks in one call", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  auto ref = make_reference_kernels();
  const size_t block_floats = 1000, blocks = 6;
  std::vector<std::vector<float>> host;
  std::vector<std::shared_ptr<float[]>> dev;
  std::vector<float*> hp, dp;
  for (int b = 0; b < 5; ++b) {
    host.push_back(random_floats(block_floats * blocks, 200 + b));
    dev.push_back(to_device(*gpu, host.back()));
  }
  for (int b = 0; b < 5; ++b) {
    hp.push_back(host[b].data());
    dp.push_back(dev[b].get());
  }
  const Kernels::BlockCopy copies[] = {{0, 3}, {5, 1}, {2, 4}};
  ref->copy_blocks(hp, block_floats, copies);
  gpu->copy_blocks(dp, block_floats, copies);
  for (int b = 0; b < 5; ++b) CHECK(from_device(*gpu, dev[b].get(), host[b].size()) == host[b]);
  REQUIRE(gpu->take_error().ok());
}

TEST_CASE("cuda ops report misuse through take_error instead of faulting", "[cuda][ops]") {
  TROUPE_REQUIRE_CUDA_DEVICE();
  auto gpu = make_gpu();
  const HostMatrix w = random_matrix(TensorType::f16, 64, 10, 1);
  auto x = gpu->alloc(64), y = gpu->alloc(10);
  gpu->matmul(w.view, nullptr, x.get(), 1, y.get());  // never uploaded
  auto s = gpu->take_error();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("test.weight") != std::string::npos);
  CHECK(gpu->take_error().ok());  // cleared
  upload_matrix(*gpu, w);
  const int32_t bad[] = {10};
  gpu->get_rows(w.view, bad, 1, y.get());
  CHECK_FALSE(gpu->take_error().ok());
  gpu->matmul(w.view, nullptr, x.get(), 1, y.get());
  gpu->synchronize();
  CHECK(gpu->take_error().ok());
}
