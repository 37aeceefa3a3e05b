// CudaKernels: the Kernels interface on one NVIDIA GPU (see
// kernels_cuda.hpp for the contract). Host code only: memory, uploads,
// shape checks and error bookkeeping; the kernels are in ops_*.cu and the
// pure launch decisions in cuda_plan.cpp.
//
// How it works:
// - One stream per backend and one cuBLAS handle bound to it: every op is
//   queued there in call order. to_host()/synchronize() wait on the stream.
// - Errors never abort: a failed CUDA/cuBLAS call, a launch error or an
//   invalid argument is recorded (the first one wins) and reported by
//   take_error(); the op that met it does nothing more.
// - Weights: upload_weights() copies every matrix once, keyed by its host
//   data pointer, through two pinned staging buffers (the host fills one
//   while the other is copied); q8_0/q4_0 are split into quants and
//   scales on the way (cuda_plan.hpp; the upload is device_weights.cpp).
// - Integer arrays: begin_step() packs ids, positions and block tables into
//   one buffer and makes one H2D copy from pinned memory; ops look their
//   arrays up by host pointer, and upload any other array themselves.
// - write_kv() calls are queued and run as one launch when any other op (or
//   a sync point, or freeing memory from alloc()) comes next: a decode
//   step's per-sequence writes cost one launch per layer, not one per
//   sequence.
// - Decode steps are recorded and run as CUDA graphs (kernels_cuda.hpp;
//   the recording and the graph cache are step_graphs.cpp): every launch
//   goes through enqueue()/enqueue_gemm(), which run it now or record it.
#include "engine/local/cuda/kernels_cuda.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/local/cuda/cuda_host.hpp"
#include "engine/local/cuda/cuda_launch.hpp"
#include "engine/local/cuda/cuda_plan.hpp"
#include "engine/local/cuda/device_weights.hpp"
#include "engine/local/cuda/step_graphs.hpp"
#include "engine/local/cuda/upload_arena.hpp"
#include "engine/local/quant.hpp"

namespace troupe::engine::local {
namespace {

using cuda::AttnParams;
using cuda::AttnRowDesc;
using cuda::AttnSeqDesc;
using cuda::GemvBatch;
using cuda::KvWriteDesc;
using cuda_plan::MatmulPath;
using cuda_host::code_for;
using cuda_host::cuda_text;
using cuda_host::DeviceMatrix;
using cuda_host::free_matrix;
using cuda_host::kStagingBytes;
using cuda_host::Staging;
using cuda_host::upload_matrix;
using cuda_host::UploadArena;

// Elements of the f16 tile a quantised matrix is dequantised into for cuBLAS.
constexpr int64_t kDequantTileElements = int64_t{32} << 20;
// The cuBLAS workspace (32 MiB: cuBLAS's figure for Hopper).
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;


int32_t kernel_kv_type(KvType t) {
  switch (t) {
    case KvType::f16: return cuda::kKvF16;
    case KvType::bf16: return cuda::kKvBf16;
    case KvType::f32: break;
  }
  return cuda::kKvF32;
}

class CudaKernels;

// What memory from alloc() needs at free time: the device, and a way to run
// queued write_kv launches that may still read it (while the backend lives).
struct FreeHook {
  CudaKernels* owner = nullptr;
};

struct DeviceFree {
  int device = 0;
  std::weak_ptr<FreeHook> hook;
  void operator()(float* p) const;
};

class CudaKernels final : public Kernels {
 public:
  static Result<std::unique_ptr<Kernels>> create(const CudaKernelOptions& options) {
    const int device = options.device;
    std::unique_ptr<CudaKernels> k(new CudaKernels(device));
    k->graphs_enabled_ = options.graphs;
    if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
      return Error{ErrorCode::unsupported, "cuda: cudaSetDevice(" + std::to_string(device) + "): " + cuda_text(e)};
    if (cudaError_t e = cudaStreamCreateWithFlags(&k->stream_, cudaStreamNonBlocking); e != cudaSuccess) {
      k->stream_ = nullptr;
      return Error{ErrorCode::unsupported, "cuda: device " + std::to_string(device) + ": cudaStreamCreate: " + cuda_text(e)};
    }
    if (cublasStatus_t s = cublasCreate(&k->cublas_); s != CUBLAS_STATUS_SUCCESS) {
      k->cublas_ = nullptr;
      return Error{ErrorCode::unsupported,
                   "cuda: device " + std::to_string(device) + ": cublasCreate: " + cublasGetStatusString(s)};
    }
    if (cublasStatus_t s = cublasSetStream(k->cublas_, k->stream_); s != CUBLAS_STATUS_SUCCESS)
      return Error{ErrorCode::internal, std::string("cuda: cublasSetStream: ") + cublasGetStatusString(s)};
    cublasSetMathMode(k->cublas_, CUBLAS_DEFAULT_MATH);  // no TF32: f32 GEMMs stay float32
    // A workspace of its own (cuBLAS's advice for Hopper), so that GEMMs
    // captured into step graphs allocate nothing.
    if (cudaMalloc(&k->blas_workspace_, kBlasWorkspaceBytes) == cudaSuccess)
      cublasSetWorkspace(k->cublas_, k->blas_workspace_, kBlasWorkspaceBytes);
    else
      k->blas_workspace_ = nullptr, cudaGetLastError();
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) == cudaSuccess && sms > 0)
      k->sm_count_ = sms;
    return std::unique_ptr<Kernels>(std::move(k));
  }

  ~CudaKernels() override {
    activate();
    run_pending();
    if (stream_) cudaStreamSynchronize(stream_);
    hook_.reset();  // memory freed later does not call back
    for (auto& [ptr, m] : weights_) free_matrix(m);
    for (auto& [key, p] : rope_freqs_) cudaFree(p);
    for (DeviceBuffer* b : {&x_conv_, &w_deq_, &attn_partial_})
      if (b->ptr) cudaFree(b->ptr);
    if (cublas_) cublasDestroy(cublas_);
    if (blas_workspace_) cudaFree(blas_workspace_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }

  // ---- Memory ----------------------------------------------------------------

  std::shared_ptr<float[]> alloc(size_t n) override { return allocate(n, true); }
  std::shared_ptr<float[]> alloc_uninitialized(size_t n) override { return allocate(n, false); }

  void to_host(const float* src, float* host_dst, size_t n) override {
    activate();
    flush_kv();
    run_deferred(true);
    if (n) ok(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "to_host copy");
    if (ok(cudaStreamSynchronize(stream_), "to_host (waiting for queued ops)")) ok(arena_.reset(stream_), "to_host");
  }

  void from_host(const float* host_src, float* dst, size_t n) override {
    activate();
    run_pending();
    // From pageable memory the copy is staged before this returns, so the
    // host buffer may go right after.
    if (n) ok(cudaMemcpyAsync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice, stream_), "from_host copy");
  }

  void synchronize() override {
    activate();
    flush_kv();
    run_deferred(true);
    if (ok(cudaStreamSynchronize(stream_), "synchronize")) ok(arena_.reset(stream_), "synchronize");
  }

  Status take_error() override {
    activate();
    // Errors of kernels that already ran (a fault), and of launches.
    if (cudaError_t q = cudaStreamQuery(stream_); q != cudaSuccess && q != cudaErrorNotReady) ok(q, "queued op");
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) ok(e, "launch");
    if (!has_error_) return {};
    has_error_ = false;
    return std::move(first_error_);
  }

  // ---- Weights and step arrays -----------------------------------------------

  Status upload_weights(const ModelWeights& w) override {
    activate();
    run_pending();
    std::vector<const TensorView*> mats = {&w.tok_embd};
    if (!w.output.empty()) mats.push_back(&w.output);
    for (const LayerWeights& L : w.layers)
      for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) mats.push_back(t);
    size_t widest_row = 0;
    for (const TensorView* t : mats)
      if (!t->empty() && t->shape.size() == 2) widest_row = std::max(widest_row, tensor_bytes(t->type, t->shape[0]));
    Staging staging;
    if (auto s = staging.init(std::max(kStagingBytes, widest_row)); !s) return s;
    for (const TensorView* t : mats)
      if (auto s = upload_matrix(*t, staging, stream_, device_, weights_); !s) {
        cudaStreamSynchronize(stream_);
        return s;
      }
    if (cudaError_t e = cudaStreamSynchronize(stream_); e != cudaSuccess)
      return Error{code_for(e), "upload_weights: " + cuda_text(e)};
    return {};
  }

  void begin_step(const StepArrays& arrays) override {
    activate();
    run_pending();
    step_map_.clear();
    if (!ok(step_arena_.reset(stream_), "begin_step") || !ok(arena_.reset(stream_), "begin_step")) return;
    // A decode step (one row per sequence) is recorded and run as a graph
    // at its sync point; the uploads below and in the ops still go eagerly.
    // A decode step, padded to its bucket (decode_rows) or not: its
    // write_kv and attention descriptors are padded to the step's rows too
    // (no-op writes, attention rows for the padding rows), so that every
    // batch size of a bucket makes the same launches.
    const size_t rows = arrays.ids.size(), tables = arrays.block_tables.size();
    const bool decode_shape = tables > 0 && rows <= static_cast<size_t>(cuda_plan::kGraphMaxRows) &&
                              (rows == tables || rows == static_cast<size_t>(decode_rows(static_cast<int>(tables))));
    step_rows_ = decode_shape ? static_cast<int>(rows) : 0;
    if (graphs_enabled_ && decode_shape) graphs_.start_recording();
    const cuda_plan::PackedStepArrays packed = cuda_plan::pack_step_arrays(arrays);
    if (packed.data.empty()) return;
    const void* dev = nullptr;
    if (!ok(step_arena_.upload(packed.data.data(), packed.data.size() * sizeof(int32_t), stream_, &dev),
            "begin_step upload"))
      return;
    const auto* base = static_cast<const int32_t*>(dev);
    for (const auto& e : packed.entries) step_map_[e.host] = StepEntry{base + e.offset, e.count};
  }

  // ---- Ops ------------------------------------------------------------------------

  void copy_blocks(std::span<float* const> buffers, size_t block_floats, std::span<const BlockCopy> copies) override {
    activate();
    run_pending();
    if (buffers.empty() || copies.empty() || block_floats == 0) return;
    // One upload: the buffer pointers, then the (from, to) pairs.
    std::vector<unsigned char> bytes(buffers.size() * sizeof(float*) + copies.size() * 2 * sizeof(int32_t));
    std::memcpy(bytes.data(), buffers.data(), buffers.size() * sizeof(float*));
    int32_t* pairs = reinterpret_cast<int32_t*>(bytes.data() + buffers.size() * sizeof(float*));
    for (size_t i = 0; i < copies.size(); ++i) {
      pairs[2 * i] = copies[i].from;
      pairs[2 * i + 1] = copies[i].to;
    }
    const void* dev = nullptr;
    if (!ok(arena_.upload(bytes.data(), bytes.size(), stream_, &dev), "copy_blocks upload")) return;
    const auto* dev_buffers = static_cast<float* const*>(dev);
    const auto* dev_pairs = reinterpret_cast<const int32_t*>(static_cast<const char*>(dev) +
                                                             buffers.size() * sizeof(float*));
    enqueue("copy_blocks", cuda::launch_copy_blocks, dev_buffers, static_cast<int>(buffers.size()), dev_pairs,
            static_cast<int>(copies.size()), block_floats);
  }

  void matmul(const TensorView& w, const float* bias, const float* x, int n, float* y) override {
    activate();
    flush_kv();
    if (n <= 0) return;
    const DeviceMatrix* m = find_weight(w, "matmul");
    if (!m) return;
    if (cuda_plan::choose_matmul_path(m->type, n) == MatmulPath::gemv) {
      GemvBatch b;
      b.outs[0] = {m->data, m->scales, bias, y, m->out};
      b.count = 1;
      b.begin[1] = m->out;
      enqueue("matmul (gemv)", cuda::launch_gemv, b, m->type, x, n, m->in);
      return;
    }
    gemm(*m, bias, x, n, y);
  }

  void matmuls(std::span<const MatmulOut> outs, const float* x, int n) override {
    activate();
    flush_kv();
    if (outs.empty() || n <= 0) return;
    std::vector<const DeviceMatrix*> ms;
    for (const MatmulOut& o : outs) {
      const DeviceMatrix* m = find_weight(*o.w, "matmuls");
      if (!m) return;
      ms.push_back(m);
    }
    bool fuse = outs.size() <= static_cast<size_t>(cuda::kGemvMaxOuts) &&
                cuda_plan::choose_matmul_path(ms[0]->type, n) == MatmulPath::gemv;
    for (const DeviceMatrix* m : ms) fuse = fuse && m->type == ms[0]->type && m->in == ms[0]->in;
    if (!fuse) {
      for (size_t i = 0; i < outs.size(); ++i) {
        if (cuda_plan::choose_matmul_path(ms[i]->type, n) == MatmulPath::gemv)
          matmul(*outs[i].w, outs[i].bias, x, n, outs[i].y);
        else
          gemm(*ms[i], outs[i].bias, x, n, outs[i].y);
      }
      return;
    }
    GemvBatch b;
    b.count = static_cast<int>(outs.size());
    for (int i = 0; i < b.count; ++i) {
      b.outs[i] = {ms[i]->data, ms[i]->scales, outs[i].bias, outs[i].y, ms[i]->out};
      b.begin[i + 1] = b.begin[i] + ms[i]->out;
    }
    enqueue("matmuls (fused gemv)", cuda::launch_gemv, b, ms[0]->type, x, n, ms[0]->in);
  }

  void get_rows(const TensorView& w, const int32_t* ids, int n, float* y) override {
    activate();
    flush_kv();
    if (n <= 0) return;
    const DeviceMatrix* m = find_weight(w, "get_rows");
    if (!m) return;
    for (int i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= m->out)
        return record(Error{ErrorCode::invalid_argument, "cuda get_rows: id " + std::to_string(ids[i]) +
                                                             " outside the " + std::to_string(m->out) +
                                                             " rows of tensor " + m->name});
    const int32_t* dev_ids = device_ints(ids, static_cast<size_t>(n), "get_rows");
    if (!dev_ids) return;
    enqueue("get_rows", cuda::launch_get_rows, m->type, m->data, m->scales, m->in, dev_ids, n, y);
  }

  void rmsnorm(const float* x, const float* weight, int n, int width, float eps, float* y) override {
    activate();
    flush_kv();
    enqueue("rmsnorm", cuda::launch_rmsnorm, x, weight, n, width, eps, y);
  }

  void rope(float* x, int n, int n_heads, int head_dim, const int32_t* pos, float theta, bool neox) override {
    activate();
    flush_kv();
    if (n <= 0 || n_heads <= 0 || head_dim < 2) return;
    if (head_dim % 2 != 0)
      return record(Error{ErrorCode::invalid_argument, "cuda rope: head_dim " + std::to_string(head_dim) + " is odd"});
    const float* freqs = rope_freqs(theta, head_dim);
    const int32_t* dev_pos = device_ints(pos, static_cast<size_t>(n), "rope");
    if (!freqs || !dev_pos) return;
    enqueue("rope", cuda::launch_rope, x, n, n_heads, head_dim, dev_pos, freqs, neox);
  }

  void write_kv(const KvLayerView& kv, int pos0, int n, int kv_dim, const float* k, const float* v) override {
    activate();
    if (n <= 0 || kv_dim <= 0) return;
    if (auto s = check_kv(kv, pos0, pos0 + n, "write_kv"); !s) return record(s.error());
    const int32_t* table = device_ints(kv.block_table, static_cast<size_t>(kv.n_blocks), "write_kv");
    if (!table) return;
    KvWriteDesc d;
    d.k = k;
    d.v = v;
    d.k_dst = kv.k;
    d.v_dst = kv.v;
    d.table = table;
    d.block_stride = kv.block_stride;
    d.row_stride = kv.row_stride;
    d.block_size = kv.block_size;
    d.pos0 = pos0;
    d.n = n;
    d.kv_dim = kv_dim;
    d.kv_type = kernel_kv_type(kv.type);
    pending_kv_.push_back(d);
    pending_kv_max_ = std::max(pending_kv_max_, static_cast<int64_t>(n) * kv_dim);
  }

  void attention(const float* q, const AttentionShape& shape, std::span<const AttentionSeq> seqs,
                 float* out) override {
    activate();
    flush_kv();
    // Sequences of each KV type run as one launch.
    std::vector<const AttentionSeq*> by_type[3];
    for (const AttentionSeq& s : seqs)
      if (s.n_q > 0) by_type[kernel_kv_type(s.kv.type)].push_back(&s);
    for (const auto& group : by_type)
      if (!group.empty()) attention_group(q, shape, group, out);
  }

  void silu_mul(float* gate, const float* up, size_t n) override {
    activate();
    flush_kv();
    enqueue("silu_mul", cuda::launch_silu_mul, gate, up, n);
  }

  void softmax(float* x, int n, int width) override {
    activate();
    flush_kv();
    enqueue("softmax", cuda::launch_softmax, x, n, width);
  }

  void add(float* y, const float* x, size_t n) override {
    activate();
    flush_kv();
    enqueue("add", cuda::launch_add, y, x, n);
  }

  // Launches the queued write_kv calls (see the file comment).
  void flush_kv() {
    if (pending_kv_.empty()) return;
    std::vector<KvWriteDesc> descs = std::move(pending_kv_);
    pending_kv_.clear();
    // A decode step's one-row writes, padded with empty ones to its rows.
    const bool one_row_each =
        std::all_of(descs.begin(), descs.end(), [](const KvWriteDesc& d) { return d.n == 1; });
    if (one_row_each && descs.size() < static_cast<size_t>(step_rows_)) {
      KvWriteDesc none = descs[0];
      none.n = 0;
      descs.resize(static_cast<size_t>(step_rows_), none);
    }
    const int64_t max_elements = pending_kv_max_;
    pending_kv_max_ = 0;
    const void* dev = nullptr;
    if (!ok(arena_.upload(descs.data(), descs.size() * sizeof(KvWriteDesc), stream_, &dev), "write_kv upload")) return;
    enqueue("write_kv", cuda::launch_write_kv, static_cast<const KvWriteDesc*>(dev), static_cast<int>(descs.size()),
            max_elements);
  }

  // Runs everything queued or recorded so far, eagerly, and ends the
  // step's recording: what comes next (an eager copy, a free, a sync)
  // then sees every earlier op on the stream, in call order.
  void run_pending() {
    flush_kv();
    run_deferred(false);
  }

  void set_graphs(bool enabled) { graphs_enabled_ = enabled; }

  int decode_rows(int sequences) const override { return cuda_plan::decode_row_bucket(sequences); }

  CudaGraphStats graph_stats() const { return graphs_.stats(); }

 private:
  struct StepEntry {
    const int32_t* dev = nullptr;
    size_t count = 0;
  };
  struct DeviceBuffer {
    void* ptr = nullptr;
    size_t capacity = 0;
  };
  explicit CudaKernels(int device) : device_(device), hook_(std::make_shared<FreeHook>(FreeHook{this})) {}

  void activate() {
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != device_) cudaSetDevice(device_);
  }

  void record(Error e) {
    if (has_error_) return;
    first_error_ = std::move(e);
    has_error_ = true;
  }
  bool ok(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return true;
    if (graphs_.capturing()) return graphs_.capture_failed(), false;  // the step then runs eagerly
    record(Error{code_for(e), std::string("cuda ") + what + ": " + cuda_text(e)});
    return false;
  }
  bool ok_blas(cublasStatus_t s, const char* what) {
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    if (graphs_.capturing()) return graphs_.capture_failed(), false;
    record(Error{s == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::unsupported : ErrorCode::internal,
                 std::string("cuda ") + what + ": " + cublasGetStatusString(s)});
    return false;
  }

  std::shared_ptr<float[]> allocate(size_t n, bool zero) {
    activate();
    void* p = nullptr;
    const size_t bytes = std::max<size_t>(n, 1) * sizeof(float);
    if (cudaError_t e = cudaMalloc(&p, bytes); e != cudaSuccess) {
      cudaGetLastError();  // out of memory is not sticky: clear it
      if (e != cudaErrorMemoryAllocation) ok(e, "alloc");
      return nullptr;
    }
    if (zero && !ok(cudaMemsetAsync(p, 0, bytes, stream_), "alloc (zero fill)")) {
      cudaFree(p);
      return nullptr;
    }
    return std::shared_ptr<float[]>(static_cast<float*>(p), DeviceFree{device_, hook_});
  }

  // A device buffer of at least `bytes`, grown (after the queued ops that
  // may read the old one) when short; null with the error recorded.
  void* scratch(DeviceBuffer& b, size_t bytes, const char* what) {
    if (b.capacity >= bytes) return b.ptr;
    run_pending();  // recorded launches may read the old buffer
    if (!ok(cudaStreamSynchronize(stream_), what)) return nullptr;
    if (b.ptr) cudaFree(b.ptr);
    b.ptr = nullptr;
    b.capacity = 0;
    const size_t want = (bytes + (size_t{1} << 20) - 1) / (size_t{1} << 20) * (size_t{1} << 20);
    if (!ok(cudaMalloc(&b.ptr, want), what)) {
      cudaGetLastError();
      b.ptr = nullptr;
      return nullptr;
    }
    b.capacity = want;
    return b.ptr;
  }

  // ---- Launches and step graphs ---------------------------------------------------

  // Runs launcher fn(args..., stream_) now, or records it when the step is
  // deferred. False when it failed (the error is recorded); a recorded
  // launch reports at the sync point.
  template <class... P, class... A>
  bool enqueue(const char* what, cudaError_t (*fn)(P...), const A&... args) {
    if (!graphs_.recording()) return ok(fn(args..., stream_), what);
    graphs_.key_append(fn);
    (graphs_.key_append(args), ...);
    graphs_.record([this, what, fn, args...] { return ok(fn(args..., stream_), what); });
    return true;
  }

  // cublasGemmEx, float32 output and compute: C[rows x n] = op(A)ᵀ · B, as enqueue.
  bool enqueue_gemm(int rows, int n, int in, const void* a, cudaDataType at, const void* b, cudaDataType bt, float* c,
                    int ldc) {
    static const float kOne = 1.0f, kZero = 0.0f;  // host scalars that outlive any recorded call
    auto call = [this, rows, n, in, a, at, b, bt, c, ldc] {
      return ok_blas(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, in, &kOne, a, at, in, b, bt, in, &kZero,
                                  c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "matmul (cublasGemmEx)");
    };
    if (!graphs_.recording()) return call();
    static const char kGemmTag = 0;
    graphs_.key_append(&kGemmTag);
    for (int v : {rows, n, in, ldc}) graphs_.key_append(v);
    for (const void* p : {a, b, static_cast<const void*>(c)}) graphs_.key_append(p);
    for (cudaDataType t : {at, bt}) graphs_.key_append(static_cast<int>(t));
    graphs_.record(call);
    return true;
  }

  // The end of a step's recording (step_graphs.hpp): the recorded
  // launches run, as a graph when `as_graph` (a sync point) and this launch
  // sequence was seen before, else eagerly. Later ops of the step run eagerly.
  void run_deferred(bool as_graph) {
    graphs_.finish(stream_, as_graph, [this](cudaError_t e, const char* what) { return ok(e, what); });
  }

  const DeviceMatrix* find_weight(const TensorView& w, const char* op) {
    auto it = weights_.find(w.data);
    if (it != weights_.end() && it->second.type == w.type && w.shape.size() == 2 && it->second.in == w.shape[0] &&
        it->second.out == w.shape[1])
      return &it->second;
    record(Error{ErrorCode::invalid_argument, std::string("cuda ") + op + ": tensor " +
                                                  (w.name.empty() ? std::string("(unnamed)") : w.name) +
                                                  " was not uploaded (upload_weights) in this type and shape"});
    return nullptr;
  }

  // The device copy of a host int array: from begin_step, or uploaded now.
  const int32_t* device_ints(const int32_t* host, size_t count, const char* what) {
    if (auto it = step_map_.find(host); it != step_map_.end() && it->second.count >= count) return it->second.dev;
    const void* dev = nullptr;
    if (!ok(arena_.upload(host, count * sizeof(int32_t), stream_, &dev), what)) return nullptr;
    return static_cast<const int32_t*>(dev);
  }

  // theta^(-2j/head_dim) for j < head_dim/2, computed on the host exactly as
  // the reference does, kept per (theta, head_dim).
  const float* rope_freqs(float theta, int head_dim) {
    const auto key = std::make_pair(std::bit_cast<uint32_t>(theta), head_dim);
    if (auto it = rope_freqs_.find(key); it != rope_freqs_.end()) return it->second;
    const int half = head_dim / 2;
    std::vector<float> f(static_cast<size_t>(half));
    for (int j = 0; j < half; ++j)
      f[static_cast<size_t>(j)] = 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim));
    void* dev = nullptr;
    if (!ok(cudaMalloc(&dev, f.size() * sizeof(float)), "rope table")) return nullptr;
    if (!ok(cudaMemcpyAsync(dev, f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice, stream_), "rope table") ||
        !ok(cudaStreamSynchronize(stream_), "rope table")) {
      cudaFree(dev);
      return nullptr;
    }
    rope_freqs_[key] = static_cast<float*>(dev);
    return static_cast<float*>(dev);
  }

  static Status check_kv(const KvLayerView& kv, int pos0, int end, const char* op) {
    if (!kv.k || !kv.v || !kv.block_table || kv.block_size <= 0 || pos0 < 0)
      return Error{ErrorCode::invalid_argument, std::string("cuda ") + op +
                                                    ": KV view without storage, block table or block size"};
    if (static_cast<int64_t>(end) > static_cast<int64_t>(kv.n_blocks) * kv.block_size)
      return Error{ErrorCode::invalid_argument, std::string("cuda ") + op + ": positions up to " +
                                                    std::to_string(end - 1) + " need more than the " +
                                                    std::to_string(kv.n_blocks) + " blocks of " +
                                                    std::to_string(kv.block_size) + " in the block table"};
    return {};
  }

  void gemm(const DeviceMatrix& m, const float* bias, const float* x, int n, float* y) {
    const int in = static_cast<int>(m.in), out = static_cast<int>(m.out);
    // Column-major view: W is in x out (lda = in), x is in x n, y is out x n.
    auto gemm_ex = [&](int rows, const void* a, cudaDataType at, const void* b, cudaDataType bt, float* c) {
      return enqueue_gemm(rows, n, in, a, at, b, bt, c, out);
    };
    const size_t x_elems = static_cast<size_t>(n) * static_cast<size_t>(in);
    switch (m.type) {
      case TensorType::f32:
        if (!gemm_ex(out, m.data, CUDA_R_32F, x, CUDA_R_32F, y)) return;
        break;
      case TensorType::f16:
      case TensorType::bf16: {
        const bool bf = m.type == TensorType::bf16;
        auto* xc = static_cast<uint16_t*>(scratch(x_conv_, x_elems * 2, "matmul (x scratch)"));
        if (!xc || !enqueue("matmul (convert x)", cuda::launch_convert_f32, x, x_elems, bf, xc)) return;
        const cudaDataType t = bf ? CUDA_R_16BF : CUDA_R_16F;
        if (!gemm_ex(out, m.data, t, xc, t, y)) return;
        break;
      }
      case TensorType::q8_0:
      case TensorType::q4_0: {
        auto* xc = static_cast<uint16_t*>(scratch(x_conv_, x_elems * 2, "matmul (x scratch)"));
        if (!xc || !enqueue("matmul (convert x)", cuda::launch_convert_f32, x, x_elems, false, xc)) return;
        const int64_t tile = cuda_plan::dequant_tile_rows(m.in, m.out, kDequantTileElements);
        auto* wd = static_cast<uint16_t*>(
            scratch(w_deq_, static_cast<size_t>(tile) * static_cast<size_t>(m.in) * 2, "matmul (dequant scratch)"));
        if (!wd) return;
        for (int64_t r0 = 0; r0 < m.out; r0 += tile) {
          const int64_t rows = std::min(tile, m.out - r0);
          if (!enqueue("matmul (dequantise)", cuda::launch_dequant_f16, m.type, m.data, m.scales, m.in, r0, rows, wd))
            return;
          if (!gemm_ex(static_cast<int>(rows), wd, CUDA_R_16F, xc, CUDA_R_16F, y + r0)) return;
        }
        break;
      }
    }
    if (bias) enqueue("matmul (bias)", cuda::launch_bias_add, y, bias, n, m.out);
  }

  void attention_group(const float* q, const AttentionShape& shape, const std::vector<const AttentionSeq*>& seqs,
                       float* out) {
    int total_rows = 0, max_keys = 0;
    std::vector<AttnSeqDesc> sd;
    std::vector<AttnRowDesc> rd;
    const auto k_base = reinterpret_cast<uintptr_t>(seqs[0]->kv.k), v_base = reinterpret_cast<uintptr_t>(seqs[0]->kv.v);
    for (const AttentionSeq* s : seqs) {
      const int end = s->pos0 + s->n_q;
      if (auto st = check_kv(s->kv, s->pos0, end, "attention"); !st) return record(st.error());
      if (s->q_row < 0) return record(Error{ErrorCode::invalid_argument, "cuda attention: negative q_row"});
      const int32_t* table = device_ints(s->kv.block_table, static_cast<size_t>(s->kv.n_blocks), "attention");
      if (!table) return;
      AttnSeqDesc d;
      d.k_off = static_cast<int64_t>(reinterpret_cast<uintptr_t>(s->kv.k) - k_base);
      d.v_off = static_cast<int64_t>(reinterpret_cast<uintptr_t>(s->kv.v) - v_base);
      d.table = table;
      d.block_stride = s->kv.block_stride;
      d.row_stride = s->kv.row_stride;
      d.block_size = s->kv.block_size;
      d.n_blocks = s->kv.n_blocks;
      for (int i = 0; i < s->n_q; ++i)
        rd.push_back(AttnRowDesc{s->q_row + i, s->pos0 + i + 1, static_cast<int32_t>(sd.size()), 0});
      sd.push_back(d);
      total_rows += s->n_q;
      max_keys = std::max(max_keys, end);
    }
    // Planned for the bucket of max_keys, so that a decode step's launch
    // stays the same (and its graph replays) while contexts grow.
    // A padded decode step (one query row per sequence, rows [0, n)): the
    // padding rows [n, step_rows_) attend to sequence 0's first key, and the
    // sequence list is padded alike, so the launch and the upload sizes
    // are those of the bucket.
    const bool rows_from_zero = std::all_of(rd.begin(), rd.end(), [&](const AttnRowDesc& r) {
      return r.q_row < static_cast<int32_t>(rd.size());
    });
    if (rows_from_zero && rd.size() == sd.size() && rd.size() < static_cast<size_t>(step_rows_)) {
      for (int32_t r = static_cast<int32_t>(rd.size()); r < step_rows_; ++r) rd.push_back(AttnRowDesc{r, 1, 0, 0});
      sd.resize(static_cast<size_t>(step_rows_), sd[0]);
      total_rows = step_rows_;
    }
    auto plan = cuda_plan::plan_attention(total_rows, shape.n_heads, shape.n_kv_heads, shape.head_dim,
                                          cuda_plan::attention_key_bucket(max_keys), sm_count_);
    if (!plan.ok()) return record(plan.error().with_context("cuda"));
    // The descriptors are usually the same for every layer of a step: upload
    // once, rows first (so that the sequences' offset depends on the rows only).
    std::vector<unsigned char> bytes(rd.size() * sizeof(AttnRowDesc) + sd.size() * sizeof(AttnSeqDesc));
    std::memcpy(bytes.data(), rd.data(), rd.size() * sizeof(AttnRowDesc));
    std::memcpy(bytes.data() + rd.size() * sizeof(AttnRowDesc), sd.data(), sd.size() * sizeof(AttnSeqDesc));
    const void* dev = nullptr;
    if (attn_cache_gen_ == arena_.generation() && attn_cache_bytes_ == bytes) {
      dev = attn_cache_dev_;
    } else {
      if (!ok(arena_.upload(bytes.data(), bytes.size(), stream_, &dev), "attention upload")) return;
      attn_cache_bytes_ = std::move(bytes);
      attn_cache_dev_ = dev;
      attn_cache_gen_ = arena_.generation();
    }
    AttnParams p;
    p.q = q;
    p.out = out;
    p.k_base = reinterpret_cast<const char*>(seqs[0]->kv.k);
    p.v_base = reinterpret_cast<const char*>(seqs[0]->kv.v);
    p.rows = static_cast<const AttnRowDesc*>(dev);
    p.seqs = reinterpret_cast<const AttnSeqDesc*>(static_cast<const char*>(dev) + rd.size() * sizeof(AttnRowDesc));
    p.total_rows = total_rows;
    p.n_heads = shape.n_heads;
    p.head_dim = shape.head_dim;
    p.group = plan->group;
    p.heads_per_block = plan->heads_per_block;
    p.head_groups = plan->head_groups;
    p.splits = plan->splits;
    p.keys_per_split = plan->keys_per_split;
    p.grid_y = plan->grid_y;
    p.elems_per_lane = plan->elems_per_lane;
    p.kv_type = kernel_kv_type(seqs[0]->kv.type);
    p.scale = shape.scale;
    if (p.splits > 1) {
      const size_t floats = static_cast<size_t>(total_rows) * static_cast<size_t>(shape.n_heads) *
                            static_cast<size_t>(p.splits) * static_cast<size_t>(shape.head_dim + 2);
      p.partial = static_cast<float*>(scratch(attn_partial_, floats * sizeof(float), "attention (split scratch)"));
      if (!p.partial) return;
    }
    enqueue("attention", cuda::launch_attention, p);
  }

  int device_ = 0;
  int sm_count_ = 132;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* blas_workspace_ = nullptr;
  std::shared_ptr<FreeHook> hook_;
  bool has_error_ = false;
  Error first_error_;
  std::unordered_map<const void*, DeviceMatrix> weights_;
  std::unordered_map<const int32_t*, StepEntry> step_map_;
  UploadArena step_arena_, arena_;
  DeviceBuffer x_conv_, w_deq_, attn_partial_;
  std::map<std::pair<uint32_t, int>, float*> rope_freqs_;
  std::vector<KvWriteDesc> pending_kv_;
  int64_t pending_kv_max_ = 0;
  std::vector<unsigned char> attn_cache_bytes_;
  const void* attn_cache_dev_ = nullptr;
  uint64_t attn_cache_gen_ = ~uint64_t{0};
  // Step graphs (kernels_cuda.hpp).
  bool graphs_enabled_ = true;
  int step_rows_ = 0;  // rows of this step when it is a decode step, else 0
  cuda_host::StepGraphs graphs_;
};

void DeviceFree::operator()(float* p) const {
  // Queued write_kv calls and recorded launches may read this buffer: run them first.
  if (auto h = hook.lock(); h && h->owner) h->owner->run_pending();
  int previous = -1;
  const bool switch_device = cudaGetDevice(&previous) == cudaSuccess && previous != device;
  if (switch_device) cudaSetDevice(device);
  cudaFree(p);  // waits for the device's queued work
  if (switch_device) cudaSetDevice(previous);
}

}  // namespace

Result<std::unique_ptr<Kernels>> make_cuda_kernels(const CudaKernelOptions& options) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return Error{ErrorCode::unsupported, "no usable CUDA device or driver: cudaGetDeviceCount: " + cuda_text(e)};
  }
  if (count == 0) return Error{ErrorCode::unsupported, "no usable CUDA device or driver: no CUDA device found"};
  if (options.device < 0 || options.device >= count)
    return Error{ErrorCode::unsupported, "CUDA device " + std::to_string(options.device) + " requested, but " +
                                             std::to_string(count) + " device(s) found (valid: 0.." +
                                             std::to_string(count - 1) + ")"};
  return CudaKernels::create(options);
}

bool set_cuda_graphs(Kernels& kernels, bool enabled) {
  auto* k = dynamic_cast<CudaKernels*>(&kernels);
  if (k) k->set_graphs(enabled);
  return k != nullptr;
}

std::optional<CudaGraphStats> cuda_graph_stats(const Kernels& kernels) {
  if (const auto* k = dynamic_cast<const CudaKernels*>(&kernels)) return k->graph_stats();
  return std::nullopt;
}

}  // namespace troupe::engine::local
