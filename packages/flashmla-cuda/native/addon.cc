// node-addon-api binding: probe, ranks (one device + one stream each), device buffers, copies,
// the MLA ops and CUDA graphs. Every CUDA failure becomes a JS Error whose message starts with
// the op's name. Only download/synchronize/timeGraph wait on the GPU, and they do so on a worker
// thread behind a Promise; synchronizeSync is the one explicit blocking call.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "generic.h"
#include "kernels.h"

namespace {

struct RankState {
  int device = 0;
  cudaStream_t stream = nullptr;  // every op of this rank
  cudaStream_t copyStream = nullptr;  // device->host copies, ordered after the stream by events
  int smCount = 0;
  size_t l2Bytes = 0;
  ~RankState() {
    cudaSetDevice(device);
    if (stream) cudaStreamDestroy(stream);
    if (copyStream) cudaStreamDestroy(copyStream);
  }
};

std::string cudaMessage(const std::string& op, cudaError_t e) {
  return op + ": CUDA error " + std::to_string(int(e)) + " " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
}

#define THROW_RET(env, msg, ret)                                  \
  do {                                                            \
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();      \
    return ret;                                                   \
  } while (0)
#define CUDA_RET(env, op, call, ret)                              \
  do {                                                            \
    cudaError_t e_ = (call);                                      \
    if (e_ != cudaSuccess) THROW_RET(env, cudaMessage(op, e_), ret); \
  } while (0)

// ---------------------------------------------------------------- Buffer
class Buffer : public Napi::ObjectWrap<Buffer> {
 public:
  static Napi::FunctionReference* ctor;
  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "NativeBuffer",
                                   {InstanceMethod("dispose", &Buffer::Dispose),
                                    InstanceAccessor("bytes", &Buffer::Bytes, nullptr),
                                    InstanceAccessor("disposed", &Buffer::Disposed, nullptr),
                                    InstanceAccessor("address", &Buffer::Address, nullptr)});
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    return f;
  }
  explicit Buffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Buffer>(info) {}
  ~Buffer() override { Free(); }
  void Free() {
    if (!ptr) return;
    cudaSetDevice(rank->device);
    cudaFreeAsync(ptr, rank->stream);  // stream-ordered: never waits for the GPU
    ptr = nullptr;
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(bytes)); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr == nullptr); }
  Napi::Value Address(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), uint64_t(reinterpret_cast<uintptr_t>(ptr)));
  }
  void* ptr = nullptr;
  size_t bytes = 0;
  std::shared_ptr<RankState> rank;
};
Napi::FunctionReference* Buffer::ctor = nullptr;

// ---------------------------------------------------------------- Graph
class Graph : public Napi::ObjectWrap<Graph> {
 public:
  static Napi::FunctionReference* ctor;
  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "NativeGraph", {InstanceMethod("dispose", &Graph::Dispose)});
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    return f;
  }
  explicit Graph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Graph>(info) {}
  ~Graph() override { Free(); }
  void Free() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    exec = nullptr;
    graph = nullptr;
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  std::shared_ptr<RankState> rank;
};
Napi::FunctionReference* Graph::ctor = nullptr;

// ---------------------------------------------------------------- argument helpers
struct Args {
  Napi::Env env;
  Napi::Object obj;
  std::string op;
  const RankState* rank;
  bool failed = false;

  bool fail(const std::string& msg) {
    if (!failed) Napi::TypeError::New(env, op + ": " + msg).ThrowAsJavaScriptException();
    failed = true;
    return false;
  }
  int64_t integer(const char* field, int64_t lo, int64_t hi = INT32_MAX) {
    if (failed) return 0;
    Napi::Value v = obj.Get(field);
    if (!v.IsNumber()) return fail(std::string("'") + field + "' must be a number"), 0;
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != double(int64_t(d)) || d < double(lo) || d > double(hi))
      return fail(std::string("'") + field + "' must be an integer in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "], got " + std::to_string(d)),
             0;
    return int64_t(d);
  }
  double number(const char* field) {
    if (failed) return 0;
    Napi::Value v = obj.Get(field);
    if (!v.IsNumber()) return fail(std::string("'") + field + "' must be a number"), 0;
    return v.As<Napi::Number>().DoubleValue();
  }
  // A device view is [NativeBuffer, byteOffset]; checks liveness, rank, bounds and alignment.
  void* view(const char* field, size_t need, size_t align, bool optional = false) {
    if (failed) return nullptr;
    Napi::Value v = obj.Get(field);
    if (optional && (v.IsUndefined() || v.IsNull())) return nullptr;
    if (!v.IsArray()) return fail(std::string("'") + field + "' must be a device view [buffer, byteOffset]"), nullptr;
    Napi::Array arr = v.As<Napi::Array>();
    Napi::Value b = arr.Get(uint32_t(0)), o = arr.Get(uint32_t(1));
    if (!b.IsObject() || !b.As<Napi::Object>().InstanceOf(Buffer::ctor->Value()))
      return fail(std::string("'") + field + "' does not hold a device buffer"), nullptr;
    Buffer* buf = Buffer::Unwrap(b.As<Napi::Object>());
    if (!buf->ptr) return fail(std::string("'") + field + "' uses a disposed buffer"), nullptr;
    if (buf->rank.get() != rank) return fail(std::string("'") + field + "' belongs to another rank"), nullptr;
    double off = o.IsNumber() ? o.As<Napi::Number>().DoubleValue() : -1;
    if (off < 0 || off != double(int64_t(off)))
      return fail(std::string("'") + field + "' byte offset must be a non-negative integer"), nullptr;
    if (size_t(off) % align != 0)
      return fail(std::string("'") + field + "' byte offset must be a multiple of " + std::to_string(align)), nullptr;
    if (size_t(off) + need > buf->bytes)
      return fail(std::string("'") + field + "' needs " + std::to_string(need) + " bytes at offset " +
                  std::to_string(size_t(off)) + " but the buffer holds " + std::to_string(buf->bytes)),
             nullptr;
    return static_cast<char*>(buf->ptr) + size_t(off);
  }
};

// ---------------------------------------------------------------- workers
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::string op, std::shared_ptr<RankState> rank)
      : Napi::AsyncWorker(env), deferred(Napi::Promise::Deferred::New(env)), op(std::move(op)), rank(std::move(rank)) {}
  Napi::Promise promise() { return deferred.Promise(); }
  void check(cudaError_t e) {
    if (e != cudaSuccess && !failed) {
      failed = true;
      SetError(cudaMessage(op, e));
    }
  }
  void OnOK() override { deferred.Resolve(Result()); }
  void OnError(const Napi::Error& e) override { deferred.Reject(e.Value()); }
  virtual Napi::Value Result() { return Env().Undefined(); }

 protected:
  Napi::Promise::Deferred deferred;
  std::string op;
  std::shared_ptr<RankState> rank;
  bool failed = false;
};

class SyncWorker : public PromiseWorker {
 public:
  using PromiseWorker::PromiseWorker;
  void Execute() override {
    check(cudaSetDevice(rank->device));
    if (!failed) check(cudaStreamSynchronize(rank->stream));
  }
};

class DownloadWorker : public PromiseWorker {
 public:
  DownloadWorker(Napi::Env env, std::shared_ptr<RankState> rank, cudaEvent_t ready, const void* src, void* dst,
                 size_t bytes, Napi::Object keep)
      : PromiseWorker(env, "download", std::move(rank)), ready(ready), src(src), dst(dst), bytes(bytes) {
    keepAlive = Napi::Persistent(keep);
  }
  void Execute() override {
    check(cudaSetDevice(rank->device));
    if (!failed) check(cudaStreamWaitEvent(rank->copyStream, ready, 0));
    if (!failed) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, rank->copyStream));
    if (!failed) check(cudaStreamSynchronize(rank->copyStream));
    cudaEventDestroy(ready);
  }
  Napi::Value Result() override { return keepAlive.Value(); }

 private:
  cudaEvent_t ready;
  const void* src;
  void* dst;
  size_t bytes;
  Napi::ObjectReference keepAlive;
};

class TimeGraphWorker : public PromiseWorker {
 public:
  TimeGraphWorker(Napi::Env env, std::shared_ptr<RankState> rank, cudaGraphExec_t exec, Napi::Object graphObj,
                  int iters, void* flush, size_t flushBytes)
      : PromiseWorker(env, "timeGraph", std::move(rank)), exec(exec), iters(iters), flush(flush), flushBytes(flushBytes) {
    keepGraph = Napi::Persistent(graphObj);
  }
  void Execute() override {
    check(cudaSetDevice(rank->device));
    cudaEvent_t ev[2];
    check(cudaEventCreate(&ev[0]));
    check(cudaEventCreate(&ev[1]));
    for (int i = 0; i < iters && !failed; ++i) {
      if (flush) check(cudaMemsetAsync(flush, i & 0xff, flushBytes, rank->stream));  // evicts L2
      check(cudaEventRecord(ev[0], rank->stream));
      check(cudaGraphLaunch(exec, rank->stream));
      check(cudaEventRecord(ev[1], rank->stream));
      check(cudaEventSynchronize(ev[1]));
      float ms = 0;
      check(cudaEventElapsedTime(&ms, ev[0], ev[1]));
      times.push_back(ms * 1000.0);
    }
    cudaEventDestroy(ev[0]);
    cudaEventDestroy(ev[1]);
  }
  Napi::Value Result() override {
    Napi::Float64Array out = Napi::Float64Array::New(Env(), times.size());
    for (size_t i = 0; i < times.size(); ++i) out[i] = times[i];
    return out;
  }

 private:
  cudaGraphExec_t exec;
  int iters;
  void* flush;
  size_t flushBytes;
  std::vector<double> times;
  Napi::ObjectReference keepGraph;
};

// ---------------------------------------------------------------- Rank
class Rank : public Napi::ObjectWrap<Rank> {
 public:
  static Napi::Function Init(Napi::Env env) {
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

  explicit Rank(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Rank>(info) {
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

 private:
  std::shared_ptr<RankState> state;

  bool live(Napi::Env env, const char* op) {
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
  Args args(const Napi::CallbackInfo& info, const char* op) {
    Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
    return Args{info.Env(), o, op, state.get()};
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    if (!state) return o;
    o.Set("device", state->device);
    o.Set("smCount", state->smCount);
    o.Set("l2Bytes", double(state->l2Bytes));
    return o;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    state.reset();  // buffers and graphs still alive keep the streams until they go
    return info.Env().Undefined();
  }

  Napi::Value Alloc(const Napi::CallbackInfo& info) {
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
  Napi::Value Upload(const Napi::CallbackInfo& info) {
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
  Napi::Value Download(const Napi::CallbackInfo& info) {
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

  Napi::Value Memset(const Napi::CallbackInfo& info) {
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

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!live(env, "synchronize")) return env.Null();
    auto* w = new SyncWorker(env, "synchronize", state);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value SynchronizeSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!live(env, "synchronizeSync")) return env.Null();
    CUDA_RET(env, "synchronizeSync", cudaStreamSynchronize(state->stream), env.Null());
    return env.Undefined();
  }

  // decodePlan({tokens, heads, maxSeqLen, splits?}) -> {splits, workspaceBytes}
  Napi::Value DecodePlan(const Napi::CallbackInfo& info) {
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

  Napi::Value MlaDecode(const Napi::CallbackInfo& info) {
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

  Napi::Value KvWrite(const Napi::CallbackInfo& info) {
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

  Napi::Value ContextGather(const Napi::CallbackInfo& info) {
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

  Napi::Value LseCorrect(const Napi::CallbackInfo& info) {
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

  Napi::Value LsePack(const Napi::CallbackInfo& info) {
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

  Napi::Value A2aCombine(const Napi::CallbackInfo& info) {
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
  static int dtypeBytes(Args& a, const char* field) {
    if (a.failed) return 0;
    Napi::Value v = a.obj.Get(field);
    std::string d = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (d == "f32") return 4;
    if (d == "bf16") return 2;
    a.fail(std::string("'") + field + "' must be 'f32' or 'bf16'");
    return 0;
  }

  Napi::Value GenericDecode(const Napi::CallbackInfo& info) {
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

  Napi::Value GenericKvWrite(const Napi::CallbackInfo& info) {
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

  Napi::Value GenericGather(const Napi::CallbackInfo& info) {
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

  Napi::Value FillPattern(const Napi::CallbackInfo& info) {
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

  static int kindOf(Args& a, const char* field) {
    if (a.failed) return 0;
    Napi::Value v = a.obj.Get(field);
    std::string d = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (d == "f32") return 0;
    if (d == "bf16") return 1;
    if (d == "i32") return 2;
    a.fail(std::string("'") + field + "' must be 'f32', 'bf16' or 'i32'");
    return 0;
  }

  Napi::Value CopyColumns(const Napi::CallbackInfo& info) {
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

  Napi::Value GatherRows(const Napi::CallbackInfo& info) {
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

  Napi::Value LsePackF32(const Napi::CallbackInfo& info) {
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

  Napi::Value A2aCombineF32(const Napi::CallbackInfo& info) {
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

  Napi::Value FillUniform(const Napi::CallbackInfo& info) {
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

  Napi::Value BeginCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!live(env, "beginCapture")) return env.Null();
    CUDA_RET(env, "beginCapture", cudaStreamBeginCapture(state->stream, cudaStreamCaptureModeThreadLocal), env.Null());
    return env.Undefined();
  }

  Napi::Value EndCapture(const Napi::CallbackInfo& info) {
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

  Graph* graphArg(const Napi::CallbackInfo& info, const char* op) {
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

  Napi::Value LaunchGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!live(env, "launchGraph")) return env.Null();
    Graph* g = graphArg(info, "launchGraph");
    if (!g) return env.Null();
    CUDA_RET(env, "launchGraph", cudaGraphLaunch(g->exec, state->stream), env.Null());
    return env.Undefined();
  }

  // timeGraph(graph, iters, flushView?, flushBytes?) -> Promise<Float64Array of microseconds>
  Napi::Value TimeGraph(const Napi::CallbackInfo& info) {
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
};

// probe() -> { available, code, reason, deviceCount, driverVersion, runtimeVersion, devices }
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  int count = 0, driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaError_t e = cudaGetDeviceCount(&count);
  o.Set("driverVersion", driver);
  o.Set("runtimeVersion", runtime);
  o.Set("code", int(e));
  Napi::Array devices = Napi::Array::New(env);
  if (e == cudaSuccess && count > 0) {
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
      Napi::Object dev = Napi::Object::New(env);
      dev.Set("name", p.name);
      dev.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
      dev.Set("smCount", p.multiProcessorCount);
      dev.Set("l2Bytes", double(p.l2CacheSize));
      dev.Set("totalBytes", double(p.totalGlobalMem));
      devices.Set(uint32_t(d), dev);
    }
    o.Set("available", true);
    o.Set("reason", "");
  } else {
    cudaGetLastError();  // clear the sticky-free error so later probes start clean
    o.Set("available", false);
    o.Set("reason", e == cudaSuccess ? std::string("no CUDA device found") : cudaMessage("probe", e));
    count = 0;
  }
  o.Set("deviceCount", count);
  o.Set("devices", devices);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("NativeRank", Rank::Init(env));
  exports.Set("NativeBuffer", Buffer::Init(env));
  exports.Set("NativeGraph", Graph::Init(env));
  exports.Set("headDimQK", dcp::kHeadDimQK);
  exports.Set("headDimV", dcp::kHeadDimV);
  return exports;
}

}  // namespace

NODE_API_MODULE(flashmla_cuda, Init)
