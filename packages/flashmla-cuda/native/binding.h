// Shared pieces of the node-addon-api binding: per-rank state, device buffers and graphs owned
// by JS objects, argument checking (every message names the op and the field) and the error
// macros that turn a CUDA failure into a JS exception naming the op.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "generic.h"
#include "kernels.h"

namespace dcpjs {

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

inline std::string cudaMessage(const std::string& op, cudaError_t e) {
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
  inline static Napi::FunctionReference* ctor = nullptr;
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

// ---------------------------------------------------------------- Graph
class Graph : public Napi::ObjectWrap<Graph> {
 public:
  inline static Napi::FunctionReference* ctor = nullptr;
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

}  // namespace dcpjs
