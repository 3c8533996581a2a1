// Launchers of the generic (any width, f32/bf16) kernels in generic.cu.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdint>

namespace dcp {

struct GenericDecodeArgs {
  const void* q;       // [tokens, heads, width] f32 or bf16
  const void* cache;   // [numBlocks, blockSize, width] f32 or bf16
  const int32_t* blockTable;
  const int32_t* seqLens;
  const int32_t* tokenToRow;  // or nullptr
  void* out;                  // [tokens, heads, dv] f32 or bf16 (values = first dv cache columns)
  float* lse;                 // [tokens, heads] natural log
  int64_t numBlocks;
  int blockSize;
  int maxBlocksPerSeq;
  int numRows;
  int tokens;
  int heads;
  int width;
  int dv;
  float scale;
  bool qF32;
  bool cacheF32;
  bool outF32;
};
cudaError_t launchGenericDecode(const GenericDecodeArgs& a, cudaStream_t stream);

struct GenericKvWriteArgs {
  const void* kvC;  // [tokens, kvWidth]
  const void* kPe;  // [tokens, peWidth], same dtype as kvC
  const int32_t* slots;
  void* cache;      // [numSlots, kvWidth + peWidth]
  int64_t numSlots;
  int tokens;
  int kvWidth;
  int peWidth;
  bool inF32;
  bool cacheF32;
};
cudaError_t launchGenericKvWrite(const GenericKvWriteArgs& a, cudaStream_t stream);

struct GenericGatherArgs {
  const void* cache;  // [numBlocks, blockSize, width] of 2- or 4-byte elements
  void* dst;          // [dstRows, width]
  const int32_t* blockTable;
  const int32_t* cuSeqLens;
  const int32_t* seqStarts;  // or nullptr
  int64_t dstRows;
  int64_t numBlocks;
  int blockSize;
  int maxBlocksPerSeq;
  int batch;
  int width;
  int elemBytes;
};
cudaError_t launchGenericGather(const GenericGatherArgs& a, cudaStream_t stream);

struct LseCorrectF32Args {
  float* out;
  const float* lses;
  float* globalLse;
  int world;
  int rank;
  int batch;
  int heads;
  int dim;
  bool base2;
};
cudaError_t launchLseCorrectF32(const LseCorrectF32Args& a, cudaStream_t stream);

}  // namespace dcp

namespace dcp {

/** Fills n elements of 2 or 4 bytes with a bit pattern. */
cudaError_t launchFillPattern(void* dst, int64_t n, int elemBytes, uint32_t bits, cudaStream_t stream);

/** dst[r, dstCol + j] = src[r, srcCol + j] for j < width, with an f32/bf16 cast (or same-size copy). */
struct CopyColumnsArgs {
  const void* src;
  void* dst;
  int64_t rows;
  int srcCols, dstCols, srcCol, dstCol, width;
  int srcKind, dstKind;  // 0 f32, 1 bf16, 2 i32 (i32 only to i32)
};
cudaError_t launchCopyColumns(const CopyColumnsArgs& a, cudaStream_t stream);

/** dst[i, :] = src[indices[i], :] for 2- or 4-byte elements. */
struct GatherRowsArgs {
  const void* src;
  const int32_t* indices;
  void* dst;
  int64_t n, srcRows;
  int cols, elemBytes;
};
cudaError_t launchGatherRows(const GatherRowsArgs& a, cudaStream_t stream);

/** f32 a2a: pack out [rows, dim] + lse into [rows, dim + 1]; combine packed [batch, world, heads, dim + 1]. */
cudaError_t launchLsePackF32(const float* out, const float* lse, float* packed, int64_t rows, int dim, cudaStream_t s);
cudaError_t launchA2aCombineF32(const float* packed, float* out, float* globalLse, int world, int batch, int heads,
                                int dim, bool base2, cudaStream_t s);

}  // namespace dcp
