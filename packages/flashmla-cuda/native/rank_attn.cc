// NativeRank: MLA decode (tuned and generic), KV write and context gather.
#include "rank.h"

namespace dcpjs {

Napi::Value Rank::DecodePlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "decodePlan")) return env.Null();
  Args a = args(info, "decodePlan");
  int tokens = int(a.integer("tokens", 0));
  int heads = int(a.integer("heads", 1, 4096));
  int maxSeqLen = int(a.integer("maxSeqLen", 0));
  int splits = a.obj.Get("splits").IsUndefined() ? 0 : int(a.integer("splits", 1, 4096));
  if (a.failed) return env.Null();
  if (splits == 0) splits = dcp::chooseDecodeSplits(tokens, heads, maxSeqLen, state->smCount);
  Napi::Object o = Napi::Object::New(env);
  o.Set("splits", splits);
  o.Set("workspaceBytes", double(dcp::decodeWorkspaceBytes(tokens, heads, splits)));
  return o;
}

Napi::Value Rank::MlaDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "mlaDecode")) return env.Null();
  Args a = args(info, "mlaDecode");
  dcp::DecodeArgs d{};
  d.tokens = int(a.integer("tokens", 0, 65535));
  d.heads = int(a.integer("heads", 1, 4096));
  d.numBlocks = a.integer("numBlocks", 1, INT32_MAX);
  d.blockSize = int(a.integer("blockSize", 1, 1 << 16));
  d.maxBlocksPerSeq = int(a.integer("maxBlocksPerSeq", 1, INT32_MAX));
  d.numRows = int(a.integer("numRows", 0, INT32_MAX));
  d.splits = int(a.integer("splits", 1, 4096));
  d.scale = float(a.number("scale"));
  if (a.failed) return env.Null();
  const size_t rows = size_t(d.tokens) * d.heads;
  d.q = static_cast<const __nv_bfloat16*>(a.view("q", rows * dcp::kHeadDimQK * 2, 16));
  d.cache = static_cast<const __nv_bfloat16*>(
      a.view("cache", size_t(d.numBlocks) * d.blockSize * dcp::kHeadDimQK * 2, 16));
  d.blockTable = static_cast<const int32_t*>(a.view("blockTable", size_t(d.numRows) * d.maxBlocksPerSeq * 4, 4));
  d.seqLens = static_cast<const int32_t*>(a.view("seqLens", size_t(d.tokens) * 4, 4));
  d.tokenToRow = static_cast<const int32_t*>(a.view("tokenToRow", size_t(d.tokens) * 4, 4, true));
  d.out = static_cast<__nv_bfloat16*>(a.view("out", rows * dcp::kHeadDimV * 2, 16));
  d.lse = static_cast<float*>(a.view("lse", rows * 4, 4));
  const size_t ws = dcp::decodeWorkspaceBytes(d.tokens, d.heads, d.splits);
  d.workspace = static_cast<float*>(a.view("workspace", ws, 16, ws == 0));
  if (a.failed) return env.Null();
  CUDA_RET(env, "mlaDecode", dcp::launchMlaDecode(d, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::KvWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "kvWrite")) return env.Null();
  Args a = args(info, "kvWrite");
  dcp::KvWriteArgs k{};
  k.tokens = int(a.integer("tokens", 0, INT32_MAX));
  k.numSlots = a.integer("numSlots", 1, INT64_MAX / 2048);
  k.kvCStride = a.integer("kvCStride", dcp::kHeadDimV, INT32_MAX);
  k.kPeStride = a.integer("kPeStride", dcp::kRopeDim, INT32_MAX);
  if (a.failed) return env.Null();
  if (k.kvCStride % 8 || k.kPeStride % 8) return a.fail("row strides must be multiples of 8 elements"), env.Null();
  const size_t nt = size_t(k.tokens);
  const size_t kvNeed = nt ? ((nt - 1) * k.kvCStride + dcp::kHeadDimV) * 2 : 0;
  const size_t peNeed = nt ? ((nt - 1) * k.kPeStride + dcp::kRopeDim) * 2 : 0;
  k.kvC = static_cast<const __nv_bfloat16*>(a.view("kvC", kvNeed, 16));
  k.kPe = static_cast<const __nv_bfloat16*>(a.view("kPe", peNeed, 16));
  k.slots = static_cast<const int32_t*>(a.view("slots", nt * 4, 4));
  k.cache = static_cast<__nv_bfloat16*>(a.view("cache", size_t(k.numSlots) * dcp::kHeadDimQK * 2, 16));
  if (a.failed) return env.Null();
  CUDA_RET(env, "kvWrite", dcp::launchKvWrite(k, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::ContextGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "contextGather")) return env.Null();
  Args a = args(info, "contextGather");
  dcp::GatherArgs g{};
  g.batch = int(a.integer("batch", 0, INT32_MAX));
  g.numBlocks = a.integer("numBlocks", 1, INT32_MAX);
  g.blockSize = int(a.integer("blockSize", 1, 1 << 16));
  g.maxBlocksPerSeq = int(a.integer("maxBlocksPerSeq", 1, INT32_MAX));
  const int64_t totalTokens = a.integer("totalTokens", 0, INT32_MAX);
  if (a.failed) return env.Null();
  g.dstRows = totalTokens;
  g.cache = static_cast<const __nv_bfloat16*>(
      a.view("cache", size_t(g.numBlocks) * g.blockSize * dcp::kHeadDimQK * 2, 16));
  g.dst = static_cast<__nv_bfloat16*>(a.view("dst", size_t(totalTokens) * dcp::kHeadDimQK * 2, 16));
  g.blockTable = static_cast<const int32_t*>(a.view("blockTable", size_t(g.batch) * g.maxBlocksPerSeq * 4, 4));
  g.cuSeqLens = static_cast<const int32_t*>(a.view("cuSeqLens", size_t(g.batch + 1) * 4, 4));
  g.seqStarts = static_cast<const int32_t*>(a.view("seqStarts", size_t(g.batch) * 4, 4, true));
  if (a.failed) return env.Null();
  CUDA_RET(env, "contextGather", dcp::launchContextGather(g, state->stream), env.Null());
  return env.Undefined();
}

int Rank::dtypeBytes(Args& a, const char* field) {
  if (a.failed) return 0;
  Napi::Value v = a.obj.Get(field);
  std::string d = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (d == "f32") return 4;
  if (d == "bf16") return 2;
  a.fail(std::string("'") + field + "' must be 'f32' or 'bf16'");
  return 0;
}

Napi::Value Rank::GenericDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "mlaDecode")) return env.Null();
  Args a = args(info, "mlaDecode");
  dcp::GenericDecodeArgs d{};
  d.tokens = int(a.integer("tokens", 0, 65535));
  d.heads = int(a.integer("heads", 1, 65535));
  d.numBlocks = a.integer("numBlocks", 1, INT32_MAX);
  d.blockSize = int(a.integer("blockSize", 1, 1 << 16));
  d.maxBlocksPerSeq = int(a.integer("maxBlocksPerSeq", 1, INT32_MAX));
  d.numRows = int(a.integer("numRows", 0, INT32_MAX));
  d.width = int(a.integer("width", 1, 8192));
  d.dv = int(a.integer("dv", 1, 8192));
  d.scale = float(a.number("scale"));
  const int qb = dtypeBytes(a, "qDtype"), cb = dtypeBytes(a, "cacheDtype"), ob = dtypeBytes(a, "outDtype");
  if (a.failed) return env.Null();
  if (d.dv > d.width) return a.fail("'dv' must not exceed 'width'"), env.Null();
  d.qF32 = qb == 4;
  d.cacheF32 = cb == 4;
  d.outF32 = ob == 4;
  const size_t rows = size_t(d.tokens) * d.heads;
  d.q = a.view("q", rows * d.width * qb, qb);
  d.cache = a.view("cache", size_t(d.numBlocks) * d.blockSize * d.width * cb, cb);
  d.blockTable = static_cast<const int32_t*>(a.view("blockTable", size_t(d.numRows) * d.maxBlocksPerSeq * 4, 4));
  d.seqLens = static_cast<const int32_t*>(a.view("seqLens", size_t(d.tokens) * 4, 4));
  d.tokenToRow = static_cast<const int32_t*>(a.view("tokenToRow", size_t(d.tokens) * 4, 4, true));
  d.out = a.view("out", rows * d.dv * ob, ob);
  d.lse = static_cast<float*>(a.view("lse", rows * 4, 4));
  if (a.failed) return env.Null();
  CUDA_RET(env, "mlaDecode", dcp::launchGenericDecode(d, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::GenericKvWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "kvWrite")) return env.Null();
  Args a = args(info, "kvWrite");
  dcp::GenericKvWriteArgs k{};
  k.tokens = int(a.integer("tokens", 0, INT32_MAX));
  k.numSlots = a.integer("numSlots", 1, INT64_MAX / 65536);
  k.kvWidth = int(a.integer("kvWidth", 1, 8192));
  k.peWidth = int(a.integer("peWidth", 0, 8192));
  const int ib = dtypeBytes(a, "inDtype"), cb = dtypeBytes(a, "cacheDtype");
  if (a.failed) return env.Null();
  k.inF32 = ib == 4;
  k.cacheF32 = cb == 4;
  k.kvC = a.view("kvC", size_t(k.tokens) * k.kvWidth * ib, ib);
  k.kPe = a.view("kPe", size_t(k.tokens) * k.peWidth * ib, ib);
  k.slots = static_cast<const int32_t*>(a.view("slots", size_t(k.tokens) * 4, 4));
  k.cache = a.view("cache", size_t(k.numSlots) * (k.kvWidth + k.peWidth) * cb, cb);
  if (a.failed) return env.Null();
  CUDA_RET(env, "kvWrite", dcp::launchGenericKvWrite(k, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::GenericGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "contextGather")) return env.Null();
  Args a = args(info, "contextGather");
  dcp::GenericGatherArgs g{};
  g.batch = int(a.integer("batch", 0, INT32_MAX));
  g.numBlocks = a.integer("numBlocks", 1, INT32_MAX);
  g.blockSize = int(a.integer("blockSize", 1, 1 << 16));
  g.maxBlocksPerSeq = int(a.integer("maxBlocksPerSeq", 1, INT32_MAX));
  g.width = int(a.integer("width", 1, 1 << 16));
  g.dstRows = a.integer("totalTokens", 0, INT32_MAX);
  g.elemBytes = dtypeBytes(a, "dtype");
  if (a.failed) return env.Null();
  const size_t eb = size_t(g.elemBytes);
  g.cache = a.view("cache", size_t(g.numBlocks) * g.blockSize * g.width * eb, eb);
  g.dst = a.view("dst", size_t(g.dstRows) * g.width * eb, eb);
  g.blockTable = static_cast<const int32_t*>(a.view("blockTable", size_t(g.batch) * g.maxBlocksPerSeq * 4, 4));
  g.cuSeqLens = static_cast<const int32_t*>(a.view("cuSeqLens", size_t(g.batch + 1) * 4, 4));
  g.seqStarts = static_cast<const int32_t*>(a.view("seqStarts", size_t(g.batch) * 4, 4, true));
  if (a.failed) return env.Null();
  CUDA_RET(env, "contextGather", dcp::launchGenericGather(g, state->stream), env.Null());
  return env.Undefined();
}

}  // namespace dcpjs
