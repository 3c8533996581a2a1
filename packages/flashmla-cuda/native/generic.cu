// Generic (any width, f32 or bf16) versions of the cache and decode kernels. They are simple and
// correct rather than fast: the tuned paths in mla_decode.cu / kv_ops.cu serve bf16 and the
// DeepSeek widths (576 = 512 + 64); these serve everything else (small test models, f32 data).
#include <cfloat>
#include <cmath>

#include "generic.h"

namespace dcp {
namespace {

template <class T>
__device__ __forceinline__ float ld(const T* p, int64_t i);
template <>
__device__ __forceinline__ float ld<float>(const float* p, int64_t i) { return p[i]; }
template <>
__device__ __forceinline__ float ld<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }

template <class T>
__device__ __forceinline__ void st(T* p, int64_t i, float v);
template <>
__device__ __forceinline__ void st<float>(float* p, int64_t i, float v) { p[i] = v; }
template <>
__device__ __forceinline__ void st<__nv_bfloat16>(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

constexpr int kT = 128;  // threads per CTA

__device__ float blockMax(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < kT / 32; ++w) r = fmaxf(r, red[w]);
  return r;
}

__device__ float blockSum(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float r = 0.f;
  for (int w = 0; w < kT / 32; ++w) r += red[w];
  return r;
}

// One CTA per (head, token); keys in chunks of kT with an online softmax; the value accumulator
// lives in shared memory (width dv).
template <class TQ, class TC, class TO>
__global__ void __launch_bounds__(kT) genericDecodeKernel(const GenericDecodeArgs a) {
  extern __shared__ float sm[];
  float* sq = sm;            // [width]
  float* sacc = sq + a.width;  // [dv]
  float* sp = sacc + a.dv;     // [kT]
  __shared__ float red[kT / 32];
  __shared__ int64_t srow[kT];
  const int h = blockIdx.x, t = blockIdx.y;
  const TQ* q = static_cast<const TQ*>(a.q) + (int64_t(t) * a.heads + h) * a.width;
  const TC* cache = static_cast<const TC*>(a.cache);
  for (int k = threadIdx.x; k < a.width; k += kT) sq[k] = ld(q, k);
  for (int d = threadIdx.x; d < a.dv; d += kT) sacc[d] = 0.f;
  const int row = a.tokenToRow ? a.tokenToRow[t] : t;
  const bool rowOk = row >= 0 && row < a.numRows;
  const int64_t capacity = int64_t(a.maxBlocksPerSeq) * a.blockSize;
  const int len = rowOk ? int(min(int64_t(max(0, a.seqLens[t])), capacity)) : 0;
  const int32_t* table = a.blockTable + int64_t(rowOk ? row : 0) * a.maxBlocksPerSeq;
  float m = -INFINITY, l = 0.f;
  __syncthreads();
  for (int j0 = 0; j0 < len; j0 += kT) {
    const int j = j0 + threadIdx.x;
    float s = -INFINITY;
    int64_t r = -1;
    if (j < len) {
      const int64_t blk = table[j / a.blockSize];
      if (blk >= 0 && blk < a.numBlocks) {
        r = blk * a.blockSize + j % a.blockSize;
        float dot = 0.f;
        for (int k = 0; k < a.width; ++k) dot += sq[k] * ld(cache, r * a.width + k);
        s = dot * a.scale;
      }
    }
    srow[threadIdx.x] = r;
    const float mNew = fmaxf(m, blockMax(s, red));
    const float alpha = mNew == -INFINITY ? 1.f : __expf(m - mNew);
    const float p = s == -INFINITY ? 0.f : __expf(s - mNew);
    sp[threadIdx.x] = p;
    l = l * alpha + blockSum(p, red);  // blockSum's barriers also publish sp and srow
    const int cnt = min(kT, len - j0);
    for (int d = threadIdx.x; d < a.dv; d += kT) {
      float acc = sacc[d] * alpha;
      for (int jj = 0; jj < cnt; ++jj)
        if (srow[jj] >= 0) acc += sp[jj] * ld(cache, srow[jj] * a.width + d);
      sacc[d] = acc;
    }
    m = mNew;
    __syncthreads();
  }
  TO* out = static_cast<TO*>(a.out) + (int64_t(t) * a.heads + h) * a.dv;
  const float inv = l > 0.f ? 1.f / l : 0.f;
  for (int d = threadIdx.x; d < a.dv; d += kT) st(out, d, sacc[d] * inv);
  if (threadIdx.x == 0) a.lse[int64_t(t) * a.heads + h] = l > 0.f ? m + logf(l) : -INFINITY;
}

template <class TI, class TC>
__global__ void genericKvWriteKernel(const GenericKvWriteArgs a) {
  const int64_t t = blockIdx.x;
  const int64_t slot = a.slots[t];
  if (slot < 0 || slot >= a.numSlots) return;
  const int w = a.kvWidth + a.peWidth;
  TC* dst = static_cast<TC*>(a.cache) + slot * w;
  const TI* kv = static_cast<const TI*>(a.kvC) + t * a.kvWidth;
  const TI* pe = static_cast<const TI*>(a.kPe) + t * a.peWidth;
  for (int i = threadIdx.x; i < w; i += blockDim.x) st(dst, i, i < a.kvWidth ? ld(kv, i) : ld(pe, i - a.kvWidth));
}

template <class E>
__global__ void genericGatherKernel(const GenericGatherArgs a) {
  const int b = blockIdx.x;
  const int64_t begin = a.cuSeqLens[b];
  const int len = a.cuSeqLens[b + 1] - a.cuSeqLens[b];
  const int start = a.seqStarts ? a.seqStarts[b] : 0;
  const int32_t* table = a.blockTable + int64_t(b) * a.maxBlocksPerSeq;
  const E* src = static_cast<const E*>(a.cache);
  E* dst = static_cast<E*>(a.dst);
  for (int64_t i = threadIdx.x; i < int64_t(max(len, 0)) * a.width; i += blockDim.x) {
    const int r = int(i / a.width), c = int(i % a.width);
    if (begin + r >= a.dstRows) break;
    const int tok = start + r;
    const int64_t blk = tok >= 0 && tok / a.blockSize < a.maxBlocksPerSeq ? table[tok / a.blockSize] : -1;
    const bool ok = blk >= 0 && blk < a.numBlocks;
    dst[(begin + r) * a.width + c] = ok ? src[(blk * a.blockSize + tok % a.blockSize) * a.width + c] : E(0);
  }
}

__device__ __forceinline__ float cleanLse(float l) { return (isnan(l) || l == INFINITY) ? -INFINITY : l; }

// ag_rs correction for f32 outputs (the bf16 one lives in merge.cu).
__global__ void lseCorrectF32Kernel(const LseCorrectF32Args a) {
  const int64_t bh = blockIdx.x;
  const int64_t stride = int64_t(a.batch) * a.heads;
  float mx = -INFINITY;
  for (int n = 0; n < a.world; ++n) mx = fmaxf(mx, cleanLse(a.lses[n * stride + bh]));
  if (mx == -INFINITY) mx = 0.f;
  float sum = 0.f;
  for (int n = 0; n < a.world; ++n) {
    const float x = cleanLse(a.lses[n * stride + bh]) - mx;
    sum += a.base2 ? exp2f(x) : expf(x);
  }
  const float g = (a.base2 ? log2f(sum) : logf(sum)) + mx;
  float d = cleanLse(a.lses[a.rank * stride + bh]) - g;
  if (isnan(d) || isinf(d)) d = -INFINITY;
  const float f = a.base2 ? exp2f(d) : expf(d);
  float* row = a.out + bh * a.dim;
  for (int i = threadIdx.x; i < a.dim; i += blockDim.x) row[i] = f == 0.f ? 0.f : row[i] * f;
  if (threadIdx.x == 0 && a.globalLse) a.globalLse[bh] = a.base2 ? g * 0.6931471805599453f : g;
}

template <class TQ, class TC, class TO>
cudaError_t decode3(const GenericDecodeArgs& a, cudaStream_t s) {
  const size_t smem = (size_t(a.width) + a.dv + kT) * sizeof(float);
  if (smem > 48 * 1024) {
    cudaError_t e = cudaFuncSetAttribute(genericDecodeKernel<TQ, TC, TO>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (e != cudaSuccess) return e;
  }
  genericDecodeKernel<TQ, TC, TO><<<dim3(a.heads, a.tokens), kT, smem, s>>>(a);
  return cudaGetLastError();
}

template <class TQ, class TC>
cudaError_t decode2(const GenericDecodeArgs& a, cudaStream_t s) {
  return a.outF32 ? decode3<TQ, TC, float>(a, s) : decode3<TQ, TC, __nv_bfloat16>(a, s);
}

template <class TQ>
cudaError_t decode1(const GenericDecodeArgs& a, cudaStream_t s) {
  return a.cacheF32 ? decode2<TQ, float>(a, s) : decode2<TQ, __nv_bfloat16>(a, s);
}

}  // namespace

cudaError_t launchGenericDecode(const GenericDecodeArgs& a, cudaStream_t s) {
  if (a.tokens == 0 || a.heads == 0) return cudaSuccess;
  return a.qF32 ? decode1<float>(a, s) : decode1<__nv_bfloat16>(a, s);
}

cudaError_t launchGenericKvWrite(const GenericKvWriteArgs& a, cudaStream_t s) {
  if (a.tokens == 0) return cudaSuccess;
  if (a.inF32) {
    if (a.cacheF32) genericKvWriteKernel<float, float><<<a.tokens, 128, 0, s>>>(a);
    else genericKvWriteKernel<float, __nv_bfloat16><<<a.tokens, 128, 0, s>>>(a);
  } else {
    if (a.cacheF32) genericKvWriteKernel<__nv_bfloat16, float><<<a.tokens, 128, 0, s>>>(a);
    else genericKvWriteKernel<__nv_bfloat16, __nv_bfloat16><<<a.tokens, 128, 0, s>>>(a);
  }
  return cudaGetLastError();
}

cudaError_t launchGenericGather(const GenericGatherArgs& a, cudaStream_t s) {
  if (a.batch == 0) return cudaSuccess;
  if (a.elemBytes == 4) genericGatherKernel<uint32_t><<<a.batch, 256, 0, s>>>(a);
  else genericGatherKernel<uint16_t><<<a.batch, 256, 0, s>>>(a);
  return cudaGetLastError();
}

cudaError_t launchLseCorrectF32(const LseCorrectF32Args& a, cudaStream_t s) {
  const int64_t rows = int64_t(a.batch) * a.heads;
  if (rows == 0) return cudaSuccess;
  lseCorrectF32Kernel<<<unsigned(rows), 128, 0, s>>>(a);
  return cudaGetLastError();
}

}  // namespace dcp
