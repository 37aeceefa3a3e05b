// Paged causal attention on the GPU, decode (one query row per sequence)
// and chunked prefill (many) alike, for every sequence of a call in one
// launch. Keys and values are read in place through each sequence's block
// table (no gather copy), as float32, f16 or bf16, and combined with a float32
// online softmax.
//
// attention_kernel: block (row, y, split) with 4 warps; y picks the KV head
// and a group of up to 4 query heads that read it (GQA: the KV rows are
// loaded once for the group). Each warp takes every 4th key of the split's
// range, lanes split head_dim (KPL elements each), keeps a running max,
// sum and weighted value sum per head; the warps are then merged through
// shared memory. With one split the block writes the output row; with
// more it writes its partial state (acc[head_dim], max, sum) and
// attention_combine_kernel merges the splits (flash-decoding), which keeps
// a single long decode row from running on one multiprocessor.
#include "engine/local/cuda/cuda_common.cuh"
#include "engine/local/cuda/cuda_launch.hpp"

namespace troupe::engine::local::cuda {
namespace {

constexpr int kAttnWarps = 4;
constexpr int kHeadsPerBlock = 4;  // cuda_plan::kAttentionHeadsPerBlock

__device__ __forceinline__ float load_kv(const float* p) { return __ldg(p); }
__device__ __forceinline__ float load_kv(const uint16_t* p) { return f16_bits_to_f32(__ldg(p)); }
// A cached bfloat16 (a type of its own so that the kernel template tells it from an IEEE half).
struct KvBf16 {
  uint16_t bits;
};
__device__ __forceinline__ float load_kv(const KvBf16* p) {
  return bf16_bits_to_f32(__ldg(reinterpret_cast<const uint16_t*>(p)));
}

template <typename KT, int KPL>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_kernel(const AttnParams p) {
  __shared__ float sm_m[kAttnWarps][kHeadsPerBlock];
  __shared__ float sm_l[kAttnWarps][kHeadsPerBlock];
  __shared__ float sm_acc[kAttnWarps][kHeadsPerBlock][KPL * 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const AttnRowDesc rd = p.rows[blockIdx.x];
  const AttnSeqDesc sd = p.seqs[rd.seq];
  const int kvh = static_cast<int>(blockIdx.y) / p.head_groups;
  const int hg = static_cast<int>(blockIdx.y) % p.head_groups;
  const int h0 = kvh * p.group + hg * p.heads_per_block;  // first query head of this block
  const int nh = min(p.heads_per_block, p.group - hg * p.heads_per_block);
  const int hd = p.head_dim;
  const int64_t q_width = static_cast<int64_t>(p.n_heads) * hd;
  const int t_begin = static_cast<int>(blockIdx.z) * p.keys_per_split;
  const int t_end = min(rd.n_keys, t_begin + p.keys_per_split);

  float q[kHeadsPerBlock][KPL];
  float m[kHeadsPerBlock], l[kHeadsPerBlock], acc[kHeadsPerBlock][KPL];
  const float* qrow = p.q + static_cast<int64_t>(rd.q_row) * q_width + static_cast<int64_t>(h0) * hd;
#pragma unroll
  for (int h = 0; h < kHeadsPerBlock; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
#pragma unroll
    for (int k = 0; k < KPL; ++k) {
      const int c = lane + 32 * k;
      q[h][k] = (h < nh && c < hd) ? qrow[h * hd + c] : 0.0f;
      acc[h][k] = 0.0f;
    }
  }

  const KT* kb = reinterpret_cast<const KT*>(p.k_base + sd.k_off);
  const KT* vb = reinterpret_cast<const KT*>(p.v_base + sd.v_off);
  for (int t = t_begin + warp; t < t_end; t += kAttnWarps) {
    const int64_t off = static_cast<int64_t>(sd.table[t / sd.block_size]) * sd.block_stride +
                        static_cast<int64_t>(t % sd.block_size) * sd.row_stride + static_cast<int64_t>(kvh) * hd;
    float kr[KPL], vr[KPL];
#pragma unroll
    for (int k = 0; k < KPL; ++k) {
      const int c = lane + 32 * k;
      kr[k] = c < hd ? load_kv(kb + off + c) : 0.0f;
      vr[k] = c < hd ? load_kv(vb + off + c) : 0.0f;
    }
#pragma unroll
    for (int h = 0; h < kHeadsPerBlock; ++h) {
      if (h < nh) {  // uniform over the warp
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < KPL; ++k) s = fmaf(q[h][k], kr[k], s);
        s = warp_sum(s) * p.scale;
        const float m_new = fmaxf(m[h], s);
        const float corr = expf(m[h] - m_new);  // 0 while m[h] is -inf
        const float pr = expf(s - m_new);
        l[h] = l[h] * corr + pr;
#pragma unroll
        for (int k = 0; k < KPL; ++k) acc[h][k] = fmaf(pr, vr[k], acc[h][k] * corr);
        m[h] = m_new;
      }
    }
  }

  // Merge the warps' states.
#pragma unroll
  for (int h = 0; h < kHeadsPerBlock; ++h) {
    if (lane == 0) {
      sm_m[warp][h] = m[h];
      sm_l[warp][h] = l[h];
    }
#pragma unroll
    for (int k = 0; k < KPL; ++k) sm_acc[warp][h][lane + 32 * k] = acc[h][k];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nh * hd; idx += blockDim.x) {
    const int h = idx / hd, c = idx % hd;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) M = fmaxf(M, sm_m[w][h]);
    float L = 0.0f, A = 0.0f;
    if (M != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kAttnWarps; ++w) {
        const float mw = sm_m[w][h];
        if (mw == -INFINITY) continue;  // a warp that saw no key
        const float f = expf(mw - M);
        L += sm_l[w][h] * f;
        A += sm_acc[w][h][c] * f;
      }
    }
    if (p.splits == 1) {
      p.out[static_cast<int64_t>(rd.q_row) * q_width + static_cast<int64_t>(h0 + h) * hd + c] = A / L;
    } else {
      float* part = p.partial + ((static_cast<int64_t>(blockIdx.x) * p.n_heads + h0 + h) * p.splits + blockIdx.z) *
                                    (hd + 2);
      part[c] = A;
      if (c == 0) {
        part[hd] = M;
        part[hd + 1] = L;
      }
    }
  }
}

// Block (row, head): merges the splits' partial states into the output row.
__global__ void attention_combine_kernel(const AttnParams p) {
  const int row = blockIdx.x, h = blockIdx.y, hd = p.head_dim;
  const AttnRowDesc rd = p.rows[row];
  const int64_t stride = hd + 2;
  const float* part = p.partial + (static_cast<int64_t>(row) * p.n_heads + h) * p.splits * stride;
  float* out = p.out + static_cast<int64_t>(rd.q_row) * p.n_heads * hd + static_cast<int64_t>(h) * hd;
  float M = -INFINITY;
  for (int s = 0; s < p.splits; ++s) M = fmaxf(M, part[s * stride + hd]);
  for (int c = threadIdx.x; c < hd; c += blockDim.x) {
    float L = 0.0f, A = 0.0f;
    for (int s = 0; s < p.splits; ++s) {
      const float ms = part[s * stride + hd];
      if (ms == -INFINITY) continue;  // a split past this row's keys
      const float f = expf(ms - M);
      L += part[s * stride + hd + 1] * f;
      A += part[s * stride + c] * f;
    }
    out[c] = A / L;
  }
}

template <typename KT, int KPL>
cudaError_t launch_typed(const AttnParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.total_rows), static_cast<unsigned>(p.grid_y),
                  static_cast<unsigned>(p.splits));
  TROUPE_LAUNCH(grid, kAttnWarps * 32, stream, attention_kernel<KT, KPL>)(p);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  if (p.splits > 1) {
    const unsigned threads = p.head_dim >= 256 ? 256u : static_cast<unsigned>((p.head_dim + 31) / 32 * 32);
    TROUPE_LAUNCH(dim3(static_cast<unsigned>(p.total_rows), static_cast<unsigned>(p.n_heads)), threads, stream,
                  attention_combine_kernel)(p);
  }
  return cudaGetLastError();
}

template <int KPL>
cudaError_t launch_for_kv(const AttnParams& p, cudaStream_t stream) {
  switch (p.kv_type) {
    case kKvF32: return launch_typed<float, KPL>(p, stream);
    case kKvF16: return launch_typed<uint16_t, KPL>(p, stream);
    case kKvBf16: return launch_typed<KvBf16, KPL>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t launch_attention(const AttnParams& p, cudaStream_t stream) {
  if (p.total_rows <= 0) return cudaSuccess;
  if (p.heads_per_block < 1 || p.heads_per_block > kHeadsPerBlock || p.head_dim > 8 * 32 || p.splits < 1 ||
      p.n_heads > 65535)
    return cudaErrorInvalidValue;
  switch (p.elems_per_lane) {
    case 2: return launch_for_kv<2>(p, stream);
    case 4: return launch_for_kv<4>(p, stream);
    case 8: return launch_for_kv<8>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace troupe::engine::local::cuda
