// The CUDA backend of Kernels (engine/local/kernels.hpp): the forward pass
// of the local engine on one NVIDIA GPU.
//
// What callers may rely on:
// - make_cuda_kernels() returns an `unsupported` error (never aborts) when
//   no CUDA device is usable: no driver, no device, or an index past the
//   devices found; the message names the CUDA error.
// - Memory from alloc() is device memory; integer arrays and op parameters
//   are host memory (uploaded once per step through begin_step, see
//   kernels.hpp). Ops are queued on the backend's one stream; to_host()
//   and synchronize() wait for them. alloc() returns null when the device
//   is out of memory.
// - upload_weights() copies every matrix of the model once; ops find the
//   copy by the host view's data pointer (a matmul or get_rows on a tensor
//   that was not uploaded is an error reported by take_error()). An error
//   names the tensor that did not fit. Uploading a model again re-copies
//   the matrices it names.
// - Errors of ops (a failed launch, a device fault, an argument the kernels
//   cannot take: a block table too short for the positions, an id out of
//   range) are recorded, the op does nothing more, and take_error() returns
//   the first one.
// - Results follow the reference kernels within the tolerances stated in
//   tests/local_cuda (float32 accumulation everywhere; f32 weights stay
//   float32 end to end, f16/bf16/q8_0/q4_0 weights use float32 x in the
//   decode GEMV, x rounded to the weight's 16-bit type (f16 for q8_0/q4_0)
//   in the cuBLAS GEMM of larger batches). A row's result is exactly the
//   same whatever the other rows of a matmul as long as the call stays on
//   one path (cuda_plan.hpp: up to 8 rows for float weights, 32 for
//   quantised ones); across paths, and in attention with a different
//   split of the keys, it agrees within those tolerances.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "engine/local/kernels.hpp"

namespace troupe::engine::local {

struct CudaKernelOptions {
  int device = 0;      // CUDA device ordinal
  bool graphs = true;  // decode steps as CUDA graphs (below); false: every launch eager
};

Result<std::unique_ptr<Kernels>> make_cuda_kernels(const CudaKernelOptions& options = {});

// Decode steps as CUDA graphs. A step that begin_step() names as decode (as
// many rows as block tables, at most cuda_plan::kGraphMaxRows) is recorded
// instead of launched: its uploads go at once, its kernel launches and
// cuBLAS calls are kept, with every launch argument appended to the step's
// key. At the sync point (to_host, synchronize) a key seen before runs as
// one graph launch (captured on its second sight, kept in an LRU cache of
// cuda_plan::kGraphCacheSize); a new key runs its launches eagerly. Equal
// keys mean identical launches, so a replay computes exactly what the eager
// launches would (tests/local_cuda/test_cuda_graphs.cpp). Anything that
// must see the recorded launches on the stream first (a copy from the host,
// a free, copy_blocks, a scratch buffer growing) runs them eagerly and ends
// the recording for that step. Batch sizes come in buckets
// (decode_rows() = cuda_plan::decode_row_bucket: 1, 2, 4, 8, 16, 24, 32,
// ...): Transformer pads a decode step to its bucket and the backend pads
// the step's write_kv and attention descriptors alike, so every batch size
// of a bucket makes the same launches. Attention is planned on a 256-key
// bucket of the longest context (cuda_plan::attention_key_bucket), so a
// decode step's graph replays while contexts grow inside the bucket.
struct CudaGraphStats {
  uint64_t captured = 0;          // graphs captured and instantiated
  uint64_t replayed = 0;          // steps run as one graph launch (a capture's first run included)
  uint64_t eager_steps = 0;       // recorded steps that ran eagerly (first sight of a key, interruptions)
  uint64_t capture_failures = 0;  // captures that failed (graphs then stay off for this backend)
  size_t cached = 0;              // graphs in the cache now
};
// Turns graphs on or off for the steps that begin after this call; false
// (nothing done) for a backend that is not CUDA.
bool set_cuda_graphs(Kernels& kernels, bool enabled);
// The graph counters of a CUDA backend; nullopt for any other backend.
std::optional<CudaGraphStats> cuda_graph_stats(const Kernels& kernels);

// The number of usable CUDA devices (0 when there is no driver or device).
int cuda_device_count();

// One line for `troupe doctor`: each device (name, memory, compute
// capability), or why none is usable (the CUDA error).
std::string describe_cuda_devices();

// Device-to-device copy bandwidth of `device` in bytes per second, counting
// the bytes read and the bytes written (2 * bytes per copy), over `repeats`
// copies of a `bytes` buffer: the yardstick bench_cuda holds decode to.
Result<double> measure_cuda_copy_bandwidth(int device, size_t bytes, int repeats);

}  // namespace troupe::engine::local
