// Small generic data-movement kernels (fill, column copy, row gather) and the f32 a2a merge.
#include <cmath>

#include "generic.h"

namespace dcp {
namespace {

template <class E>
__global__ void fillKernel(E* dst, int64_t n, E v) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) dst[i] = v;
}

__device__ __forceinline__ float readF(const void* p, int kind, int64_t i) {
  return kind == 0 ? static_cast<const float*>(p)[i] : __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}

__global__ void copyColumnsKernel(const CopyColumnsArgs a) {
  const int64_t total = a.rows * a.width;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / a.width;
    const int j = int(i % a.width);
    const int64_t s = r * a.srcCols + a.srcCol + j, d = r * a.dstCols + a.dstCol + j;
    if (a.srcKind == 2) {
      static_cast<int32_t*>(a.dst)[d] = static_cast<const int32_t*>(a.src)[s];
    } else if (a.dstKind == 0) {
      static_cast<float*>(a.dst)[d] = readF(a.src, a.srcKind, s);
    } else {
      static_cast<__nv_bfloat16*>(a.dst)[d] = __float2bfloat16(readF(a.src, a.srcKind, s));
    }
  }
}

template <class E>
__global__ void gatherRowsKernel(const GatherRowsArgs a) {
  const int64_t total = a.n * a.cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / a.cols;
    const int c = int(i % a.cols);
    const int64_t src = a.indices[r];
    static_cast<E*>(a.dst)[i] = src >= 0 && src < a.srcRows ? static_cast<const E*>(a.src)[src * a.cols + c] : E(0);
  }
}

__global__ void lsePackF32Kernel(const float* out, const float* lse, float* packed, int dim) {
  const int64_t r = blockIdx.x;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) packed[r * (dim + 1) + i] = out[r * dim + i];
  if (threadIdx.x == 0) packed[r * (dim + 1) + dim] = lse[r];
}

__device__ __forceinline__ float clean(float l) { return (isnan(l) || l == INFINITY) ? -INFINITY : l; }

__global__ void a2aCombineF32Kernel(const float* packed, float* out, float* globalLse, int world, int heads, int dim,
                                    bool base2) {
  extern __shared__ float sW[];
  const int b = blockIdx.x / heads, h = blockIdx.x % heads;
  const int64_t rowElems = dim + 1;
  const int64_t stride = int64_t(heads) * rowElems;
  const float* base = packed + (int64_t(b) * world * heads + h) * rowElems;
  if (threadIdx.x == 0) {
    float mx = -INFINITY;
    for (int n = 0; n < world; ++n) mx = fmaxf(mx, clean(base[n * stride + dim]));
    if (mx == -INFINITY) mx = 0.f;
    float sum = 0.f;
    for (int n = 0; n < world; ++n) {
      const float x = clean(base[n * stride + dim]) - mx;
      sum += base2 ? exp2f(x) : expf(x);
    }
    const float g = (base2 ? log2f(sum) : logf(sum)) + mx;
    for (int n = 0; n < world; ++n) {
      const float x = clean(base[n * stride + dim]) - g;
      const float w = base2 ? exp2f(x) : expf(x);
      sW[n] = isnan(w) ? 0.f : w;
    }
    if (globalLse) globalLse[blockIdx.x] = base2 ? g * 0.6931471805599453f : g;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float acc = 0.f;
    for (int n = 0; n < world; ++n)
      if (sW[n] != 0.f) acc += sW[n] * base[n * stride + i];
    out[int64_t(blockIdx.x) * dim + i] = acc;
  }
}

unsigned gridFor(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return unsigned(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

}  // namespace

cudaError_t launchFillPattern(void* dst, int64_t n, int elemBytes, uint32_t bits, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (elemBytes == 4) fillKernel<uint32_t><<<gridFor(n), 256, 0, s>>>(static_cast<uint32_t*>(dst), n, bits);
  else fillKernel<uint16_t><<<gridFor(n), 256, 0, s>>>(static_cast<uint16_t*>(dst), n, uint16_t(bits));
  return cudaGetLastError();
}

cudaError_t launchCopyColumns(const CopyColumnsArgs& a, cudaStream_t s) {
  if (a.rows == 0 || a.width == 0) return cudaSuccess;
  copyColumnsKernel<<<gridFor(a.rows * a.width), 256, 0, s>>>(a);
  return cudaGetLastError();
}

cudaError_t launchGatherRows(const GatherRowsArgs& a, cudaStream_t s) {
  if (a.n == 0 || a.cols == 0) return cudaSuccess;
  if (a.elemBytes == 4) gatherRowsKernel<uint32_t><<<gridFor(a.n * a.cols), 256, 0, s>>>(a);
  else gatherRowsKernel<uint16_t><<<gridFor(a.n * a.cols), 256, 0, s>>>(a);
  return cudaGetLastError();
}

cudaError_t launchLsePackF32(const float* out, const float* lse, float* packed, int64_t rows, int dim, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  lsePackF32Kernel<<<unsigned(rows), 128, 0, s>>>(out, lse, packed, dim);
  return cudaGetLastError();
}

cudaError_t launchA2aCombineF32(const float* packed, float* out, float* globalLse, int world, int batch, int heads,
                                int dim, bool base2, cudaStream_t s) {
  const int64_t rows = int64_t(batch) * heads;
  if (rows == 0) return cudaSuccess;
  a2aCombineF32Kernel<<<unsigned(rows), 128, world * sizeof(float), s>>>(packed, out, globalLse, world, heads, dim, base2);
  return cudaGetLastError();
}

}  // namespace dcp
