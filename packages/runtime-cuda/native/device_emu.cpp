// device_emu.cpp — the cuda-emu device: host memory (64-byte aligned, so the kernels' uint4 and
// float4 views are aligned as cudaMalloc's are), launches run to completion on the calling thread
// through the emulator in kernels-cuda/emu. Failures the emulator detects (a deadlocked barrier,
// an invalid launch configuration, __trap) become launch errors naming the kernel; out-of-bounds
// accesses are not detected.
#include <stdlib.h>
#include <string.h>

#include <new>

#include "device.h"

namespace kvant::device {

struct Context {
  int unused = 0;
};

Info probe() {
  Info i;
  i.available = true;
  i.name = "kvant CUDA emulator (threads as fibers on the host CPU)";
  return i;
}

const char* buildName() { return "cuda-emu"; }

Context* createContext() { return new Context(); }
void destroyContext(Context* c) noexcept { delete c; }
kvantStream_t streamOf(Context*) { return nullptr; }

void* allocate(Context*, size_t bytes) {
  void* p = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw DeviceError(Kind::OutOfMemory, "host allocation of " + std::to_string(bytes) + " bytes failed");
  return p;
}
void release(Context*, void* p) noexcept { ::free(p); }
void write(Context*, void* dst, const void* src, size_t bytes) { memcpy(dst, src, bytes); }
void read(Context*, void* dst, const void* src, size_t bytes) { memcpy(dst, src, bytes); }
void fill(Context*, void* dst, int value, size_t bytes) { memset(dst, value, bytes); }

void launch(Context* c, const KernelEntry& k, const void* params, void* const* bindings) {
  try {
    k.launch(params, bindings, streamOf(c));
  } catch (const std::bad_alloc&) {
    throw DeviceError(Kind::OutOfMemory, "emulator ran out of host memory", k.id);
  } catch (const std::exception& e) {
    throw DeviceError(Kind::Launch, e.what(), k.id);
  }
}

void synchronize(Context*) {}

}  // namespace kvant::device
