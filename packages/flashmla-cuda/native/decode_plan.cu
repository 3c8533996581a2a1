// The split-KV side of the MLA decode: how many splits to use, the workspace they need, and
// the kernel that merges the split partials exactly (by their LSEs).
#include <cfloat>
#include <cmath>

#include "kernels.h"

namespace dcp {
namespace {

// Exact merge of the split partials of one (token, head). 512 threads: four groups of 128 each
// take every fourth split (float4 columns, several loads in flight), then sum through smem.
constexpr int kCombineGroups = 4;
__global__ void __launch_bounds__(512) mlaCombineKernel(const DecodeArgs a) {
  extern __shared__ float sW[];  // split weights, then 1 / sum
  __shared__ float4 sAcc[kCombineGroups - 1][kHeadDimV / 4];
  __shared__ float sLse;
  const int h = blockIdx.x, t = blockIdx.y;
  const int64_t partRows = int64_t(a.tokens) * a.splits * a.heads;
  const float* lsePart = a.workspace + partRows * kHeadDimV;
  if (threadIdx.x < 32) {
    float mx = -INFINITY;
    for (int s = threadIdx.x; s < a.splits; s += 32) mx = fmaxf(mx, lsePart[(int64_t(t) * a.splits + s) * a.heads + h]);
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    float sum = 0.f;
    for (int s = threadIdx.x; s < a.splits; s += 32) {
      const float l = lsePart[(int64_t(t) * a.splits + s) * a.heads + h];
      const float w = mx == -INFINITY ? 0.f : __expf(l - mx);
      sW[s] = w;
      sum += w;
    }
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (threadIdx.x == 0) {
      sLse = sum > 0.f ? mx + logf(sum) : -INFINITY;
      sW[a.splits] = sum > 0.f ? 1.f / sum : 0.f;
    }
  }
  __syncthreads();
  const int c4 = threadIdx.x % (kHeadDimV / 4), grp = threadIdx.x / (kHeadDimV / 4);
  const int64_t rowStride = int64_t(a.heads) * kHeadDimV;  // between splits
  const float4* src = reinterpret_cast<const float4*>(a.workspace + (int64_t(t) * a.splits * a.heads + h) * kHeadDimV) + c4;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
  for (int s = grp; s < a.splits; s += kCombineGroups) {
    const float w = sW[s];
    if (w != 0.f) {
      const float4 v = src[s * rowStride / 4];
      acc.x += w * v.x;
      acc.y += w * v.y;
      acc.z += w * v.z;
      acc.w += w * v.w;
    }
  }
  if (grp > 0) sAcc[grp - 1][c4] = acc;
  __syncthreads();
  if (grp == 0) {
    const float inv = sW[a.splits];
#pragma unroll
    for (int g = 0; g < kCombineGroups - 1; ++g) {
      const float4 v = sAcc[g][c4];
      acc.x += v.x;
      acc.y += v.y;
      acc.z += v.z;
      acc.w += v.w;
    }
    __nv_bfloat16* dst = a.out + (int64_t(t) * a.heads + h) * kHeadDimV + c4 * 4;
    reinterpret_cast<__nv_bfloat162*>(dst)[0] = __floats2bfloat162_rn(acc.x * inv, acc.y * inv);
    reinterpret_cast<__nv_bfloat162*>(dst)[1] = __floats2bfloat162_rn(acc.z * inv, acc.w * inv);
    if (threadIdx.x == 0) a.lse[int64_t(t) * a.heads + h] = sLse;
  }
}

}  // namespace

cudaError_t launchMlaCombine(const DecodeArgs& a, cudaStream_t stream) {
  const dim3 grid(a.heads, a.tokens);
  mlaCombineKernel<<<grid, kCombineGroups * kHeadDimV / 4, (a.splits + 1) * sizeof(float), stream>>>(a);
  return cudaGetLastError();
}

int chooseDecodeSplits(int tokens, int heads, int maxSeqLen, int smCount) {
  const int nTiles = (maxSeqLen + kDecodeTileTokens - 1) / kDecodeTileTokens;
  if (nTiles <= 1 || tokens <= 0) return 1;
  const int m = 16 * decodeHeadTiles(heads);
  const int groups = (heads + m - 1) / m;
  const int64_t base = int64_t(tokens) * groups;
  // Costs in units of one tile's streaming time: every CTA pays ~2 tiles of fixed latency;
  // with splits it also writes an fp32 partial (M x 512 x 4 bytes), and the combine pass
  // reads them all back and costs a launch.
  const double tileBytes = double(kDecodeTileTokens) * kHeadDimQK * 2;
  const double partial = double(m) * kHeadDimV * 4 / tileBytes;
  int best = 1;
  double bestCost = 1e300;
  const int maxSplits = nTiles < 256 ? nTiles : 256;
  for (int s = 1; s <= maxSplits; ++s) {
    const int64_t waves = (base * s + smCount - 1) / smCount;
    const int per = (nTiles + s - 1) / s;
    double cost = double(waves) * (per + 2.0 + (s > 1 ? partial : 0.0));
    // ... plus the combine's serial rounds over the splits (4 groups, loads 4 deep).
    if (s > 1) cost += 4.0 + double(base) * s * partial / smCount + s / 16.0;
    if (cost < bestCost - 1e-9) {
      bestCost = cost;
      best = s;
    }
  }
  return best;
}

size_t decodeWorkspaceBytes(int tokens, int heads, int splits) {
  if (splits <= 1) return 0;
  const size_t rows = size_t(tokens) * splits * heads;
  return rows * kHeadDimV * 4 + rows * 4;
}

}  // namespace dcp
