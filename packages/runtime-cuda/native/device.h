// device.h — what the addon glue (addon.cpp) needs from a device, implemented twice:
// device_cuda.cpp (cudart: cudaMalloc, one stream per context, async copies, every call checked)
// and device_emu.cpp (host memory; launches run on the CPU through the emulator).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <stdexcept>
#include <string>

#include "kvant_cuda.h"

namespace kvant::device {

// The kinds the JS side maps to RuntimeFailure kinds (and 'unsupported' to UnsupportedError).
// DeviceLost: a call after a sticky error (a kernel fault) left the CUDA context unusable.
enum class Kind { OutOfMemory, Launch, IllegalAddress, DeviceLost, Unsupported, Internal };

// The kind's name as the JS side knows it (RuntimeFailure kinds).
inline const char* kindName(Kind k) {
  switch (k) {
    case Kind::OutOfMemory: return "out-of-memory";
    case Kind::Launch: return "launch";
    case Kind::IllegalAddress: return "illegal-address";
    case Kind::DeviceLost: return "device-lost";
    case Kind::Unsupported: return "unsupported";
    default: return "internal";
  }
}

// A failed device call: what failed (the CUDA call and its error string) and, when known, the
// kernel it concerns.
struct DeviceError : std::runtime_error {
  Kind kind;
  std::string kernel;
  DeviceError(Kind k, const std::string& message, std::string kernelId = "")
      : std::runtime_error(message), kind(k), kernel(std::move(kernelId)) {}
};

// Device facts for reports: `available` false with `reason` when no driver or no device.
struct Info {
  bool available = false;
  std::string reason;
  std::string name;
  int major = 0, minor = 0;
  int multiProcessors = 0;
  uint64_t memoryBytes = 0;
  int driverVersion = 0, runtimeVersion = 0;
};

Info probe();
// "cuda" or "cuda-emu".
const char* buildName();

// One runtime's device state: a stream and the last kernel launched since the last completed
// synchronization (asynchronous errors are reported against it).
struct Context;
Context* createContext();  // throws DeviceError (Unsupported when there is no device)
void destroyContext(Context* c) noexcept;
kvantStream_t streamOf(Context* c);
void* allocate(Context* c, size_t bytes);
void release(Context* c, void* p) noexcept;
void write(Context* c, void* dst, const void* src, size_t bytes);  // async w.r.t. the device
void read(Context* c, void* dst, const void* src, size_t bytes);   // waits for the stream
void fill(Context* c, void* dst, int value, size_t bytes);
void launch(Context* c, const KernelEntry& k, const void* params, void* const* bindings);
void synchronize(Context* c);

}  // namespace kvant::device
