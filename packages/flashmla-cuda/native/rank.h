// The JS class NativeRank: one device and its stream. Methods live in rank.cc (memory, copies,
// synchronisation, graphs), rank_attn.cc (decode, KV write, gather) and rank_merge.cc (merges and
// data-movement ops).
#pragma once
#include "binding.h"

namespace dcpjs {

class Rank : public Napi::ObjectWrap<Rank> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Rank(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<RankState> state;
  bool live(Napi::Env env, const char* op);
  Args args(const Napi::CallbackInfo& info, const char* op);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  // upload([buf, off], typedArray): stream-ordered; the host data is staged before it returns.
  Napi::Value Upload(const Napi::CallbackInfo& info);
  // download([buf, off], typedArray) -> Promise<typedArray>: ordered after the work enqueued so far.
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Memset(const Napi::CallbackInfo& info);
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  Napi::Value SynchronizeSync(const Napi::CallbackInfo& info);
  // decodePlan({tokens, heads, maxSeqLen, splits?}) -> {splits, workspaceBytes}
  Napi::Value DecodePlan(const Napi::CallbackInfo& info);
  Napi::Value MlaDecode(const Napi::CallbackInfo& info);
  Napi::Value KvWrite(const Napi::CallbackInfo& info);
  Napi::Value ContextGather(const Napi::CallbackInfo& info);
  Napi::Value LseCorrect(const Napi::CallbackInfo& info);
  Napi::Value LsePack(const Napi::CallbackInfo& info);
  Napi::Value A2aCombine(const Napi::CallbackInfo& info);
  // Element size of a dtype name: "f32" -> 4, "bf16" -> 2, anything else -> 0 (error).
  static int dtypeBytes(Args& a, const char* field);
  Napi::Value GenericDecode(const Napi::CallbackInfo& info);
  Napi::Value GenericKvWrite(const Napi::CallbackInfo& info);
  Napi::Value GenericGather(const Napi::CallbackInfo& info);
  Napi::Value FillPattern(const Napi::CallbackInfo& info);
  static int kindOf(Args& a, const char* field);
  Napi::Value CopyColumns(const Napi::CallbackInfo& info);
  Napi::Value GatherRows(const Napi::CallbackInfo& info);
  Napi::Value LsePackF32(const Napi::CallbackInfo& info);
  Napi::Value A2aCombineF32(const Napi::CallbackInfo& info);
  Napi::Value FillUniform(const Napi::CallbackInfo& info);
  Napi::Value BeginCapture(const Napi::CallbackInfo& info);
  Napi::Value EndCapture(const Napi::CallbackInfo& info);
  Graph* graphArg(const Napi::CallbackInfo& info, const char* op);
  Napi::Value LaunchGraph(const Napi::CallbackInfo& info);
  // timeGraph(graph, iters, flushView?, flushBytes?) -> Promise<Float64Array of microseconds>
  Napi::Value TimeGraph(const Napi::CallbackInfo& info);

};

/** probe() -> { available, code, reason, deviceCount, driverVersion, runtimeVersion, devices } */
Napi::Value Probe(const Napi::CallbackInfo& info);

}  // namespace dcpjs
