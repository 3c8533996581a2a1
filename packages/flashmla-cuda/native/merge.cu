// The DCP merge kernels. Both sanitise LSEs the way vLLM does (NaN and +inf count as an empty
// shard, -inf), take the max as 0 when every shard is empty, and zero a shard's output wherever
// its weight is zero, so garbage (even NaN) from empty shards never leaks. LSEs may be base e or
// base 2; the global LSE written out is always a natural log.
#include <cmath>

#include "kernels.h"

namespace dcp {
namespace {

constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ float clean(float l) { return (isnan(l) || l == INFINITY) ? -INFINITY : l; }
__device__ __forceinline__ float expB(float x, bool base2) { return base2 ? exp2f(x) : expf(x); }
__device__ __forceinline__ float logB(float x, bool base2) { return base2 ? log2f(x) : logf(x); }

// Global LSE (in the input base) of `world` shards whose LSEs sit `stride` floats apart.
__device__ float globalLse(const float* lses, int world, int64_t stride, bool base2) {
  float mx = -INFINITY;
  for (int n = 0; n < world; ++n) mx = fmaxf(mx, clean(lses[n * stride]));
  if (mx == -INFINITY) mx = 0.f;
  float sum = 0.f;
  for (int n = 0; n < world; ++n) sum += expB(clean(lses[n * stride]) - mx, base2);
  return logB(sum, base2) + mx;  // sum == 0 -> -inf
}

// ag_rs: out[b,h,:] *= exp(lse[rank] - G), in place; one CTA per (b, h).
__global__ void lseCorrectKernel(const LseCorrectArgs a) {
  const int64_t bh = blockIdx.x;
  const int64_t stride = int64_t(a.batch) * a.heads;
  const float g = globalLse(a.lses + bh, a.world, stride, a.base2);
  float d = clean(a.lses[a.rank * stride + bh]) - g;
  if (isnan(d) || isinf(d)) d = -INFINITY;
  const float f = expB(d, a.base2);
  __nv_bfloat16* row = a.out + bh * a.dim;
  for (int i = threadIdx.x; i < a.dim; i += blockDim.x) {
    row[i] = __float2bfloat16(f == 0.f ? 0.f : __bfloat162float(row[i]) * f);
  }
  if (threadIdx.x == 0 && a.globalLse) a.globalLse[bh] = a.base2 ? g * kLn2 : g;
}

__global__ void lsePackKernel(const LsePackArgs a) {
  const int64_t r = blockIdx.x;
  const __nv_bfloat16* src = a.out + r * a.dim;
  __nv_bfloat16* dst = a.packed + r * (a.dim + 2);
  for (int i = threadIdx.x; i < a.dim; i += blockDim.x) dst[i] = src[i];
  if (threadIdx.x == 0) {
    const uint32_t bits = __float_as_uint(a.lse[r]);
    dst[a.dim] = __ushort_as_bfloat16(static_cast<unsigned short>(bits >> 16));
    dst[a.dim + 1] = __ushort_as_bfloat16(static_cast<unsigned short>(bits & 0xffffu));
  }
}

// a2a: out[b,h,:] = sum_n w_n partial_n, fp32 accumulation; packed is [batch, world, heads, dim+2].
__global__ void a2aCombineKernel(const A2aCombineArgs a) {
  extern __shared__ float sW[];
  const int b = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
  const int64_t rowElems = a.dim + 2;
  const int64_t stride = int64_t(a.heads) * rowElems;  // between ranks
  const __nv_bfloat16* base = a.packed + (int64_t(b) * a.world * a.heads + h) * rowElems;
  if (threadIdx.x == 0) {
    float* lse = sW + a.world;
    for (int n = 0; n < a.world; ++n) {
      const __nv_bfloat16* p = base + n * stride + a.dim;
      const uint32_t bits = (uint32_t(__bfloat16_as_ushort(p[0])) << 16) | __bfloat16_as_ushort(p[1]);
      lse[n] = __uint_as_float(bits);
    }
    const float g = globalLse(lse, a.world, 1, a.base2);
    for (int n = 0; n < a.world; ++n) {
      const float w = expB(clean(lse[n]) - g, a.base2);
      sW[n] = isnan(w) ? 0.f : w;
    }
    if (a.globalLse) a.globalLse[blockIdx.x] = a.base2 ? g * kLn2 : g;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < a.dim; i += blockDim.x) {
    float acc = 0.f;
    for (int n = 0; n < a.world; ++n) {
      if (sW[n] != 0.f) acc += sW[n] * __bfloat162float(base[n * stride + i]);
    }
    a.out[int64_t(blockIdx.x) * a.dim + i] = __float2bfloat16(acc);
  }
}

}  // namespace

cudaError_t launchLseCorrect(const LseCorrectArgs& a, cudaStream_t stream) {
  const int64_t rows = int64_t(a.batch) * a.heads;
  if (rows == 0) return cudaSuccess;
  lseCorrectKernel<<<unsigned(rows), 128, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchLsePack(const LsePackArgs& a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  lsePackKernel<<<unsigned(a.rows), 128, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchA2aCombine(const A2aCombineArgs& a, cudaStream_t stream) {
  const int64_t rows = int64_t(a.batch) * a.heads;
  if (rows == 0) return cudaSuccess;
  a2aCombineKernel<<<unsigned(rows), 128, 2 * a.world * sizeof(float), stream>>>(a);
  return cudaGetLastError();
}

}  // namespace dcp
