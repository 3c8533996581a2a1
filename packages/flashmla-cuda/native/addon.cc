// node-addon-api entry: probe, and the NativeRank / NativeBuffer / NativeGraph classes. Every
// CUDA failure becomes a JS Error whose message starts with the op's name. Only download,
// synchronize and timeGraph wait on the GPU, on a worker thread behind a Promise;
// synchronizeSync is the one explicit blocking call.
#include "rank.h"

namespace dcpjs {

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

}  // namespace dcpjs

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return dcpjs::Init(env, exports); }

NODE_API_MODULE(flashmla_cuda, InitAddon)
