// The simulator's cuBLAS: handles bound to a stream, and a reference
// column-major GemmEx (float32 accumulation, k in order).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "sim_internal.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

using namespace troupe::cuda_sim::detail;

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    *handle = nullptr;
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes && !device_range(workspace, bytes)) {
    std::fprintf(stderr, "troupe cuda_sim: cublasSetWorkspace: %zu bytes at %p are not device memory\n", bytes, workspace);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

namespace {

size_t elem_bytes(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

float load(const void* p, cudaDataType t, size_t i) {
  switch (t) {
    case CUDA_R_32F: return static_cast<const float*>(p)[i];
    case CUDA_R_16F: return __half2float(__ushort_as_half(static_cast<const uint16_t*>(p)[i]));
    case CUDA_R_16BF: return __bfloat162float(__ushort_as_bfloat16(static_cast<const uint16_t*>(p)[i]));
    default: return 0.0f;
  }
}

// Whether a column-major rows x cols matrix with leading dimension ld lies in device memory.
bool matrix_ok(const void* p, cudaDataType t, int rows, int cols, int ld, const char* name) {
  if (rows == 0 || cols == 0) return true;
  const size_t bytes = (static_cast<size_t>(ld) * static_cast<size_t>(cols - 1) + static_cast<size_t>(rows)) *
                       elem_bytes(t);
  if (device_range(p, bytes)) return true;
  std::fprintf(stderr, "troupe cuda_sim: cublasGemmEx: matrix %s (%d x %d, ld %d, %zu bytes at %p) is not inside "
               "a device allocation\n", name, rows, cols, ld, bytes, p);
  return false;
}

}  // namespace

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto supported_in = [](cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; };
  if (!supported_in(Atype) || Atype != Btype || Ctype != CUDA_R_32F ||
      (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC) ||
      (transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) || (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T)) {
    std::fprintf(stderr, "troupe cuda_sim: cublasGemmEx: types %d/%d -> %d, compute %d, ops %d/%d not simulated\n",
                 Atype, Btype, Ctype, compute, transa, transb);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (m < 0 || n < 0 || k < 0 || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  // op(A) is m x k, op(B) is k x n, C is m x n.
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m)) return CUBLAS_STATUS_INVALID_VALUE;
  if (!matrix_ok(A, Atype, a_rows, a_cols, lda, "A") || !matrix_ok(B, Btype, b_rows, b_cols, ldb, "B") ||
      !matrix_ok(C, Ctype, m, n, ldc, "C"))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  Node node;
  node.kind = Node::Kind::blas;
  node.name = "cublasGemmEx";
  node.run = [=] {
    float* c = static_cast<float*>(C);
    std::vector<float> arow(static_cast<size_t>(k));
    for (int i = 0; i < m; ++i) {
      for (int p = 0; p < k; ++p)
        arow[static_cast<size_t>(p)] =
            transa == CUBLAS_OP_N ? load(A, Atype, static_cast<size_t>(p) * lda + i) : load(A, Atype, static_cast<size_t>(i) * lda + p);
      for (int j = 0; j < n; ++j) {
        float s = 0.0f;
        for (int p = 0; p < k; ++p) {
          const float b = transb == CUBLAS_OP_N ? load(B, Btype, static_cast<size_t>(j) * ldb + p)
                                                : load(B, Btype, static_cast<size_t>(p) * ldb + j);
          s += arow[static_cast<size_t>(p)] * b;
        }
        float& out = c[static_cast<size_t>(j) * ldc + i];
        out = be == 0.0f ? al * s : al * s + be * out;
      }
    }
    return cudaSuccess;
  };
  const cudaError_t e = enqueue(handle->stream, std::move(node));
  if (e == cudaSuccess) return CUBLAS_STATUS_SUCCESS;
  return CUBLAS_STATUS_EXECUTION_FAILED;
}
