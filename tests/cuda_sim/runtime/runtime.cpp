// The simulator's host runtime: errors, devices, memory (a registry of
// separate host allocations), streams (each op runs at enqueue), events,
// stream capture into graphs and their replay, and the sim-only controls
// of troupe_cuda_sim.hpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "sim_internal.hpp"
#include "troupe_cuda_sim.hpp"

// ---- Handles -----------------------------------------------------------------------

struct CUstream_st {
  unsigned flags = 0;
  bool capturing = false;
  bool invalidated = false;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id capture_thread;
  std::vector<troupe::cuda_sim::detail::Node> nodes;
};
struct CUevent_st {
  bool recorded = false;
  cudaStream_t captured_in = nullptr;  // recorded while that stream captured
  std::chrono::steady_clock::time_point when;
};
struct CUgraph_st {
  std::vector<troupe::cuda_sim::detail::Node> nodes;
};
struct CUgraphExec_st {
  std::vector<troupe::cuda_sim::detail::Node> nodes;
};

namespace troupe::cuda_sim {
namespace detail {
namespace {

struct Allocation {
  size_t size = 0;
  bool device = true;  // false: cudaHostAlloc (pinned host memory)
};

struct Global {
  std::mutex mu;
  std::map<uintptr_t, Allocation> allocations;  // by start address
  std::set<cudaStream_t> streams;
  std::set<cudaEvent_t> events;
  size_t device_bytes = 0;
  std::atomic<int> device_count{1};
  std::atomic<int> sm_count{132};
  std::atomic<size_t> memory_limit{size_t{16} << 30};
  std::atomic<int> sticky{cudaSuccess};
  std::string last_fault;
  std::atomic<uint64_t> kernels_eager{0}, graph_launches{0}, kernels_in_graphs{0}, memcpys{0}, bytes_copied{0};
  std::atomic<uint64_t> live_allocations{0};
  std::atomic<int> global_captures{0};  // streams capturing in a mode other than relaxed
};
Global& g() {
  static Global* g = new Global;  // never destroyed: usable from static destructors
  return *g;
}

thread_local cudaError_t t_last = cudaSuccess;
thread_local int t_device = 0;
thread_local bool t_replaying = false;
thread_local int t_local_captures = 0;  // this thread's non-relaxed captures

// The allocation holding p, or null. Caller holds g().mu.
const std::pair<const uintptr_t, Allocation>* find_locked(const void* p) {
  auto& m = g().allocations;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return nullptr;
  --it;
  if (a < it->first || a >= it->first + std::max<size_t>(it->second.size, 1)) return nullptr;
  return &*it;
}

bool no_device() { return g().device_count.load() <= 0; }

void message(const std::string& m) { std::fprintf(stderr, "troupe cuda_sim: %s\n", m.c_str()); }

// Invalidates every capture an unsafe call interferes with: this thread's
// non-relaxed ones and, for global mode, every other thread's.
void invalidate_captures() {
  std::lock_guard<std::mutex> lock(g().mu);
  for (cudaStream_t s : g().streams)
    if (s->capturing && s->mode != cudaStreamCaptureModeRelaxed &&
        (s->mode == cudaStreamCaptureModeGlobal || s->capture_thread == std::this_thread::get_id()))
      s->invalidated = true;
}

// Whether a call CUDA calls "potentially unsafe" during capture (cudaMalloc,
// cudaFree, ...) is prohibited now; if so it invalidates the captures.
bool unsafe_during_capture(const char* what) {
  if (t_local_captures == 0 && g().global_captures.load() == 0) return false;
  bool prohibited = t_local_captures > 0;
  if (!prohibited) {
    std::lock_guard<std::mutex> lock(g().mu);
    for (cudaStream_t s : g().streams)
      if (s->capturing && s->mode == cudaStreamCaptureModeGlobal) prohibited = true;
  }
  if (!prohibited) return false;
  message(std::string(what) + " while a stream is being captured (global or thread-local mode): "
          "cudaErrorStreamCaptureUnsupported, the capture is invalidated");
  invalidate_captures();
  return true;
}

// Sync calls that wait for all device work (cudaMemcpy, cudaMemset,
// cudaDeviceSynchronize) are prohibited while any capture is active.
bool any_capture_active() {
  std::lock_guard<std::mutex> lock(g().mu);
  for (cudaStream_t s : g().streams)
    if (s->capturing) return true;
  return false;
}
bool sync_during_capture(const char* what) {
  if (!any_capture_active()) return false;
  message(std::string(what) + " waits for the device while a stream is being captured: "
          "cudaErrorStreamCaptureUnsupported, the capture is invalidated");
  std::lock_guard<std::mutex> lock(g().mu);
  for (cudaStream_t s : g().streams)
    if (s->capturing) s->invalidated = true;
  return true;
}

bool known_stream(cudaStream_t s) {
  if (!s) return true;
  std::lock_guard<std::mutex> lock(g().mu);
  return g().streams.count(s) > 0;
}

const char* direction_name(cudaMemcpyKind k) {
  switch (k) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    case cudaMemcpyDefault: return "cudaMemcpyDefault";
  }
  return "an unknown direction";
}

std::string ptr_text(const void* p) {
  char b[32];
  std::snprintf(b, sizeof b, "%p", p);
  return b;
}

// Checks a copy of n bytes against its direction: device ends must lie
// inside one device allocation, host ends outside every one.
cudaError_t check_copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, const char* what) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) {
    message(std::string(what) + ": null pointer");
    return cudaErrorInvalidValue;
  }
  const bool dst_dev = is_device_pointer(dst), src_dev = is_device_pointer(src);
  bool want_dst = dst_dev, want_src = src_dev;
  switch (kind) {
    case cudaMemcpyHostToHost: want_dst = want_src = false; break;
    case cudaMemcpyHostToDevice: want_dst = true, want_src = false; break;
    case cudaMemcpyDeviceToHost: want_dst = false, want_src = true; break;
    case cudaMemcpyDeviceToDevice: want_dst = want_src = true; break;
    case cudaMemcpyDefault: break;
    default:
      message(std::string(what) + ": unknown copy direction");
      return cudaErrorInvalidMemcpyDirection;
  }
  if (dst_dev != want_dst || src_dev != want_src) {
    message(std::string(what) + " " + direction_name(kind) + " of " + std::to_string(n) + " bytes: destination " +
            ptr_text(dst) + " is " + (dst_dev ? "device" : "host") + " memory, source " + ptr_text(src) + " is " +
            (src_dev ? "device" : "host") + " memory");
    return cudaErrorInvalidValue;
  }
  if ((dst_dev && !device_range(dst, n)) || (src_dev && !device_range(src, n))) {
    message(std::string(what) + " of " + std::to_string(n) + " bytes runs past the end of a device allocation");
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t fail(cudaError_t e) {
  if (e != cudaSuccess) t_last = e;
  return e;
}
cudaError_t sticky() { return static_cast<cudaError_t>(g().sticky.load()); }
void set_fault(cudaError_t e, const std::string& m) {
  int expected = cudaSuccess;
  g().sticky.compare_exchange_strong(expected, e);
  {
    std::lock_guard<std::mutex> lock(g().mu);
    g().last_fault = m;
  }
  std::fprintf(stderr, "troupe cuda_sim: kernel fault (%s): %s\n", cudaGetErrorName(e), m.c_str());
  t_last = e;
}

bool is_device_pointer(const void* p) {
  std::lock_guard<std::mutex> lock(g().mu);
  const auto* a = find_locked(p);
  return a && a->second.device;
}
bool device_range(const void* p, size_t n) {
  std::lock_guard<std::mutex> lock(g().mu);
  const auto* a = find_locked(p);
  if (!a || !a->second.device) return false;
  return reinterpret_cast<uintptr_t>(p) - a->first + n <= a->second.size;
}

void count_copy(size_t bytes) {
  ++g().memcpys;
  g().bytes_copied += bytes;
}

cudaError_t enqueue(cudaStream_t stream, Node node) {
  if (cudaError_t s = sticky(); s != cudaSuccess) return fail(s);
  if (no_device()) return fail(cudaErrorNoDevice);
  if (!known_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (stream) {
    std::unique_lock<std::mutex> lock(g().mu);
    if (stream->capturing) {
      if (stream->invalidated) return fail(cudaErrorStreamCaptureInvalidated);
      stream->nodes.push_back(std::move(node));
      return cudaSuccess;
    }
  } else if (any_capture_active() && (t_local_captures > 0 || g().global_captures.load() > 0)) {
    // The legacy stream synchronises with every blocking stream: not
    // allowed while one captures.
    message(node.name + " on the legacy default stream while a stream is being captured: "
            "cudaErrorStreamCaptureImplicit, the capture is invalidated");
    invalidate_captures();
    return fail(cudaErrorStreamCaptureImplicit);
  }
  if (node.kind == Node::Kind::kernel) ++(t_replaying ? g().kernels_in_graphs : g().kernels_eager);
  return fail(node.run());
}

void submit_kernel(const LaunchSpec& spec, std::function<void()> body) {
  if (cudaError_t s = sticky(); s != cudaSuccess) {
    fail(s);
    return;
  }
  const uint64_t threads = uint64_t{spec.block.x} * spec.block.y * spec.block.z;
  if (threads == 0 || threads > 1024 || spec.block.x > 1024 || spec.block.y > 1024 || spec.block.z > 64 ||
      spec.grid.x == 0 || spec.grid.y == 0 || spec.grid.z == 0 || spec.grid.x > 0x7fffffffu || spec.grid.y > 65535 ||
      spec.grid.z > 65535) {
    message(std::string("kernel ") + spec.name + ": invalid launch configuration grid (" + std::to_string(spec.grid.x) +
            "," + std::to_string(spec.grid.y) + "," + std::to_string(spec.grid.z) + ") block (" +
            std::to_string(spec.block.x) + "," + std::to_string(spec.block.y) + "," + std::to_string(spec.block.z) +
            ")");
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  Node node;
  node.kind = Node::Kind::kernel;
  node.name = std::string("kernel ") + spec.name;
  node.run = [spec, body = std::move(body)] { return run_kernel(spec, body); };
  enqueue(spec.stream, std::move(node));
}

}  // namespace detail

// ---- Sim-only controls ---------------------------------------------------------------

void set_device_count(int n) { detail::g().device_count = n; }
int device_count() { return detail::g().device_count.load(); }
void set_sm_count(int n) { detail::g().sm_count = n; }
void set_memory_limit(size_t bytes) { detail::g().memory_limit = bytes; }
size_t memory_limit() { return detail::g().memory_limit.load(); }
Counters counters() {
  auto& s = detail::g();
  Counters c;
  c.kernels_eager = s.kernels_eager;
  c.graph_launches = s.graph_launches;
  c.kernels_in_graphs = s.kernels_in_graphs;
  c.memcpys = s.memcpys;
  c.bytes_copied = s.bytes_copied;
  c.live_allocations = s.live_allocations;
  return c;
}
void reset_counters() {
  auto& s = detail::g();
  s.kernels_eager = 0;
  s.graph_launches = 0;
  s.kernels_in_graphs = 0;
  s.memcpys = 0;
  s.bytes_copied = 0;
}
void clear_errors() {
  detail::g().sticky = cudaSuccess;
  detail::t_last = cudaSuccess;
}
std::string last_fault() {
  std::lock_guard<std::mutex> lock(detail::g().mu);
  return detail::g().last_fault;
}

}  // namespace troupe::cuda_sim

using namespace troupe::cuda_sim::detail;
using troupe::cuda_sim::detail::g;

// ---- Errors ---------------------------------------------------------------------------

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define TROUPE_SIM_NAME(x) \
  case x: return #x;
    TROUPE_SIM_NAME(cudaSuccess)
    TROUPE_SIM_NAME(cudaErrorInvalidValue)
    TROUPE_SIM_NAME(cudaErrorMemoryAllocation)
    TROUPE_SIM_NAME(cudaErrorInitializationError)
    TROUPE_SIM_NAME(cudaErrorInvalidConfiguration)
    TROUPE_SIM_NAME(cudaErrorInvalidDevicePointer)
    TROUPE_SIM_NAME(cudaErrorInvalidMemcpyDirection)
    TROUPE_SIM_NAME(cudaErrorNoDevice)
    TROUPE_SIM_NAME(cudaErrorInvalidDevice)
    TROUPE_SIM_NAME(cudaErrorInvalidResourceHandle)
    TROUPE_SIM_NAME(cudaErrorIllegalState)
    TROUPE_SIM_NAME(cudaErrorNotReady)
    TROUPE_SIM_NAME(cudaErrorIllegalAddress)
    TROUPE_SIM_NAME(cudaErrorLaunchTimeout)
    TROUPE_SIM_NAME(cudaErrorIllegalInstruction)
    TROUPE_SIM_NAME(cudaErrorLaunchFailure)
    TROUPE_SIM_NAME(cudaErrorNotPermitted)
    TROUPE_SIM_NAME(cudaErrorNotSupported)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureUnsupported)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureInvalidated)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureMerge)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureUnmatched)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureUnjoined)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureIsolation)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureImplicit)
    TROUPE_SIM_NAME(cudaErrorStreamCaptureWrongThread)
    TROUPE_SIM_NAME(cudaErrorUnknown)
#undef TROUPE_SIM_NAME
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorIllegalInstruction: return "an illegal instruction was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    default: return cudaGetErrorName(e);
  }
}

cudaError_t cudaGetLastError() {
  if (cudaError_t s = sticky(); s != cudaSuccess) return s;
  const cudaError_t e = t_last;
  t_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  if (cudaError_t s = sticky(); s != cudaSuccess) return s;
  return t_last;
}

// ---- Devices ----------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  const int n = g().device_count.load();
  *count = n > 0 ? n : 0;
  return n > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int device) {
  if (no_device()) return fail(cudaErrorNoDevice);
  if (device < 0 || device >= g().device_count.load()) return fail(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  if (no_device()) return fail(cudaErrorNoDevice);
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue);
  if (no_device()) return fail(cudaErrorNoDevice);
  if (device < 0 || device >= g().device_count.load()) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "troupe cuda_sim (CPU)");
  prop->totalGlobalMem = g().memory_limit.load();
  prop->sharedMemPerBlock = 48 << 10;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = g().sm_count.load();
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue);
  if (no_device()) return fail(cudaErrorNoDevice);
  if (device < 0 || device >= g().device_count.load()) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = g().sm_count.load(); return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}
cudaError_t cudaDeviceSynchronize() {
  if (sync_during_capture("cudaDeviceSynchronize")) return fail(cudaErrorStreamCaptureUnsupported);
  if (cudaError_t s = sticky(); s != cudaSuccess) return fail(s);
  return no_device() ? fail(cudaErrorNoDevice) : cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  if (!free_bytes || !total) return fail(cudaErrorInvalidValue);
  if (no_device()) return fail(cudaErrorNoDevice);
  std::lock_guard<std::mutex> lock(g().mu);
  *total = g().memory_limit.load();
  *free_bytes = *total > g().device_bytes ? *total - g().device_bytes : 0;
  return cudaSuccess;
}

// ---- Memory -------------------------------------------------------------------------------

namespace {
cudaError_t allocate(void** p, size_t size, bool device, const char* what) {
  if (!p) return fail(cudaErrorInvalidValue);
  *p = nullptr;
  if (cudaError_t s = sticky(); s != cudaSuccess) return fail(s);
  if (no_device()) return fail(cudaErrorNoDevice);
  if (unsafe_during_capture(what)) return fail(cudaErrorStreamCaptureUnsupported);
  if (size == 0) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g().mu);
  if (device && (size > g().memory_limit.load() || g().device_bytes > g().memory_limit.load() - size))
    return fail(cudaErrorMemoryAllocation);
  void* mem = nullptr;
  if (posix_memalign(&mem, 256, size) != 0 || !mem) return fail(cudaErrorMemoryAllocation);
  g().allocations[reinterpret_cast<uintptr_t>(mem)] = Allocation{size, device};
  if (device) {
    g().device_bytes += size;
    ++g().live_allocations;
  }
  *p = mem;
  return cudaSuccess;
}
cudaError_t release(void* p, bool device, const char* what) {
  if (!p) return cudaSuccess;
  if (unsafe_during_capture(what)) return fail(cudaErrorStreamCaptureUnsupported);
  std::lock_guard<std::mutex> lock(g().mu);
  auto it = g().allocations.find(reinterpret_cast<uintptr_t>(p));
  if (it == g().allocations.end() || it->second.device != device) {
    message(std::string(what) + "(" + ptr_text(p) + "): not the start of a live " +
            (device ? "cudaMalloc" : "cudaHostAlloc") + " allocation");
    return fail(cudaErrorInvalidValue);
  }
  if (device) {
    g().device_bytes -= it->second.size;
    --g().live_allocations;
  }
  g().allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaMalloc(void** p, size_t size) { return allocate(p, size, true, "cudaMalloc"); }
cudaError_t cudaFree(void* p) { return release(p, true, "cudaFree"); }
cudaError_t cudaHostAlloc(void** p, size_t size, unsigned int) { return allocate(p, size, false, "cudaHostAlloc"); }
cudaError_t cudaMallocHost(void** p, size_t size) { return allocate(p, size, false, "cudaMallocHost"); }
cudaError_t cudaFreeHost(void* p) { return release(p, false, "cudaFreeHost"); }

namespace {
Node copy_node(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  Node node;
  node.kind = Node::Kind::memcpy;
  node.name = std::string("cudaMemcpyAsync ") + direction_name(kind);
  node.run = [dst, src, n, kind] {
    // Checked again when it runs: a graph may replay after a free.
    if (cudaError_t e = check_copy(dst, src, n, kind, "cudaMemcpy (graph replay)"); e != cudaSuccess) return e;
    if (n) std::memmove(dst, src, n);
    count_copy(n);
    return cudaSuccess;
  };
  return node;
}
Node set_node(void* dst, int value, size_t n) {
  Node node;
  node.kind = Node::Kind::memset;
  node.name = "cudaMemsetAsync";
  node.run = [dst, value, n] {
    if (n && !device_range(dst, n)) {
      message("cudaMemset of " + std::to_string(n) + " bytes at " + ptr_text(dst) + ": not inside a device allocation");
      return cudaErrorInvalidValue;
    }
    if (n) std::memset(dst, value, n);
    return cudaSuccess;
  };
  return node;
}
}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (sync_during_capture("cudaMemcpy")) return fail(cudaErrorStreamCaptureUnsupported);
  if (cudaError_t e = check_copy(dst, src, n, kind, "cudaMemcpy"); e != cudaSuccess) return fail(e);
  return enqueue(nullptr, copy_node(dst, src, n, kind));
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  if (cudaError_t e = check_copy(dst, src, n, kind, "cudaMemcpyAsync"); e != cudaSuccess) return fail(e);
  return enqueue(stream, copy_node(dst, src, n, kind));
}
cudaError_t cudaMemset(void* p, int value, size_t n) {
  if (sync_during_capture("cudaMemset")) return fail(cudaErrorStreamCaptureUnsupported);
  return enqueue(nullptr, set_node(p, value, n));
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t stream) {
  if (n && !device_range(p, n)) {
    message("cudaMemsetAsync of " + std::to_string(n) + " bytes at " + ptr_text(p) + ": not inside a device allocation");
    return fail(cudaErrorInvalidValue);
  }
  return enqueue(stream, set_node(p, value, n));
}

// ---- Streams ------------------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  if (!s) return fail(cudaErrorInvalidValue);
  if (no_device()) return fail(cudaErrorNoDevice);
  auto* st = new CUstream_st;
  st->flags = flags;
  std::lock_guard<std::mutex> lock(g().mu);
  g().streams.insert(st);
  *s = st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::mutex> lock(g().mu);
  if (!s || !g().streams.erase(s)) return fail(cudaErrorInvalidResourceHandle);
  if (s->capturing && s->mode != cudaStreamCaptureModeRelaxed) {
    --g().global_captures;
    if (s->capture_thread == std::this_thread::get_id()) --t_local_captures;
  }
  delete s;
  return cudaSuccess;
}
namespace {
// Synchronising a capturing stream is illegal; it invalidates the capture.
bool sync_capturing(cudaStream_t s, const char* what) {
  if (!s) return false;
  std::lock_guard<std::mutex> lock(g().mu);
  if (!g().streams.count(s) || !s->capturing) return false;
  s->invalidated = true;
  message(std::string(what) + " on a stream that is being captured: cudaErrorStreamCaptureUnsupported, "
          "the capture is invalidated");
  return true;
}
}  // namespace
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (sync_capturing(s, "cudaStreamSynchronize")) return fail(cudaErrorStreamCaptureUnsupported);
  if (cudaError_t e = sticky(); e != cudaSuccess) return fail(e);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
  if (!known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (sync_capturing(s, "cudaStreamQuery")) return fail(cudaErrorStreamCaptureUnsupported);
  if (cudaError_t e = sticky(); e != cudaSuccess) return fail(e);
  return cudaSuccess;
}

// ---- Events ---------------------------------------------------------------------------------

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  if (!e) return fail(cudaErrorInvalidValue);
  if (no_device()) return fail(cudaErrorNoDevice);
  auto* ev = new CUevent_st;
  std::lock_guard<std::mutex> lock(g().mu);
  g().events.insert(ev);
  *e = ev;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(g().mu);
  if (!e || !g().events.erase(e)) return fail(cudaErrorInvalidResourceHandle);
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::mutex> lock(g().mu);
  if (!e || !g().events.count(e)) return fail(cudaErrorInvalidResourceHandle);
  if (s && s->capturing) {
    if (s->invalidated) return fail(cudaErrorStreamCaptureInvalidated);
    e->captured_in = s;  // a dependency inside the graph; nothing runs
    return cudaSuccess;
  }
  e->recorded = true;
  e->captured_in = nullptr;
  e->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}
namespace {
cudaError_t event_wait(cudaEvent_t e, const char* what) {
  {
    std::lock_guard<std::mutex> lock(g().mu);
    if (!e || !g().events.count(e)) return fail(cudaErrorInvalidResourceHandle);
    if (cudaStream_t s = e->captured_in; s && g().streams.count(s) && s->capturing) {
      s->invalidated = true;
      message(std::string(what) + " on an event recorded in a stream that is being captured: "
              "cudaErrorStreamCaptureUnsupported, the capture is invalidated");
      return fail(cudaErrorStreamCaptureUnsupported);
    }
  }
  if (cudaError_t s = sticky(); s != cudaSuccess) return fail(s);
  return cudaSuccess;
}
}  // namespace
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return event_wait(e, "cudaEventSynchronize"); }
cudaError_t cudaEventQuery(cudaEvent_t e) { return event_wait(e, "cudaEventQuery"); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g().mu);
  if (!start || !end || !g().events.count(start) || !g().events.count(end)) return fail(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}

// ---- Graphs ---------------------------------------------------------------------------------

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (!s) {
    message("cudaStreamBeginCapture on the legacy default stream");
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
      mode != cudaStreamCaptureModeRelaxed)
    return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g().mu);
  if (!g().streams.count(s)) return fail(cudaErrorInvalidResourceHandle);
  if (s->capturing) return fail(cudaErrorIllegalState);
  s->capturing = true;
  s->invalidated = false;
  s->mode = mode;
  s->capture_thread = std::this_thread::get_id();
  s->nodes.clear();
  if (mode != cudaStreamCaptureModeRelaxed) {
    ++t_local_captures;
    if (mode == cudaStreamCaptureModeGlobal) ++g().global_captures;
  }
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (!graph) return fail(cudaErrorInvalidValue);
  *graph = nullptr;
  std::lock_guard<std::mutex> lock(g().mu);
  if (!s || !g().streams.count(s)) return fail(cudaErrorInvalidResourceHandle);
  if (!s->capturing) return fail(cudaErrorIllegalState);
  if (s->mode != cudaStreamCaptureModeRelaxed && s->capture_thread != std::this_thread::get_id())
    return fail(cudaErrorStreamCaptureWrongThread);
  s->capturing = false;
  if (s->mode != cudaStreamCaptureModeRelaxed) {
    --t_local_captures;
    if (s->mode == cudaStreamCaptureModeGlobal) --g().global_captures;
  }
  std::vector<Node> nodes = std::move(s->nodes);
  s->nodes.clear();
  if (s->invalidated) {
    s->invalidated = false;
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(nodes)};
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  if (!status) return fail(cudaErrorInvalidValue);
  if (!s) {
    *status = cudaStreamCaptureStatusNone;
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> lock(g().mu);
  if (!g().streams.count(s)) return fail(cudaErrorInvalidResourceHandle);
  *status = !s->capturing ? cudaStreamCaptureStatusNone
            : s->invalidated ? cudaStreamCaptureStatusInvalidated
                             : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (!exec) return fail(cudaErrorInvalidValue);
  if (!known_stream(s)) return fail(cudaErrorInvalidResourceHandle);
  if (s) {
    std::lock_guard<std::mutex> lock(g().mu);
    if (s->capturing) {
      if (s->invalidated) return fail(cudaErrorStreamCaptureInvalidated);
      // Launching a graph inside a capture: its nodes become part of the new graph.
      s->nodes.insert(s->nodes.end(), exec->nodes.begin(), exec->nodes.end());
      return cudaSuccess;
    }
  }
  if (cudaError_t e = sticky(); e != cudaSuccess) return fail(e);
  ++g().graph_launches;
  const bool outer = t_replaying;
  t_replaying = true;
  cudaError_t result = cudaSuccess;
  for (const Node& n : exec->nodes) {
    if (n.kind == Node::Kind::kernel) ++g().kernels_in_graphs;
    if (cudaError_t e = n.run(); e != cudaSuccess) {
      message("graph replay: " + n.name + ": " + cudaGetErrorName(e));
      if (sticky() == cudaSuccess && e != cudaErrorInvalidValue) {
        result = e;
        break;
      }
      // A bad copy in a replay is a device fault on real hardware.
      if (sticky() == cudaSuccess) set_fault(cudaErrorIllegalAddress, "graph replay: " + n.name + " on bad memory");
      result = sticky();
      break;
    }
  }
  t_replaying = outer;
  return fail(result);
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  if (!exec) return fail(cudaErrorInvalidValue);
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  if (!graph) return fail(cudaErrorInvalidValue);
  delete graph;
  return cudaSuccess;
}
