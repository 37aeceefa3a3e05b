// The device copies of a model's matrices (device_weights.hpp).
#include "engine/local/cuda/device_weights.hpp"

#include <algorithm>
#include <cstring>

#include "engine/local/cuda/cuda_host.hpp"
#include "engine/local/cuda/cuda_plan.hpp"
#include "engine/local/quant.hpp"

namespace troupe::engine::local::cuda_host {
namespace {

std::string shape_text(const TensorView& t) {
  std::string s = "{";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "}";
}

std::string mib(size_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB"; }

bool quantised(TensorType t) { return t == TensorType::q8_0 || t == TensorType::q4_0; }

}  // namespace

void free_matrix(DeviceMatrix& m) {
  if (m.data) cudaFree(m.data);
  if (m.scales) cudaFree(m.scales);
  m.data = nullptr;
  m.scales = nullptr;
}

Status Staging::init(size_t bytes) {
  capacity = bytes;
  pinned = true;
  for (int i = 0; i < 2; ++i) {
    if (cudaError_t e = cudaEventCreateWithFlags(&copied[i], cudaEventDisableTiming); e != cudaSuccess) {
      copied[i] = nullptr;
      cudaGetLastError();
      return Error{code_for(e), "upload_weights: cudaEventCreate: " + cuda_text(e)};
    }
    if (pinned && cudaHostAlloc(reinterpret_cast<void**>(&buf[i]), bytes, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      buf[i] = nullptr;
      pinned = false;  // pageable copies: slower, same result
    }
  }
  if (!pinned) {
    for (int i = 0; i < 2; ++i) {
      if (buf[i]) cudaFreeHost(buf[i]);
      fallback[i].resize(bytes);
      buf[i] = fallback[i].data();
    }
  }
  return {};
}

Staging::~Staging() {
  for (int i = 0; i < 2; ++i) {
    if (copied[i]) {
      cudaEventSynchronize(copied[i]);
      cudaEventDestroy(copied[i]);
    }
    if (pinned && buf[i]) cudaFreeHost(buf[i]);
  }
}

Status upload_matrix(const TensorView& t, Staging& staging, cudaStream_t stream, int device,
                     std::unordered_map<const void*, DeviceMatrix>& weights) {
  if (t.empty()) return {};
  const std::string name = t.name.empty() ? std::string("(unnamed)") : t.name;
  if (t.shape.size() != 2 || t.shape[0] <= 0 || t.shape[1] <= 0)
    return Error{ErrorCode::invalid_argument,
                 "upload_weights: tensor " + name + " has shape " + shape_text(t) + ", not a matrix {in, out}"};
  const int64_t in = t.shape[0], out = t.shape[1];
  const bool quant = quantised(t.type);
  if (quant && in % 32 != 0)
    return Error{ErrorCode::invalid_argument,
                 "upload_weights: tensor " + name + ": rows of " + std::to_string(in) + " are not whole blocks of 32"};
  const int64_t elements = in * out;
  const size_t data_bytes = quant ? cuda_plan::quant_bytes(t.type, elements) : tensor_bytes(t.type, elements);
  const size_t scale_bytes = quant ? static_cast<size_t>(elements / 32) * sizeof(uint16_t) : 0;

  auto it = weights.find(t.data);
  if (it != weights.end() && (it->second.type != t.type || it->second.in != in || it->second.out != out)) {
    cudaStreamSynchronize(stream);
    free_matrix(it->second);
    weights.erase(it);
    it = weights.end();
  }
  if (it == weights.end()) {
    DeviceMatrix m;
    m.name = name;
    m.type = t.type;
    m.in = in;
    m.out = out;
    m.bytes = data_bytes + scale_bytes;
    cudaError_t e = cudaMalloc(&m.data, data_bytes);
    if (e == cudaSuccess && quant) e = cudaMalloc(reinterpret_cast<void**>(&m.scales), scale_bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      free_matrix(m);
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      return Error{code_for(e), "upload_weights: tensor " + name + " (" + to_string(t.type) + " " + shape_text(t) +
                                    ", " + mib(m.bytes) + ") does not fit on CUDA device " +
                                    std::to_string(device) + " (" + mib(free_b) + " free of " + mib(total_b) +
                                    "): " + cuda_text(e)};
    }
    it = weights.emplace(t.data, std::move(m)).first;
  }
  DeviceMatrix& m = it->second;
  m.name = name;

  // Rows in chunks through the two staging buffers.
  const size_t row_bytes = tensor_bytes(t.type, in);  // the same in the split layout
  const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(staging.capacity / row_bytes));
  const auto* src = static_cast<const char*>(t.data);
  int k = 0;
  for (int64_t r0 = 0; r0 < out; r0 += chunk_rows, k ^= 1) {
    const int64_t rows = std::min(chunk_rows, out - r0);
    if (cudaError_t e = cudaEventSynchronize(staging.copied[k]); e != cudaSuccess)
      return Error{code_for(e), "upload_weights: tensor " + name + ": " + cuda_text(e)};
    char* buf = staging.buf[k];
    const char* from = src + static_cast<size_t>(r0) * row_bytes;
    cudaError_t e = cudaSuccess;
    if (!quant) {
      const size_t bytes = static_cast<size_t>(rows) * row_bytes;
      parallel_for(static_cast<int64_t>(bytes), int64_t{4} << 20, [&](int64_t b, int64_t end) {
        std::memcpy(buf + b, from + b, static_cast<size_t>(end - b));
      });
      e = cudaMemcpyAsync(static_cast<char*>(m.data) + static_cast<size_t>(r0) * row_bytes, buf, bytes,
                          cudaMemcpyHostToDevice, stream);
    } else {
      const int64_t blocks = rows * (in / 32), block0 = r0 * (in / 32);
      const size_t qbytes = cuda_plan::quant_bytes(t.type, rows * in);
      auto* scales = reinterpret_cast<uint16_t*>(buf + qbytes);  // qbytes is a multiple of 16
      const size_t src_block = t.type == TensorType::q8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
      parallel_for(blocks, int64_t{1} << 16, [&](int64_t b, int64_t end) {
        if (t.type == TensorType::q8_0)
          cuda_plan::split_q8_0(from + b * src_block, end - b, reinterpret_cast<int8_t*>(buf) + b * 32, scales + b);
        else
          cuda_plan::split_q4_0(from + b * src_block, end - b, reinterpret_cast<uint8_t*>(buf) + b * 16, scales + b);
      });
      e = cudaMemcpyAsync(static_cast<char*>(m.data) + cuda_plan::quant_bytes(t.type, r0 * in), buf, qbytes,
                          cudaMemcpyHostToDevice, stream);
      if (e == cudaSuccess)
        e = cudaMemcpyAsync(m.scales + block0, scales, static_cast<size_t>(blocks) * sizeof(uint16_t),
                            cudaMemcpyHostToDevice, stream);
    }
    if (e == cudaSuccess) e = cudaEventRecord(staging.copied[k], stream);
    if (e != cudaSuccess) return Error{code_for(e), "upload_weights: tensor " + name + ": " + cuda_text(e)};
    if (!staging.pinned) cudaStreamSynchronize(stream);
  }
  return {};
}

}  // namespace troupe::engine::local::cuda_host
