// addon.cpp — the Node glue of both addons (kvant_cuda.node and kvant_cuda_emu.node), over
// device.h. Exports:
//   build: 'cuda' | 'cuda-emu'
//   deviceInfo() -> { available, reason?, name, computeCapability, multiProcessors, memoryBytes, driverVersion, runtimeVersion }
//   kernels() -> string[] (registered kernel ids)
//   class Context (one per runtime: one stream, its allocations tracked by handle):
//     alloc(bytes) -> handle, free(handle), write(handle, byteOffset, Uint8Array),
//     read(handle) -> Uint8Array (waits for the stream), dispatch(kernelId, params: Uint8Array, handles: number[]),
//     synchronize(), live() -> number of live allocations, dispose() (frees everything)
//     selfTest(name) -> { f32: Float32Array, i32: Int32Array } | undefined (emulator checks)
// Errors are JS Errors with `kind` ('out-of-memory' | 'launch' | 'illegal-address' | 'device-lost'
// | 'unsupported' | 'internal') and `kernel` (the kernel id when known); the TypeScript side maps them to typed errors.
#include <napi.h>

#include <cstring>
#include <unordered_map>
#include <vector>

#include "device.h"

namespace kvant::selftest {
bool run(const char* name, float* f, int32_t* i, kvantStream_t stream);
}

namespace {

using kvant::device::DeviceError;
using kvant::device::Kind;

Napi::Error makeError(Napi::Env env, Kind kind, const std::string& message, const std::string& kernel) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("kind", Napi::String::New(env, kvant::device::kindName(kind)));
  if (!kernel.empty()) err.Set("kernel", Napi::String::New(env, kernel));
  return err;
}

[[noreturn]] void rethrow(Napi::Env env, const DeviceError& e) { throw makeError(env, e.kind, e.what(), e.kernel); }

const kvant::KernelEntry* findKernel(const std::string& id) {
  for (int i = 0; i < kvant::kKernelCount; i++)
    if (id == kvant::kKernels[i].id) return &kvant::kKernels[i];
  return nullptr;
}

Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const kvant::device::Info d = kvant::device::probe();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, d.available));
  if (!d.available) {
    o.Set("reason", Napi::String::New(env, d.reason));
    return o;
  }
  o.Set("name", Napi::String::New(env, d.name));
  o.Set("computeCapability", Napi::String::New(env, std::to_string(d.major) + "." + std::to_string(d.minor)));
  o.Set("multiProcessors", Napi::Number::New(env, d.multiProcessors));
  o.Set("memoryBytes", Napi::Number::New(env, static_cast<double>(d.memoryBytes)));
  o.Set("driverVersion", Napi::Number::New(env, d.driverVersion));
  o.Set("runtimeVersion", Napi::Number::New(env, d.runtimeVersion));
  return o;
}

Napi::Value Kernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env, kvant::kKernelCount);
  for (int i = 0; i < kvant::kKernelCount; i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, kvant::kKernels[i].id));
  return a;
}

struct Allocation {
  void* ptr;
  size_t bytes;
};

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Context",
                       {InstanceMethod<&Context::Alloc>("alloc"), InstanceMethod<&Context::Free>("free"),
                        InstanceMethod<&Context::Write>("write"), InstanceMethod<&Context::Read>("read"),
                        InstanceMethod<&Context::Dispatch>("dispatch"), InstanceMethod<&Context::Synchronize>("synchronize"),
                        InstanceMethod<&Context::Live>("live"), InstanceMethod<&Context::Dispose>("dispose"),
                        InstanceMethod<&Context::SelfTest>("selfTest")});
  }

  explicit Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
    try {
      ctx_ = kvant::device::createContext();
    } catch (const DeviceError& e) {
      rethrow(info.Env(), e);
    }
  }

  ~Context() override { releaseAll(); }

 private:
  kvant::device::Context* ctx_ = nullptr;
  std::unordered_map<uint32_t, Allocation> allocations_;
  uint32_t nextHandle_ = 1;

  void releaseAll() noexcept {
    if (!ctx_) return;
    for (auto& [h, a] : allocations_) kvant::device::release(ctx_, a.ptr);
    allocations_.clear();
    kvant::device::destroyContext(ctx_);
    ctx_ = nullptr;
  }

  kvant::device::Context* live(Napi::Env env) {
    if (!ctx_) throw makeError(env, Kind::Internal, "the CUDA context was disposed", "");
    return ctx_;
  }

  Allocation& lookup(Napi::Env env, const Napi::Value& v) {
    const uint32_t h = v.As<Napi::Number>().Uint32Value();
    auto it = allocations_.find(h);
    if (it == allocations_.end()) throw makeError(env, Kind::Internal, "unknown or freed buffer handle " + std::to_string(h), "");
    return it->second;
  }

  Napi::Value Alloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    if (!(bytes >= 0) || bytes > 9.007199254740991e15) throw makeError(env, Kind::Internal, "invalid allocation size", "");
    try {
      void* p = kvant::device::allocate(live(env), static_cast<size_t>(bytes < 4 ? 4 : bytes));
      const uint32_t h = nextHandle_++;
      allocations_[h] = Allocation{p, static_cast<size_t>(bytes)};
      return Napi::Number::New(env, h);
    } catch (const DeviceError& e) {
      rethrow(env, e);
    }
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Allocation& a = lookup(env, info[0]);
    kvant::device::release(live(env), a.ptr);
    allocations_.erase(info[0].As<Napi::Number>().Uint32Value());
    return env.Undefined();
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Allocation& a = lookup(env, info[0]);
    const double offset = info[1].As<Napi::Number>().DoubleValue();
    Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
    if (offset < 0 || offset + data.ByteLength() > a.bytes) {
      throw makeError(env, Kind::Internal,
                      "write of " + std::to_string(data.ByteLength()) + " bytes at offset " + std::to_string(offset) + " exceeds a buffer of " +
                          std::to_string(a.bytes) + " bytes",
                      "");
    }
    try {
      if (data.ByteLength() > 0) kvant::device::write(live(env), static_cast<char*>(a.ptr) + static_cast<size_t>(offset), data.Data(), data.ByteLength());
    } catch (const DeviceError& e) {
      rethrow(env, e);
    }
    return env.Undefined();
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Allocation& a = lookup(env, info[0]);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, a.bytes);
    try {
      if (a.bytes > 0) kvant::device::read(live(env), out.Data(), a.ptr, a.bytes);
    } catch (const DeviceError& e) {
      rethrow(env, e);
    }
    return out;
  }

  Napi::Value Dispatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string id = info[0].As<Napi::String>().Utf8Value();
    const kvant::KernelEntry* k = findKernel(id);
    if (!k) throw makeError(env, Kind::Unsupported, "kernel " + id + " is not built into this addon", id);
    Napi::Uint8Array params = info[1].As<Napi::Uint8Array>();
    Napi::Array handles = info[2].As<Napi::Array>();
    if (static_cast<int>(params.ByteLength()) != k->paramsBytes) {
      throw makeError(env, Kind::Internal,
                      "params block of " + std::to_string(params.ByteLength()) + " bytes, expected " + std::to_string(k->paramsBytes), id);
    }
    if (static_cast<int>(handles.Length()) != k->bindings) {
      throw makeError(env, Kind::Internal, std::to_string(handles.Length()) + " bindings, expected " + std::to_string(k->bindings), id);
    }
    std::vector<void*> ptrs(handles.Length());
    for (uint32_t i = 0; i < handles.Length(); i++) ptrs[i] = lookup(env, handles.Get(i)).ptr;
    // Copy the params: the launcher reads them before returning, but keep them aligned.
    alignas(16) unsigned char block[256];
    if (params.ByteLength() > sizeof block) throw makeError(env, Kind::Internal, "params block too large", id);
    std::memcpy(block, params.Data(), params.ByteLength());
    try {
      kvant::device::launch(live(env), *k, block, ptrs.data());
    } catch (const DeviceError& e) {
      rethrow(env, e);
    }
    return env.Undefined();
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      kvant::device::synchronize(live(env));
    } catch (const DeviceError& e) {
      rethrow(env, e);
    }
    return env.Undefined();
  }

  Napi::Value Live(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(allocations_.size())); }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    releaseAll();
    return info.Env().Undefined();
  }

  // Run one of kernels-cuda/emu/selftest.cu's kernels on zeroed outputs and return them.
  Napi::Value SelfTest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    constexpr size_t kWords = 4096;
    kvant::device::Context* c = live(env);
    void* f = nullptr;
    void* i = nullptr;
    try {
      f = kvant::device::allocate(c, kWords * 4);
      i = kvant::device::allocate(c, kWords * 4);
      kvant::device::fill(c, f, 0, kWords * 4);
      kvant::device::fill(c, i, 0, kWords * 4);
      bool known = false;
      try {
        known = kvant::selftest::run(name.c_str(), static_cast<float*>(f), static_cast<int32_t*>(i), kvant::device::streamOf(c));
      } catch (const std::exception& e) {
        throw DeviceError(Kind::Launch, e.what(), "selftest." + name);
      }
      if (!known) {
        kvant::device::release(c, f);
        kvant::device::release(c, i);
        return env.Undefined();
      }
      Napi::Float32Array fo = Napi::Float32Array::New(env, kWords);
      Napi::Int32Array io = Napi::Int32Array::New(env, kWords);
      kvant::device::read(c, fo.Data(), f, kWords * 4);
      kvant::device::read(c, io.Data(), i, kWords * 4);
      kvant::device::release(c, f);
      kvant::device::release(c, i);
      Napi::Object o = Napi::Object::New(env);
      o.Set("f32", fo);
      o.Set("i32", io);
      return o;
    } catch (const DeviceError& e) {
      if (f) kvant::device::release(c, f);
      if (i) kvant::device::release(c, i);
      rethrow(env, e);
    }
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("build", Napi::String::New(env, kvant::device::buildName()));
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo));
  exports.Set("kernels", Napi::Function::New(env, Kernels));
  exports.Set("Context", Context::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(kvant_cuda, Init)
