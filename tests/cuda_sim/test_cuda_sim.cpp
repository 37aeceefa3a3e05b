// The CUDA simulator's own behaviour (tests/cuda_sim, docs/cuda.md):
// barriers and warp shuffles with their CUDA semantics, kernel faults
// (exited or missing lanes in a shuffle mask, deadlocks) that are sticky
// and named, stream capture and graph replay with CUDA's rules, copy
// direction checks, out-of-memory, and the reference cuBLAS GEMM.
#include <catch2/catch.hpp>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstring>
#include <vector>

#include "troupe_cuda_sim.hpp"

namespace sim = troupe::cuda_sim;

namespace {

// Clears faults and settings a test leaves behind.
struct Fresh {
  Fresh() {
    sim::clear_errors();
    sim::set_device_count(1);
    sim::set_memory_limit(size_t{16} << 30);
    sim::reset_counters();
  }
  ~Fresh() { sim::clear_errors(); sim::set_memory_limit(size_t{16} << 30); }
};

template <class T>
T* device_array(size_t n) {
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
  REQUIRE(cudaMemset(p, 0, n * sizeof(T)) == cudaSuccess);
  return static_cast<T*>(p);
}
template <class T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}

// Each thread writes its index to shared memory, waits, and reads its
// neighbour's; threads >= `exit_from` return first (they count as arrived).
__global__ void rotate_kernel(int* out, unsigned exit_from) {
  __shared__ int s[1024];
  const unsigned t = threadIdx.x;
  if (t >= exit_from) return;
  s[t] = static_cast<int>(t + 1000 * blockIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + t] = s[(t + 1) % exit_from];
  __syncthreads();
  s[t] = -1;
}

__global__ void shuffle_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  int sum = lane;
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const int bcast = __shfl_sync(0xffffffffu, lane * 10, 3);
  const int down = __shfl_down_sync(0xffffffffu, lane, 1);
  const int up = __shfl_up_sync(0xffffffffu, lane, 2);
  float f = static_cast<float>(lane) * 0.5f;
  f = __shfl_xor_sync(0xffffffffu, f, 1);
  int* o = out + threadIdx.x * 5;
  o[0] = sum;
  o[1] = bcast;
  o[2] = down;
  o[3] = up;
  o[4] = static_cast<int>(f * 2.0f);
}

// Lane 5 returns; the others shuffle with a full mask.
__global__ void exited_lane_kernel(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

// A full mask in a block whose last warp is partial.
__global__ void partial_warp_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

// Lane 0 waits in a shuffle with lane 1; lane 1 waits at __syncthreads,
// which needs lane 0: no thread can go on.
__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x == 0) out[0] = __shfl_xor_sync(0x3u, 1, 1);
  else if (threadIdx.x == 1) __syncthreads();
}

// Reads the neighbour's shared value without a barrier (a bug): only the
// in-order schedule happens to have thread t - 1 write before thread t reads.
// (`base` differs per launch: shared memory keeps the last launch's values.)
__global__ void missing_barrier_kernel(int* out, int base) {
  __shared__ int s[64];
  const unsigned t = threadIdx.x;
  s[t] = base + static_cast<int>(t);
  out[t] = t == 0 ? base : s[t - 1] + 1;
}

__global__ void scale_kernel(float* x, int n, float s) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += static_cast<int>(gridDim.x * blockDim.x))
    x[i] *= s;
}

struct Params {
  float add;
  int n;
};
__global__ void add_params_kernel(float* x, const Params p) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < p.n) x[i] += p.add;
}

}  // namespace

TEST_CASE("cuda_sim: __syncthreads orders shared memory, and returned threads count as arrived", "[cuda_sim]") {
  Fresh fresh;
  for (unsigned exit_from : {256u, 200u, 1u}) {
    INFO("threads from " << exit_from << " return before the barrier");
    int* d = device_array<int>(3 * 256);
    sim::launch("rotate_kernel", 3, 256, nullptr, rotate_kernel)(d, exit_from);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const auto h = to_host(d, 3 * 256);
    for (unsigned b = 0; b < 3; ++b)
      for (unsigned t = 0; t < exit_from; ++t)
        REQUIRE(h[b * 256 + t] == static_cast<int>((t + 1) % exit_from + 1000 * b));
    cudaFree(d);
  }
}

TEST_CASE("cuda_sim: warp shuffles exchange values as CUDA defines them", "[cuda_sim]") {
  Fresh fresh;
  int* d = device_array<int>(64 * 5);
  sim::launch("shuffle_kernel", 1, 64, nullptr, shuffle_kernel)(d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  const auto h = to_host(d, 64 * 5);
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32;
    INFO("thread " << t);
    CHECK(h[t * 5 + 0] == 31 * 32 / 2);
    CHECK(h[t * 5 + 1] == 30);
    CHECK(h[t * 5 + 2] == (lane == 31 ? 31 : lane + 1));   // past the warp: its own value
    CHECK(h[t * 5 + 3] == (lane < 2 ? lane : lane - 2));
    CHECK(h[t * 5 + 4] == (lane ^ 1));
  }
  CHECK(sim::counters().kernels_eager == 1);
  cudaFree(d);
}

TEST_CASE("cuda_sim: a shuffle naming an exited lane is a sticky kernel fault that names the kernel", "[cuda_sim]") {
  Fresh fresh;
  int* d = device_array<int>(32);
  sim::launch("exited_lane_kernel", 1, 32, nullptr, exited_lane_kernel)(d);
  CHECK(cudaGetLastError() == cudaErrorIllegalInstruction);
  CHECK(cudaGetLastError() == cudaErrorIllegalInstruction);  // sticky
  cudaStream_t s = nullptr;
  CHECK(cudaStreamQuery(s) == cudaErrorIllegalInstruction);
  CHECK(cudaDeviceSynchronize() == cudaErrorIllegalInstruction);
  const std::string why = sim::last_fault();
  CHECK(why.find("exited_lane_kernel") != std::string::npos);
  CHECK(why.find("lane 5") != std::string::npos);
  // Later launches do not run.
  sim::reset_counters();
  sim::launch("shuffle_kernel", 1, 32, nullptr, shuffle_kernel)(d);
  CHECK(sim::counters().kernels_eager == 0);
  sim::clear_errors();
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cudaFree(d) == cudaSuccess);
}

TEST_CASE("cuda_sim: a full shuffle mask in a partial warp is a fault", "[cuda_sim]") {
  Fresh fresh;
  float* d = device_array<float>(48);
  sim::launch("partial_warp_kernel", 1, 48, nullptr, partial_warp_kernel)(d);
  CHECK(cudaGetLastError() == cudaErrorIllegalInstruction);
  CHECK(sim::last_fault().find("past the block's last thread") != std::string::npos);
  sim::clear_errors();
  cudaFree(d);
}

TEST_CASE("cuda_sim: a block where no thread can go on is a deadlock fault", "[cuda_sim]") {
  Fresh fresh;
  int* d = device_array<int>(1);
  sim::launch("deadlock_kernel", 1, 64, nullptr, deadlock_kernel)(d);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(sim::last_fault().find("deadlock") != std::string::npos);
  CHECK(sim::last_fault().find("deadlock_kernel") != std::string::npos);
  sim::clear_errors();
  // The simulator is usable again (the abandoned fibers' stacks are reused).
  int* e = device_array<int>(64 * 5);
  sim::launch("shuffle_kernel", 1, 64, nullptr, shuffle_kernel)(e);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(to_host(e, 5)[0] == 31 * 32 / 2);
  cudaFree(d);
  cudaFree(e);
}

TEST_CASE("cuda_sim: an invalid launch shape is a non-sticky error", "[cuda_sim]") {
  Fresh fresh;
  float* d = device_array<float>(4);
  sim::launch("scale_kernel", 1, 2048, nullptr, scale_kernel)(d, 4, 2.0f);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);
  sim::launch("scale_kernel", dim3(1, 70000), 32, nullptr, scale_kernel)(d, 4, 2.0f);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  cudaFree(d);
}

TEST_CASE("cuda_sim: stream capture records launches and copies, graph launches replay them", "[cuda_sim]") {
  Fresh fresh;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  const int n = 8;
  float* x = device_array<float>(n);
  float* src = device_array<float>(n);
  std::vector<float> ones(n, 1.0f);
  REQUIRE(cudaMemcpy(src, ones.data(), n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  Params p{10.0f, n};
  sim::reset_counters();
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  REQUIRE(cudaStreamIsCapturing(s, &status) == cudaSuccess);
  CHECK(status == cudaStreamCaptureStatusActive);
  REQUIRE(cudaMemcpyAsync(x, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s) == cudaSuccess);
  sim::launch("add_params_kernel", 1, 32, s, add_params_kernel)(x, p);
  sim::launch("scale_kernel", 1, 32, s, scale_kernel)(x, n, 3.0f);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  p.add = 1000.0f;  // arguments were copied when the launch was recorded
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  REQUIRE(graph);
  CHECK(sim::counters().kernels_eager == 0);
  CHECK(sim::counters().memcpys == 0);
  CHECK(to_host(x, n)[0] == 0.0f);  // nothing ran yet
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  CHECK(to_host(x, n)[n - 1] == (1.0f + 10.0f) * 3.0f);
  // The copy reads its source when the graph runs.
  std::vector<float> twos(n, 2.0f);
  REQUIRE(cudaMemcpy(src, twos.data(), n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(to_host(x, n)[0] == (2.0f + 10.0f) * 3.0f);
  const auto c = sim::counters();
  CHECK(c.graph_launches == 2);
  CHECK(c.kernels_in_graphs == 4);
  CHECK(c.kernels_eager == 0);
  CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
  CHECK(cudaGraphDestroy(graph) == cudaSuccess);
  cudaFree(x);
  cudaFree(src);
  cudaStreamDestroy(s);
}

TEST_CASE("cuda_sim: calls CUDA forbids during capture fail and invalidate it", "[cuda_sim]") {
  Fresh fresh;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  float* x = device_array<float>(4);
  cudaGraph_t graph = nullptr;
  SECTION("synchronising the capturing stream") {
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    sim::launch("scale_kernel", 1, 32, s, scale_kernel)(x, 4, 2.0f);
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported);
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    REQUIRE(cudaStreamIsCapturing(s, &status) == cudaSuccess);
    CHECK(status == cudaStreamCaptureStatusInvalidated);
    sim::launch("scale_kernel", 1, 32, s, scale_kernel)(x, 4, 2.0f);
    CHECK(cudaGetLastError() == cudaErrorStreamCaptureInvalidated);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    CHECK(graph == nullptr);
  }
  SECTION("cudaMalloc in global mode; allowed in relaxed mode") {
    void* p = nullptr;
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    CHECK(cudaMalloc(&p, 16) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    CHECK(cudaMalloc(&p, 16) == cudaSuccess);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaSuccess);
    CHECK(graph != nullptr);
    cudaGraphDestroy(graph);
    cudaFree(p);
  }
  SECTION("a synchronous copy, and waiting on an event recorded in the capture") {
    float h[4] = {};
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CHECK(cudaMemcpy(h, x, sizeof h, cudaMemcpyDeviceToHost) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    cudaEvent_t ev = nullptr;
    REQUIRE(cudaEventCreate(&ev) == cudaSuccess);
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    REQUIRE(cudaEventRecord(ev, s) == cudaSuccess);
    CHECK(cudaEventSynchronize(ev) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);
    cudaEventDestroy(ev);
  }
  cudaGetLastError();
  cudaFree(x);
  cudaStreamDestroy(s);
}

TEST_CASE("cuda_sim: copies are checked against their direction and the allocations", "[cuda_sim]") {
  Fresh fresh;
  float* d = device_array<float>(16);
  std::vector<float> h(16, 1.0f);
  CHECK(cudaMemcpy(h.data(), h.data() + 8, 8 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(d, h.data(), 16 * sizeof(float), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(h.data(), d, 16 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(d, h.data(), 17 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // past the end
  CHECK(cudaMemcpy(d + 8, d, 8 * sizeof(float), cudaMemcpyDeviceToDevice) == cudaSuccess);
  CHECK(cudaMemcpy(d, h.data(), 16 * sizeof(float), cudaMemcpyDefault) == cudaSuccess);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);  // the last failure, once: not sticky
  CHECK(cudaGetLastError() == cudaSuccess);
  int not_device = 0;
  CHECK(cudaFree(&not_device) == cudaErrorInvalidValue);
  CHECK(cudaFree(d + 1) == cudaErrorInvalidValue);
  CHECK(sim::counters().live_allocations == 1);
  CHECK(cudaFree(d) == cudaSuccess);
  CHECK(cudaFree(d) == cudaErrorInvalidValue);  // twice
  CHECK(sim::counters().live_allocations == 0);
  void* pinned = nullptr;
  REQUIRE(cudaHostAlloc(&pinned, 64, cudaHostAllocDefault) == cudaSuccess);
  CHECK(cudaFree(pinned) == cudaErrorInvalidValue);
  CHECK(cudaFreeHost(pinned) == cudaSuccess);
  cudaGetLastError();
}

TEST_CASE("cuda_sim: a memory limit makes cudaMalloc run out of memory", "[cuda_sim]") {
  Fresh fresh;
  sim::set_memory_limit(size_t{1} << 20);
  size_t free_b = 0, total = 0;
  REQUIRE(cudaMemGetInfo(&free_b, &total) == cudaSuccess);
  CHECK(total == size_t{1} << 20);
  void* a = nullptr;
  void* b = nullptr;
  REQUIRE(cudaMalloc(&a, 768 << 10) == cudaSuccess);
  REQUIRE(cudaMemGetInfo(&free_b, &total) == cudaSuccess);
  CHECK(free_b == 256 << 10);
  CHECK(cudaMalloc(&b, 512 << 10) == cudaErrorMemoryAllocation);
  CHECK(b == nullptr);
  CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
  CHECK(cudaGetLastError() == cudaSuccess);  // not sticky
  CHECK(cudaFree(a) == cudaSuccess);
  CHECK(cudaMalloc(&b, 512 << 10) == cudaSuccess);
  cudaFree(b);
}

TEST_CASE("cuda_sim: device count 0 looks like a machine without a GPU", "[cuda_sim]") {
  Fresh fresh;
  sim::ScopedDeviceCount none(0);
  int n = 5;
  CHECK(cudaGetDeviceCount(&n) == cudaErrorNoDevice);
  CHECK(n == 0);
  void* p = nullptr;
  CHECK(cudaMalloc(&p, 4) == cudaErrorNoDevice);
  cublasHandle_t h = nullptr;
  CHECK(cublasCreate(&h) == CUBLAS_STATUS_NOT_INITIALIZED);
  cudaGetLastError();
}

TEST_CASE("cuda_sim: cublasGemmEx computes the column-major product for N/T and 16-bit inputs", "[cuda_sim]") {
  Fresh fresh;
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  const int m = 3, n = 2, k = 4;
  // A^T stored k x m (lda = k), B stored k x n (ldb = k): C = A B, m x n.
  std::vector<float> at(k * m), b(k * n);
  for (int i = 0; i < k * m; ++i) at[i] = static_cast<float>(i % 5) - 2.0f;
  for (int i = 0; i < k * n; ++i) b[i] = static_cast<float>(i % 3) + 0.5f;
  std::vector<float> want(m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float s = 0;
      for (int p = 0; p < k; ++p) s += at[i * k + p] * b[j * k + p];
      want[j * m + i] = s;
    }
  float* da = device_array<float>(at.size());
  float* db = device_array<float>(b.size());
  float* dc = device_array<float>(m * n);
  cudaMemcpy(da, at.data(), at.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice);
  const float alpha = 1.0f, beta = 0.0f;
  REQUIRE(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, da, CUDA_R_32F, k, db, CUDA_R_32F, k, &beta, dc,
                       CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(to_host(dc, m * n) == want);
  // The same values as f16 (exact in f16) give the same product.
  std::vector<uint16_t> at16(at.size()), b16(b.size());
  for (size_t i = 0; i < at.size(); ++i) at16[i] = __half_as_ushort(__float2half_rn(at[i]));
  for (size_t i = 0; i < b.size(); ++i) b16[i] = __half_as_ushort(__float2half_rn(b[i]));
  uint16_t* da16 = device_array<uint16_t>(at16.size());
  uint16_t* db16 = device_array<uint16_t>(b16.size());
  cudaMemcpy(da16, at16.data(), at16.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(db16, b16.data(), b16.size() * 2, cudaMemcpyHostToDevice);
  REQUIRE(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, da16, CUDA_R_16F, k, db16, CUDA_R_16F, k, &beta,
                       dc, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(to_host(dc, m * n) == want);
  // Unsupported combinations and host matrices are errors.
  CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, da, CUDA_R_32F, k, db, CUDA_R_32F, k, &beta, dc,
                     CUDA_R_32F, m, CUBLAS_COMPUTE_16F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, at.data(), CUDA_R_32F, k, db, CUDA_R_32F, k, &beta,
                     dc, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k + 1, &alpha, da, CUDA_R_32F, k + 1, db, CUDA_R_32F, k + 1,
                     &beta, dc, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
  for (void* p : {static_cast<void*>(da), static_cast<void*>(db), static_cast<void*>(dc), static_cast<void*>(da16),
                  static_cast<void*>(db16)})
    cudaFree(p);
  CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("cuda_sim: reverse and shuffled schedules expose a missing __syncthreads", "[cuda_sim]") {
  Fresh fresh;
  int* d = device_array<int>(64);
  int base = 0;
  auto run = [&](sim::Schedule mode) {
    sim::set_schedule(mode, 7);
    base += 1000;
    sim::launch("missing_barrier_kernel", 1, 64, nullptr, missing_barrier_kernel)(d, base);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const auto h = to_host(d, 64);
    bool right = true;
    for (int t = 0; t < 64; ++t) right = right && h[t] == base + t;
    return right;
  };
  const sim::Schedule before = sim::schedule();
  CHECK(run(sim::Schedule::in_order));  // the bug hides
  CHECK_FALSE(run(sim::Schedule::reverse));
  CHECK_FALSE(run(sim::Schedule::shuffled));
  sim::set_schedule(before);
  // A correct kernel gives the same result in every order.
  for (sim::Schedule mode : {sim::Schedule::reverse, sim::Schedule::shuffled}) {
    sim::set_schedule(mode, 3);
    int* e = device_array<int>(3 * 256);
    sim::launch("rotate_kernel", 3, 256, nullptr, rotate_kernel)(e, 200u);
    const auto h = to_host(e, 3 * 256);
    CHECK(h[2 * 256 + 199] == 2000);
    CHECK(h[17] == 18);
    cudaFree(e);
  }
  sim::set_schedule(before);
  cudaFree(d);
}
