// Promise-returning workers: the only places that wait for the GPU, always on a libuv worker
// thread so the event loop never blocks.
#pragma once
#include <vector>

#include "binding.h"

namespace dcpjs {

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

}  // namespace dcpjs
