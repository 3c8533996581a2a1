// Paged MLA decode: softmax(scale * q.K^T) V over the latent cache, with the natural-log LSE.
//
// One CTA = (head group of 16*MT heads, KV split, query token). Eight warps share each 32-token
// tile, streamed through a cp.async ring. S = Q K^T and O += P V both run on bf16 tensor cores
// (mma.m16n8k16, fp32 accumulation); the 512 output columns are split over the eight warps
// (64 each), so every warp keeps only MT*16 x 64 fp32 accumulators. Splits write fp32 partials
// and their LSE to the workspace, and decode_plan.cu's kernel combines them exactly.
#include <cfloat>
#include <cmath>

#include "kernels.h"
#include "ptx.cuh"

namespace dcp {
namespace {

constexpr int kBN = kDecodeTileTokens;       // cache tokens per tile
constexpr int kThreads = 256;                // 8 warps
constexpr int kChunks = kHeadDimQK / 8;      // 16-byte chunks per 576-wide row
constexpr int kRow = kHeadDimQK + 8;         // padded smem row (bf16): conflict-free ldmatrix
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int MT>
struct Cfg {
  static constexpr int M = 16 * MT;  // heads per CTA
  // QK warp tiling: WM m-tiles x WN 8-token n-tiles per warp, the 576-deep reduction split in
  // two halves over warp groups (partials summed in the softmax). 8 warps cover M x kBN.
  static constexpr int WM = 1;
  static constexpr int WN = MT == 1 ? 1 : MT == 2 ? 2 : 4;
  static constexpr int kSplitK = 2;
  static constexpr int kSteps = kHeadDimQK / 16 / kSplitK;  // 18 k16 steps per warp
  static constexpr bool qInRegs = WM == 1;                   // 18 x 4 registers of Q fragments
  static constexpr int stages = MT == 4 ? 3 : 4;
  static constexpr int sStride = kBN + 4;  // fp32 scores
  static constexpr int pStride = kBN + 8;  // bf16 probabilities
  static constexpr size_t qBytes = size_t(M) * kRow * 2;
  static constexpr size_t kvBytes = size_t(stages) * kBN * kRow * 2;
  static constexpr size_t sBytes = size_t(kSplitK) * M * sStride * 4;
  static constexpr size_t pBytes = size_t(M) * pStride * 2;
  static constexpr size_t smem = qBytes + kvBytes + sBytes + pBytes + 3 * M * 4;
  static_assert((MT / WM) * (4 / WN) * kSplitK == 8, "warp tiling must cover 8 warps");
};

template <int MT>
__global__ void __launch_bounds__(kThreads, 1) mlaDecodeKernel(const DecodeArgs a) {
  using C = Cfg<MT>;
  extern __shared__ __align__(128) uint8_t smem[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* sKV = reinterpret_cast<__nv_bfloat16*>(smem + C::qBytes);
  float* sS = reinterpret_cast<float*>(smem + C::qBytes + C::kvBytes);
  __nv_bfloat16* sP = reinterpret_cast<__nv_bfloat16*>(smem + C::qBytes + C::kvBytes + C::sBytes);
  float* sAlpha = reinterpret_cast<float*>(smem + C::qBytes + C::kvBytes + C::sBytes + C::pBytes);
  float* sRowM = sAlpha + C::M;
  float* sRowL = sRowM + C::M;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int h0 = blockIdx.x * C::M;
  const int split = blockIdx.y;
  const int t = blockIdx.z;
  // Block-table row of this token; a row outside the table, or a length past what the row can
  // address, is clamped so a bad index never reads outside the cache.
  const int row = a.tokenToRow ? a.tokenToRow[t] : t;
  const bool rowOk = row >= 0 && row < a.numRows;
  const int64_t capacity = int64_t(a.maxBlocksPerSeq) * a.blockSize;
  const int len = rowOk ? int(min(int64_t(max(0, a.seqLens[t])), capacity)) : 0;
  const int nTiles = (len + kBN - 1) / kBN;
  const int perSplit = (nTiles + a.splits - 1) / a.splits;
  const int tileBegin = split * perSplit;
  const int nMine = max(0, min(nTiles, tileBegin + perSplit) - tileBegin);
  const int32_t* table = a.blockTable + int64_t(rowOk ? row : 0) * a.maxBlocksPerSeq;

  // Queries of this head group (rows past `heads` are zero-filled).
  for (int c = tid; c < C::M * kChunks; c += kThreads) {
    const int r = c / kChunks, k = c - r * kChunks;
    const int h = h0 + r;
    const __nv_bfloat16* src = a.q;
    int bytes = 0;
    if (h < a.heads) {
      src = a.q + (int64_t(t) * a.heads + h) * kHeadDimQK + k * 8;
      bytes = 16;
    }
    cpAsync16(sQ + r * kRow + k * 8, src, bytes);
  }

  // Tile loads: thread -> (row tid / 8, chunks tid % 8 + 8 i): one block lookup per row and
  // tile, nine 16-byte cp.async, each group of 8 threads covering 128 contiguous bytes.
  const int ldRow = tid >> 3, ldChunk = tid & 7;
  auto loadTile = [&](int tile, int stage) {
    __nv_bfloat16* dst = sKV + stage * (kBN * kRow) + ldRow * kRow + ldChunk * 8;
    const int tok = tile * kBN + ldRow;
    const __nv_bfloat16* src = a.cache;
    int bytes = 0;
    if (tok < len) {
      const int64_t blk = table[tok / a.blockSize];
      if (blk >= 0 && blk < a.numBlocks) {
        src = a.cache + (blk * a.blockSize + tok % a.blockSize) * kHeadDimQK + ldChunk * 8;
        bytes = 16;
      }
    }
#pragma unroll
    for (int i = 0; i < kChunks / 8; ++i) cpAsync16(dst + i * 64, bytes ? src + i * 64 : src, bytes);
  };

  // Prologue: the first stage's group also carries Q.
#pragma unroll
  for (int s = 0; s < C::stages - 1; ++s) {
    if (s < nMine) loadTile(tileBegin + s, s);
    cpAsyncCommit();
  }

  // Softmax bookkeeping: TPR consecutive threads own one head row.
  constexpr int TPR = kThreads / C::M;
  constexpr int CPT = kBN / TPR;
  const int sRow = tid / TPR, sCol = (tid % TPR) * CPT;
  float rowMax = -INFINITY, rowSum = 0.f;
  const float scaleLog2 = a.scale * kLog2e;

  float o[MT][8][4];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[m][n][e] = 0.f;

  const int g = lane >> 2, tq = lane & 3;
  const int qkK = warp % C::kSplitK;                       // reduction half
  const int qkNg = (warp / C::kSplitK) % (4 / C::WN);        // n-tile group
  const int qkMg = warp / C::kSplitK / (4 / C::WN);          // m-tile group
  const int qkM0 = qkMg * C::WM, qkN0 = qkNg * C::WN, qkK0 = qkK * C::kSteps;
  float* sSmine = sS + qkK * (C::M * C::sStride);
  uint32_t qf[C::qInRegs ? C::kSteps : 1][4];  // this warp's Q fragments when they fit

  for (int i = 0; i < nMine; ++i) {
    cpAsyncWait<C::stages - 2>();
    __syncthreads();
    if (i + C::stages - 1 < nMine) loadTile(tileBegin + i + C::stages - 1, (i + C::stages - 1) % C::stages);
    cpAsyncCommit();
    const __nv_bfloat16* kv = sKV + (i % C::stages) * (kBN * kRow);

    // ---- S = Q K^T (this warp: WM m-tiles x WN n-tiles over its half of the 576 columns)
    if (C::qInRegs && i == 0) {
#pragma unroll
      for (int kk = 0; kk < C::kSteps; ++kk)
        ldsmX4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3],
               sQ + (qkM0 * 16 + (lane & 15)) * kRow + (qkK0 + kk) * 16 + (lane >> 4) * 8);
    }
    {
      float acc[C::WM][C::WN][4];
#pragma unroll
      for (int m = 0; m < C::WM; ++m)
#pragma unroll
        for (int n = 0; n < C::WN; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[m][n][e] = 0.f;
      // ldmatrix rows: WN == 1 -> x2 over 8 tokens; WN >= 2 -> one x4 per 16 tokens.
      const __nv_bfloat16* kRowPtr =
          kv + (qkN0 * 8 + (lane & 7) + (C::WN >= 2 ? (lane >> 4) * 8 : 0)) * kRow + ((lane >> 3) & 1) * 8;
#pragma unroll
      for (int kk = 0; kk < C::kSteps; ++kk) {
        const int kOff = (qkK0 + kk) * 16;
        uint32_t b[C::WN][2];
        if constexpr (C::WN >= 2) {
#pragma unroll
          for (int np = 0; np < C::WN / 2; ++np)
            ldsmX4(b[2 * np][0], b[2 * np][1], b[2 * np + 1][0], b[2 * np + 1][1], kRowPtr + np * 16 * kRow + kOff);
        } else {
          ldsmX2(b[0][0], b[0][1], kRowPtr + kOff);
        }
#pragma unroll
        for (int m = 0; m < C::WM; ++m) {
          uint32_t af[4];
          if constexpr (C::qInRegs) {
#pragma unroll
            for (int e = 0; e < 4; ++e) af[e] = qf[kk][e];
          } else {
            ldsmX4(af[0], af[1], af[2], af[3], sQ + ((qkM0 + m) * 16 + (lane & 15)) * kRow + kOff + (lane >> 4) * 8);
          }
#pragma unroll
          for (int n = 0; n < C::WN; ++n) mmaBf16(acc[m][n], af, b[n][0], b[n][1]);
        }
      }
#pragma unroll
      for (int m = 0; m < C::WM; ++m)
#pragma unroll
        for (int n = 0; n < C::WN; ++n) {
          float* dst = sSmine + ((qkM0 + m) * 16 + g) * C::sStride + (qkN0 + n) * 8 + 2 * tq;
          dst[0] = acc[m][n][0];
          dst[1] = acc[m][n][1];
          dst[8 * C::sStride] = acc[m][n][2];
          dst[8 * C::sStride + 1] = acc[m][n][3];
        }
    }
    __syncthreads();

    // ---- online softmax over this tile (log2 domain)
    {
      const int tokBase = (tileBegin + i) * kBN + sCol;
      float s[CPT];
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < CPT; ++j) {
        float v = sS[sRow * C::sStride + sCol + j];
        v += sS[C::M * C::sStride + sRow * C::sStride + sCol + j];
        s[j] = tokBase + j < len ? v * scaleLog2 : -INFINITY;
        mx = fmaxf(mx, s[j]);
      }
#pragma unroll
      for (int off = TPR / 2; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float mNew = fmaxf(rowMax, mx);  // finite: every tile holds a valid token
      const float alpha = exp2f(rowMax - mNew);
      float ps = 0.f;
#pragma unroll
      for (int j = 0; j < CPT; ++j) {
        const __nv_bfloat16 pb = __float2bfloat16(exp2f(s[j] - mNew));
        sP[sRow * C::pStride + sCol + j] = pb;
        ps += __bfloat162float(pb);
      }
#pragma unroll
      for (int off = TPR / 2; off > 0; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
      rowSum = rowSum * alpha + ps;
      rowMax = mNew;
      if (tid % TPR == 0) sAlpha[sRow] = alpha;
    }
    __syncthreads();

    // ---- O = O * alpha + P V (this warp: all heads x output columns [64 warp, 64 warp + 64))
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      const float a0 = sAlpha[m * 16 + g], a1 = sAlpha[m * 16 + g + 8];
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        o[m][n][0] *= a0;
        o[m][n][1] *= a0;
        o[m][n][2] *= a1;
        o[m][n][3] *= a1;
      }
    }
#pragma unroll
    for (int ks = 0; ks < kBN / 16; ++ks) {
      uint32_t bf[8][2];
      const __nv_bfloat16* vPtr =
          kv + (ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kRow + warp * 64 + (lane >> 4) * 8;
#pragma unroll
      for (int np = 0; np < 4; ++np) ldsmX4T(bf[2 * np][0], bf[2 * np][1], bf[2 * np + 1][0], bf[2 * np + 1][1], vPtr + np * 16);
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        uint32_t af[4];
        ldsmX4(af[0], af[1], af[2], af[3], sP + (m * 16 + (lane & 15)) * C::pStride + ks * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int n = 0; n < 8; ++n) mmaBf16(o[m][n], af, bf[n][0], bf[n][1]);
      }
    }
  }
  cpAsyncWait<0>();

  // ---- epilogue: normalise, write final output or split partials
  if (tid % TPR == 0) {
    sRowM[sRow] = rowMax;
    sRowL[sRow] = rowSum;
  }
  __syncthreads();
  const bool direct = a.splits == 1;
#pragma unroll
  for (int m = 0; m < MT; ++m) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = m * 16 + g + half * 8;
      const int h = h0 + r;
      if (h >= a.heads) continue;
      const float l = sRowL[r];
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int64_t orow = direct ? int64_t(t) * a.heads + h : (int64_t(t) * a.splits + split) * a.heads + h;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        const int col = warp * 64 + n * 8 + 2 * tq;
        const float v0 = o[m][n][half * 2] * inv, v1 = o[m][n][half * 2 + 1] * inv;
        if (direct) {
          *reinterpret_cast<__nv_bfloat162*>(a.out + orow * kHeadDimV + col) = __floats2bfloat162_rn(v0, v1);
        } else {
          *reinterpret_cast<float2*>(a.workspace + orow * kHeadDimV + col) = make_float2(v0, v1);
        }
      }
    }
  }
  if (tid < C::M && h0 + tid < a.heads) {
    const float l = sRowL[tid];
    const float lse = l > 0.f ? (sRowM[tid] + log2f(l)) * kLn2 : -INFINITY;
    if (direct) {
      a.lse[int64_t(t) * a.heads + h0 + tid] = lse;
    } else {
      const int64_t partRows = int64_t(a.tokens) * a.splits * a.heads;
      a.workspace[partRows * kHeadDimV + (int64_t(t) * a.splits + split) * a.heads + h0 + tid] = lse;
    }
  }
}

template <int MT>
cudaError_t launchMT(const DecodeArgs& a, cudaStream_t stream) {
  using C = Cfg<MT>;
  static_assert(C::smem <= 227 * 1024, "shared memory budget");
  cudaError_t e = cudaFuncSetAttribute(mlaDecodeKernel<MT>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(C::smem));
  if (e != cudaSuccess) return e;
  const dim3 grid((a.heads + C::M - 1) / C::M, a.splits, a.tokens);
  mlaDecodeKernel<MT><<<grid, kThreads, C::smem, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchMlaDecode(const DecodeArgs& a, cudaStream_t stream) {
  if (a.tokens == 0 || a.heads == 0) return cudaSuccess;
  cudaError_t e;
  switch (decodeHeadTiles(a.heads)) {
    case 1: e = launchMT<1>(a, stream); break;
    case 2: e = launchMT<2>(a, stream); break;
    default: e = launchMT<4>(a, stream); break;
  }
  if (e != cudaSuccess || a.splits == 1) return e;
  return launchMlaCombine(a, stream);
}

}  // namespace dcp
