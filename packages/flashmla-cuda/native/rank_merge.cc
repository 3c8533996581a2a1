// NativeRank: the DCP merges (ag_rs correction, a2a pack/combine) and small data-movement ops.
#include "rank.h"

namespace dcpjs {

// decodePlan({tokens, heads, maxSeqLen, splits?}) -> {splits, workspaceBytes}

Napi::Value Rank::LseCorrect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "lseCorrect")) return env.Null();
  Args a = args(info, "lseCorrect");
  const int world = int(a.integer("world", 1, 1024));
  const int rank = int(a.integer("rank", 0, 1023));
  const int batch = int(a.integer("batch", 0));
  const int heads = int(a.integer("heads", 1, 1 << 16));
  const int dim = int(a.integer("dim", 1, 1 << 16));
  const bool base2 = a.obj.Get("base2").ToBoolean().Value();
  const int ob = a.obj.Get("dtype").IsUndefined() ? 2 : dtypeBytes(a, "dtype");
  if (a.failed) return env.Null();
  if (rank >= world) return a.fail("'rank' must be below 'world'"), env.Null();
  const size_t rows = size_t(batch) * heads;
  void* out = a.view("out", rows * dim * ob, ob);
  const float* lses = static_cast<const float*>(a.view("lses", rows * world * 4, 4));
  float* g = static_cast<float*>(a.view("globalLse", rows * 4, 4, true));
  if (a.failed) return env.Null();
  cudaError_t e;
  if (ob == 4) {
    e = dcp::launchLseCorrectF32({static_cast<float*>(out), lses, g, world, rank, batch, heads, dim, base2}, state->stream);
  } else {
    e = dcp::launchLseCorrect({static_cast<__nv_bfloat16*>(out), lses, g, world, rank, batch, heads, dim, base2}, state->stream);
  }
  CUDA_RET(env, "lseCorrect", e, env.Null());
  return env.Undefined();
}

Napi::Value Rank::LsePack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "lsePack")) return env.Null();
  Args a = args(info, "lsePack");
  dcp::LsePackArgs c{};
  c.rows = a.integer("rows", 0, INT32_MAX);
  c.dim = int(a.integer("dim", 1, 1 << 16));
  if (a.failed) return env.Null();
  c.out = static_cast<const __nv_bfloat16*>(a.view("out", size_t(c.rows) * c.dim * 2, 2));
  c.lse = static_cast<const float*>(a.view("lse", size_t(c.rows) * 4, 4));
  c.packed = static_cast<__nv_bfloat16*>(a.view("packed", size_t(c.rows) * (c.dim + 2) * 2, 2));
  if (a.failed) return env.Null();
  CUDA_RET(env, "lsePack", dcp::launchLsePack(c, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::A2aCombine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "a2aCombine")) return env.Null();
  Args a = args(info, "a2aCombine");
  dcp::A2aCombineArgs c{};
  c.world = int(a.integer("world", 1, 1024));
  c.batch = int(a.integer("batch", 0));
  c.heads = int(a.integer("heads", 1, 1 << 16));
  c.dim = int(a.integer("dim", 1, 1 << 16));
  c.base2 = a.obj.Get("base2").ToBoolean().Value();
  if (a.failed) return env.Null();
  const size_t rows = size_t(c.batch) * c.heads;
  c.packed = static_cast<const __nv_bfloat16*>(a.view("packed", rows * c.world * (c.dim + 2) * 2, 2));
  c.out = static_cast<__nv_bfloat16*>(a.view("out", rows * c.dim * 2, 2));
  c.globalLse = static_cast<float*>(a.view("globalLse", rows * 4, 4, true));
  if (a.failed) return env.Null();
  CUDA_RET(env, "a2aCombine", dcp::launchA2aCombine(c, state->stream), env.Null());
  return env.Undefined();
}

// Element size of a dtype name: "f32" -> 4, "bf16" -> 2, anything else -> 0 (error).

Napi::Value Rank::FillPattern(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "fill")) return env.Null();
  Args a = args(info, "fill");
  const int64_t count = a.integer("count", 0, INT64_MAX / 8);
  const int64_t eb = a.integer("elemBytes", 2, 4);
  const double bits = a.number("bits");
  if (a.failed) return env.Null();
  if (eb == 3) return a.fail("'elemBytes' must be 2 or 4"), env.Null();
  void* dst = a.view("dst", size_t(count) * eb, size_t(eb));
  if (a.failed) return env.Null();
  CUDA_RET(env, "fill", dcp::launchFillPattern(dst, count, int(eb), uint32_t(int64_t(bits)), state->stream), env.Null());
  return env.Undefined();
}

int Rank::kindOf(Args& a, const char* field) {
  if (a.failed) return 0;
  Napi::Value v = a.obj.Get(field);
  std::string d = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (d == "f32") return 0;
  if (d == "bf16") return 1;
  if (d == "i32") return 2;
  a.fail(std::string("'") + field + "' must be 'f32', 'bf16' or 'i32'");
  return 0;
}

Napi::Value Rank::CopyColumns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "copyColumns")) return env.Null();
  Args a = args(info, "copyColumns");
  dcp::CopyColumnsArgs c{};
  c.rows = a.integer("rows", 0, INT32_MAX);
  c.srcCols = int(a.integer("srcCols", 0, INT32_MAX));
  c.dstCols = int(a.integer("dstCols", 0, INT32_MAX));
  c.srcCol = int(a.integer("srcCol", 0, INT32_MAX));
  c.dstCol = int(a.integer("dstCol", 0, INT32_MAX));
  c.width = int(a.integer("width", 0, INT32_MAX));
  c.srcKind = kindOf(a, "srcDtype");
  c.dstKind = kindOf(a, "dstDtype");
  if (a.failed) return env.Null();
  if (c.srcCol + c.width > c.srcCols || c.dstCol + c.width > c.dstCols)
    return a.fail("column range outside the source or destination rows"), env.Null();
  if ((c.srcKind == 2) != (c.dstKind == 2)) return a.fail("i32 copies only to i32"), env.Null();
  const size_t sb = c.srcKind == 1 ? 2 : 4, db = c.dstKind == 1 ? 2 : 4;
  c.src = a.view("src", size_t(c.rows) * c.srcCols * sb, sb);
  c.dst = a.view("dst", size_t(c.rows) * c.dstCols * db, db);
  if (a.failed) return env.Null();
  CUDA_RET(env, "copyColumns", dcp::launchCopyColumns(c, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::GatherRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "gatherRows")) return env.Null();
  Args a = args(info, "gatherRows");
  dcp::GatherRowsArgs g{};
  g.n = a.integer("n", 0, INT32_MAX);
  g.srcRows = a.integer("srcRows", 0, INT32_MAX);
  g.cols = int(a.integer("cols", 0, INT32_MAX));
  g.elemBytes = int(a.integer("elemBytes", 2, 4));
  if (a.failed) return env.Null();
  const size_t eb = size_t(g.elemBytes);
  g.src = a.view("src", size_t(g.srcRows) * g.cols * eb, eb);
  g.indices = static_cast<const int32_t*>(a.view("indices", size_t(g.n) * 4, 4));
  g.dst = a.view("dst", size_t(g.n) * g.cols * eb, eb);
  if (a.failed) return env.Null();
  CUDA_RET(env, "gatherRows", dcp::launchGatherRows(g, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::LsePackF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "lsePack")) return env.Null();
  Args a = args(info, "lsePack");
  const int64_t rows = a.integer("rows", 0, INT32_MAX);
  const int dim = int(a.integer("dim", 1, 1 << 16));
  if (a.failed) return env.Null();
  auto* out = static_cast<const float*>(a.view("out", size_t(rows) * dim * 4, 4));
  auto* lse = static_cast<const float*>(a.view("lse", size_t(rows) * 4, 4));
  auto* packed = static_cast<float*>(a.view("packed", size_t(rows) * (dim + 1) * 4, 4));
  if (a.failed) return env.Null();
  CUDA_RET(env, "lsePack", dcp::launchLsePackF32(out, lse, packed, rows, dim, state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::A2aCombineF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "a2aCombine")) return env.Null();
  Args a = args(info, "a2aCombine");
  const int world = int(a.integer("world", 1, 1024));
  const int batch = int(a.integer("batch", 0));
  const int heads = int(a.integer("heads", 1, 1 << 16));
  const int dim = int(a.integer("dim", 1, 1 << 16));
  const bool base2 = a.obj.Get("base2").ToBoolean().Value();
  if (a.failed) return env.Null();
  const size_t rows = size_t(batch) * heads;
  auto* packed = static_cast<const float*>(a.view("packed", rows * world * (dim + 1) * 4, 4));
  auto* out = static_cast<float*>(a.view("out", rows * dim * 4, 4));
  auto* g = static_cast<float*>(a.view("globalLse", rows * 4, 4, true));
  if (a.failed) return env.Null();
  CUDA_RET(env, "a2aCombine", dcp::launchA2aCombineF32(packed, out, g, world, batch, heads, dim, base2, state->stream),
           env.Null());
  return env.Undefined();
}

}  // namespace dcpjs
