// Cache-side kernels: the KV write (kv_c + rotated k_pe into the paged cache, slot -1 skipped),
// the context gather for chunked prefill, and a seeded uniform fill used by tests and benchmarks.
#include "kernels.h"

namespace dcp {
namespace {

constexpr int kChunks = kHeadDimQK / 8;  // 16-byte chunks per cache row

// One warp per token: 64 chunks of kv_c then 8 of k_pe.
__global__ void kvWriteKernel(const KvWriteArgs a) {
  const int64_t t = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (t >= a.tokens) return;
  const int64_t slot = a.slots[t];
  if (slot < 0 || slot >= a.numSlots) return;
  uint4* dst = reinterpret_cast<uint4*>(a.cache + slot * kHeadDimQK);
  for (int c = threadIdx.x % 32; c < kChunks; c += 32) {
    const __nv_bfloat16* src = c < kHeadDimV / 8 ? a.kvC + t * a.kvCStride + c * 8
                                                 : a.kPe + t * a.kPeStride + (c - kHeadDimV / 8) * 8;
    dst[c] = *reinterpret_cast<const uint4*>(src);
  }
}

// Grid (batch, splits): each CTA copies a contiguous share of one request's rows.
__global__ void gatherKernel(const GatherArgs a) {
  const int b = blockIdx.x;
  const int64_t begin = a.cuSeqLens[b];
  const int len = a.cuSeqLens[b + 1] - a.cuSeqLens[b];
  if (len <= 0) return;
  const int per = (len + gridDim.y - 1) / gridDim.y;
  const int r0 = blockIdx.y * per;
  const int r1 = min(len, r0 + per);
  const int start = a.seqStarts ? a.seqStarts[b] : 0;
  const int32_t* table = a.blockTable + int64_t(b) * a.maxBlocksPerSeq;
  for (int64_t i = int64_t(r0) * kChunks + threadIdx.x; i < int64_t(r1) * kChunks; i += blockDim.x) {
    const int r = int(i / kChunks), c = int(i % kChunks);
    if (begin + r >= a.dstRows) break;
    const int tok = start + r;
    const int64_t blk = tok >= 0 && tok / a.blockSize < a.maxBlocksPerSeq ? table[tok / a.blockSize] : -1;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (blk >= 0 && blk < a.numBlocks)
      v = reinterpret_cast<const uint4*>(a.cache + (blk * a.blockSize + tok % a.blockSize) * kHeadDimQK)[c];
    reinterpret_cast<uint4*>(a.dst + (begin + r) * kHeadDimQK)[c] = v;
  }
}

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__global__ void fillKernel(__nv_bfloat16* dst, int64_t n, uint64_t seed, float lo, float hi) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = splitmix64(seed * 0x9E3779B97F4A7C15ull + uint64_t(i));
    const float u = float(h >> 40) * (1.0f / 16777216.0f);  // 24 bits in [0, 1)
    dst[i] = __float2bfloat16(lo + (hi - lo) * u);
  }
}

}  // namespace

cudaError_t launchKvWrite(const KvWriteArgs& a, cudaStream_t stream) {
  if (a.tokens == 0) return cudaSuccess;
  const int warps = 4;
  kvWriteKernel<<<(a.tokens + warps - 1) / warps, warps * 32, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchContextGather(const GatherArgs& a, cudaStream_t stream) {
  if (a.batch == 0) return cudaSuccess;
  const int splits = a.batch > 128 ? 2 : a.batch > 64 ? 4 : 16;
  gatherKernel<<<dim3(a.batch, splits), 512, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchFillUniformBf16(__nv_bfloat16* dst, int64_t n, uint64_t seed, float lo, float hi,
                                  cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const int64_t blocks = (n + 255) / 256;
  fillKernel<<<int(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(dst, n, seed, lo, hi);
  return cudaGetLastError();
}

}  // namespace dcp
