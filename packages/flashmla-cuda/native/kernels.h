// Host-side launchers for the MLA kernels. Every launcher only enqueues work on `stream` and
// returns the launch status; none of them synchronizes.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstddef>
#include <cstdint>

namespace dcp {

constexpr int kHeadDimQK = 576;  // 512 latent kv_c + 64 rotated k_pe
constexpr int kHeadDimV = 512;
constexpr int kRopeDim = 64;
constexpr int kDecodeTileTokens = 32;  // cache tokens per decode tile

/** m16 row tiles of heads per decode CTA: 1 (<= 16 heads), 2 (<= 32) or 4. */
inline int decodeHeadTiles(int heads) { return heads <= 16 ? 1 : heads <= 32 ? 2 : 4; }

struct DecodeArgs {
  const __nv_bfloat16* q;      // [tokens, heads, 576]
  const __nv_bfloat16* cache;  // [numBlocks, blockSize, 576]
  const int32_t* blockTable;   // [numRows, maxBlocksPerSeq]
  const int32_t* seqLens;      // [tokens] local lengths
  const int32_t* tokenToRow;   // [tokens] block-table row per token, or nullptr (row = token)
  __nv_bfloat16* out;          // [tokens, heads, 512]
  float* lse;                  // [tokens, heads], natural log
  float* workspace;            // split-KV partials (decodeWorkspaceBytes)
  int64_t numBlocks;
  int blockSize;
  int maxBlocksPerSeq;
  int numRows;  // block-table rows (a tokenToRow entry outside [0, numRows) reads nothing)
  int tokens;
  int heads;
  int splits;  // from chooseDecodeSplits, or forced by the caller
  float scale;
};

/** Split count that fills `smCount` multiprocessors for this batch (1 means no combine pass). */
int chooseDecodeSplits(int tokens, int heads, int maxSeqLen, int smCount);
/** Bytes of fp32 workspace the decode needs for `splits` splits (0 when splits == 1). */
size_t decodeWorkspaceBytes(int tokens, int heads, int splits);
cudaError_t launchMlaDecode(const DecodeArgs& a, cudaStream_t stream);
/** The exact merge of split partials (launched by launchMlaDecode when splits > 1). */
cudaError_t launchMlaCombine(const DecodeArgs& a, cudaStream_t stream);

struct KvWriteArgs {
  const __nv_bfloat16* kvC;  // [tokens, >=512] with row stride kvCStride elements
  const __nv_bfloat16* kPe;  // [tokens, >=64] with row stride kPeStride elements
  const int32_t* slots;      // [tokens]; -1 = not owned by this rank, skipped
  __nv_bfloat16* cache;      // [numBlocks * blockSize, 576]
  int64_t numSlots;
  int64_t kvCStride;
  int64_t kPeStride;
  int tokens;
};
cudaError_t launchKvWrite(const KvWriteArgs& a, cudaStream_t stream);

struct GatherArgs {
  const __nv_bfloat16* cache;  // [numBlocks, blockSize, 576]
  __nv_bfloat16* dst;          // [cuSeqLens[batch], 576]
  const int32_t* blockTable;   // [batch, maxBlocksPerSeq]
  const int32_t* cuSeqLens;    // [batch + 1]
  const int32_t* seqStarts;    // [batch] or nullptr
  int64_t dstRows;             // rows of dst; rows past it are not written
  int64_t numBlocks;
  int blockSize;
  int maxBlocksPerSeq;
  int batch;
};
cudaError_t launchContextGather(const GatherArgs& a, cudaStream_t stream);

struct LseCorrectArgs {
  __nv_bfloat16* out;  // [batch, heads, dim], corrected in place
  const float* lses;   // [world, batch, heads], base e or 2
  float* globalLse;    // [batch, heads] natural log, or nullptr
  int world;
  int rank;
  int batch;
  int heads;
  int dim;
  bool base2;
};
cudaError_t launchLseCorrect(const LseCorrectArgs& a, cudaStream_t stream);

/** packed[b,h] = out[b,h,:] || high 16 bits of lse[b,h] || low 16 bits (bf16 lanes). */
struct LsePackArgs {
  const __nv_bfloat16* out;  // [rows, dim]
  const float* lse;          // [rows]
  __nv_bfloat16* packed;     // [rows, dim + 2]
  int64_t rows;
  int dim;
};
cudaError_t launchLsePack(const LsePackArgs& a, cudaStream_t stream);

/** The a2a combine over packed rows [batch, world, heads, dim + 2] -> out [batch, heads, dim]. */
struct A2aCombineArgs {
  const __nv_bfloat16* packed;
  __nv_bfloat16* out;
  float* globalLse;  // [batch, heads] natural log, or nullptr
  int world;
  int batch;
  int heads;
  int dim;
  bool base2;
};
cudaError_t launchA2aCombine(const A2aCombineArgs& a, cudaStream_t stream);

/** Fills n bf16 values with a hash of (seed, index) mapped uniformly to [lo, hi). */
cudaError_t launchFillUniformBf16(__nv_bfloat16* dst, int64_t n, uint64_t seed, float lo, float hi,
                                  cudaStream_t stream);

}  // namespace dcp
