// NativeRank: construction, memory, copies, synchronisation and CUDA graphs.
#include "rank.h"

#include "workers.h"

namespace dcpjs {

Napi::Function Rank::Init(Napi::Env env) {
  return DefineClass(env, "NativeRank",
                     {InstanceMethod("alloc", &Rank::Alloc), InstanceMethod("upload", &Rank::Upload),
                      InstanceMethod("download", &Rank::Download), InstanceMethod("memset", &Rank::Memset),
                      InstanceMethod("synchronize", &Rank::Synchronize),
                      InstanceMethod("synchronizeSync", &Rank::SynchronizeSync),
                      InstanceMethod("mlaDecode", &Rank::MlaDecode),
                      InstanceMethod("decodePlan", &Rank::DecodePlan), InstanceMethod("kvWrite", &Rank::KvWrite),
                      InstanceMethod("contextGather", &Rank::ContextGather),
                      InstanceMethod("lseCorrect", &Rank::LseCorrect),
                      InstanceMethod("lsePack", &Rank::LsePack),
                      InstanceMethod("genericDecode", &Rank::GenericDecode),
                      InstanceMethod("genericKvWrite", &Rank::GenericKvWrite),
                      InstanceMethod("genericGather", &Rank::GenericGather),
                      InstanceMethod("fillPattern", &Rank::FillPattern),
                      InstanceMethod("copyColumns", &Rank::CopyColumns),
                      InstanceMethod("gatherRows", &Rank::GatherRows),
                      InstanceMethod("lsePackF32", &Rank::LsePackF32),
                      InstanceMethod("a2aCombineF32", &Rank::A2aCombineF32),
                      InstanceMethod("a2aCombine", &Rank::A2aCombine),
                      InstanceMethod("fillUniform", &Rank::FillUniform),
                      InstanceMethod("beginCapture", &Rank::BeginCapture),
                      InstanceMethod("endCapture", &Rank::EndCapture),
                      InstanceMethod("launchGraph", &Rank::LaunchGraph),
                      InstanceMethod("timeGraph", &Rank::TimeGraph), InstanceMethod("dispose", &Rank::Dispose),
                      InstanceAccessor("info", &Rank::Info, nullptr)});
}

Rank::Rank(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Rank>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) THROW_RET(env, "createRank: 'device' must be a number", );
  auto st = std::make_shared<RankState>();
  st->device = info[0].As<Napi::Number>().Int32Value();
  CUDA_RET(env, "createRank", cudaSetDevice(st->device), );
  CUDA_RET(env, "createRank", cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking), );
  CUDA_RET(env, "createRank", cudaStreamCreateWithFlags(&st->copyStream, cudaStreamNonBlocking), );
  cudaDeviceProp p{};
  CUDA_RET(env, "createRank", cudaGetDeviceProperties(&p, st->device), );
  st->smCount = p.multiProcessorCount;
  st->l2Bytes = size_t(p.l2CacheSize);
  state = st;
}

bool Rank::live(Napi::Env env, const char* op) {
  if (!state) {
    Napi::Error::New(env, std::string(op) + ": the rank is disposed").ThrowAsJavaScriptException();
    return false;
  }
  if (cudaSetDevice(state->device) != cudaSuccess) {
    Napi::Error::New(env, std::string(op) + ": cudaSetDevice failed").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Args Rank::args(const Napi::CallbackInfo& info, const char* op) {
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
  return Args{info.Env(), o, op, state.get()};
}

Napi::Value Rank::Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  if (!state) return o;
  o.Set("device", state->device);
  o.Set("smCount", state->smCount);
  o.Set("l2Bytes", double(state->l2Bytes));
  return o;
}

Napi::Value Rank::Dispose(const Napi::CallbackInfo& info) {
  state.reset();  // buffers and graphs still alive keep the streams until they go
  return info.Env().Undefined();
}

Napi::Value Rank::Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "alloc")) return env.Null();
  if (info.Length() < 1 || !info[0].IsNumber()) THROW_RET(env, "alloc: 'bytes' must be a number", env.Null());
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  if (!(bytes > 0) || bytes != double(int64_t(bytes))) THROW_RET(env, "alloc: 'bytes' must be a positive integer", env.Null());
  void* p = nullptr;
  CUDA_RET(env, "alloc", cudaMallocAsync(&p, size_t(bytes), state->stream), env.Null());
  Napi::Object o = Buffer::ctor->New({});
  Buffer* b = Buffer::Unwrap(o);
  b->ptr = p;
  b->bytes = size_t(bytes);
  b->rank = state;
  return o;
}

// upload([buf, off], typedArray): stream-ordered; the host data is staged before it returns.
Napi::Value Rank::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "upload")) return env.Null();
  if (info.Length() < 2 || !info[1].IsTypedArray()) THROW_RET(env, "upload: 'data' must be a typed array", env.Null());
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  Napi::Object o = Napi::Object::New(env);
  o.Set("dst", info[0]);
  Args a{env, o, "upload", state.get()};
  void* dst = a.view("dst", ta.ByteLength(), 1);
  if (a.failed) return env.Null();
  const char* src = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  CUDA_RET(env, "upload", cudaMemcpyAsync(dst, src, ta.ByteLength(), cudaMemcpyHostToDevice, state->stream), env.Null());
  return env.Undefined();
}

// download([buf, off], typedArray) -> Promise<typedArray>: ordered after the work enqueued so far.
Napi::Value Rank::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "download")) return env.Null();
  if (info.Length() < 2 || !info[1].IsTypedArray()) THROW_RET(env, "download: 'out' must be a typed array", env.Null());
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  Napi::Object o = Napi::Object::New(env);
  o.Set("src", info[0]);
  Args a{env, o, "download", state.get()};
  const void* src = a.view("src", ta.ByteLength(), 1);
  if (a.failed) return env.Null();
  cudaEvent_t ev;
  CUDA_RET(env, "download", cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), env.Null());
  CUDA_RET(env, "download", cudaEventRecord(ev, state->stream), env.Null());
  char* dst = static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  auto* w = new DownloadWorker(env, state, ev, src, dst, ta.ByteLength(), ta);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value Rank::Memset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "memset")) return env.Null();
  Args a = args(info, "memset");
  int64_t bytes = a.integer("bytes", 0, INT64_MAX / 2);
  int64_t value = a.integer("value", 0, 255);
  void* dst = a.view("dst", size_t(bytes), 1);
  if (a.failed) return env.Null();
  CUDA_RET(env, "memset", cudaMemsetAsync(dst, int(value), size_t(bytes), state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "synchronize")) return env.Null();
  auto* w = new SyncWorker(env, "synchronize", state);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value Rank::SynchronizeSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "synchronizeSync")) return env.Null();
  CUDA_RET(env, "synchronizeSync", cudaStreamSynchronize(state->stream), env.Null());
  return env.Undefined();
}

Napi::Value Rank::FillUniform(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "fillUniform")) return env.Null();
  Args a = args(info, "fillUniform");
  int64_t count = a.integer("count", 0, INT64_MAX / 4);
  int64_t seed = a.integer("seed", 0, (int64_t(1) << 52));
  double lo = a.number("lo"), hi = a.number("hi");
  void* dst = a.view("dst", size_t(count) * 2, 2);
  if (a.failed) return env.Null();
  CUDA_RET(env, "fillUniform",
           dcp::launchFillUniformBf16(static_cast<__nv_bfloat16*>(dst), count, uint64_t(seed), float(lo), float(hi),
                                      state->stream),
           env.Null());
  return env.Undefined();
}

Napi::Value Rank::BeginCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "beginCapture")) return env.Null();
  CUDA_RET(env, "beginCapture", cudaStreamBeginCapture(state->stream, cudaStreamCaptureModeThreadLocal), env.Null());
  return env.Undefined();
}

Napi::Value Rank::EndCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "endCapture")) return env.Null();
  cudaGraph_t g = nullptr;
  CUDA_RET(env, "endCapture", cudaStreamEndCapture(state->stream, &g), env.Null());
  cudaGraphExec_t ex = nullptr;
  cudaError_t e = cudaGraphInstantiate(&ex, g, 0);
  if (e != cudaSuccess) {
    cudaGraphDestroy(g);
    THROW_RET(env, cudaMessage("endCapture", e), env.Null());
  }
  Napi::Object o = Graph::ctor->New({});
  Graph* gr = Graph::Unwrap(o);
  gr->graph = g;
  gr->exec = ex;
  gr->rank = state;
  return o;
}

Graph* Rank::graphArg(const Napi::CallbackInfo& info, const char* op) {
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Graph::ctor->Value())) {
    Napi::TypeError::New(info.Env(), std::string(op) + ": 'graph' must be a captured graph").ThrowAsJavaScriptException();
    return nullptr;
  }
  Graph* g = Graph::Unwrap(info[0].As<Napi::Object>());
  if (!g->exec || g->rank != state) {
    Napi::Error::New(info.Env(), std::string(op) + ": the graph is disposed or belongs to another rank")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  return g;
}

Napi::Value Rank::LaunchGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "launchGraph")) return env.Null();
  Graph* g = graphArg(info, "launchGraph");
  if (!g) return env.Null();
  CUDA_RET(env, "launchGraph", cudaGraphLaunch(g->exec, state->stream), env.Null());
  return env.Undefined();
}

// timeGraph(graph, iters, flushView?, flushBytes?) -> Promise<Float64Array of microseconds>
Napi::Value Rank::TimeGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live(env, "timeGraph")) return env.Null();
  Graph* g = graphArg(info, "timeGraph");
  if (!g) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("iters", info.Length() > 1 ? info[1] : env.Undefined());
  o.Set("flush", info.Length() > 2 ? info[2] : env.Null());
  o.Set("flushBytes", info.Length() > 3 ? info[3] : Napi::Number::New(env, 0));
  Args a{env, o, "timeGraph", state.get()};
  int iters = int(a.integer("iters", 1, 100000));
  int64_t flushBytes = a.integer("flushBytes", 0, INT64_MAX / 2);
  void* flush = a.view("flush", size_t(flushBytes), 1, true);
  if (a.failed) return env.Null();
  auto* w = new TimeGraphWorker(env, state, g->exec, info[0].As<Napi::Object>(), iters, flush, size_t(flushBytes));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace dcpjs
