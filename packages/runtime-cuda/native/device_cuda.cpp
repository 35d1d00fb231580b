// device_cuda.cpp — the cuda device: cudaMalloc (never managed memory), one stream per context,
// cudaMemcpyAsync on that stream, and every CUDA call checked. Errors become DeviceError kinds:
// cudaErrorMemoryAllocation -> out-of-memory; cudaErrorIllegalAddress / misaligned / other
// faults -> illegal-address; configuration and launch errors -> launch. Kernel faults surface
// asynchronously (at the next synchronizing call), so they name the last kernel launched since
// the last completed synchronization. A fault is sticky: the CUDA context (and so every CUDA
// call of this process) is unusable afterwards, so the first one is recorded and every later
// call fails at once with 'device-lost', naming that first error, instead of reporting the
// same sticky code against whatever call or kernel happens to come next.
#include <cuda_runtime.h>

#include "device.h"

namespace kvant::device {

struct Context {
  cudaStream_t stream = nullptr;
  std::string lastKernel;  // launched since the last completed synchronization
  std::string lost;        // the first sticky error seen (empty while the context is usable)
  std::string lostKernel;  // the kernel it was reported against
};

// Errors after which the context cannot be used again (cuda_runtime's "This leaves the process
// in an inconsistent state"; a device-side assert likewise destroys the context).
static bool isSticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorAssert:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout: return true;
    default: return false;
  }
}

static Kind kindOf(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation: return Kind::OutOfMemory;
    case cudaErrorIllegalAddress:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorAssert:
    case cudaErrorLaunchFailure: return Kind::IllegalAddress;  // "an exception occurred on the device": a fault
    case cudaErrorLaunchOutOfResources:
    case cudaErrorLaunchTimeout:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDeviceFunction:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidValue: return Kind::Launch;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError: return Kind::Unsupported;
    default: return Kind::Internal;
  }
}

// Throw a DeviceError for a failed call; `what` names the call. A sticky error is recorded in
// `c` (when given) so that later calls report the lost context rather than a new failure.
static void check(cudaError_t e, const char* what, const std::string& kernel = "", Context* c = nullptr) {
  if (e == cudaSuccess) return;
  std::string msg = std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  const Kind k = kindOf(e);
  if (isSticky(e)) {
    msg += "; the CUDA context is unusable after this error, restart the process";
    if (c && c->lost.empty()) {
      c->lost = msg;
      c->lostKernel = kernel;
    }
  } else {
    cudaGetLastError();  // reported here: do not let it resurface at the next launch check
  }
  throw DeviceError(k, msg, kernel);
}

// Every call after a sticky error fails here, naming the first error and its kernel.
static void ensureUsable(Context* c) {
  if (c->lost.empty()) return;
  throw DeviceError(Kind::DeviceLost,
                    "the CUDA context is unusable after an earlier error" + (c->lostKernel.empty() ? "" : " in " + c->lostKernel) + " (" +
                        c->lost + ")",
                    c->lostKernel);
}

Info probe() {
  Info i;
  int driver = 0;
  cudaError_t e = cudaDriverGetVersion(&driver);
  if (e != cudaSuccess || driver == 0) {
    i.reason = "no CUDA driver (libcuda.so not found or not loadable)";
    return i;
  }
  i.driverVersion = driver;
  cudaRuntimeGetVersion(&i.runtimeVersion);
  int count = 0;
  e = cudaGetDeviceCount(&count);
  if (e == cudaErrorInsufficientDriver) {
    i.reason = "the CUDA driver (" + std::to_string(driver) + ") is older than the runtime kvant was built with (" +
               std::to_string(i.runtimeVersion) + ")";
    return i;
  }
  if (e != cudaSuccess || count == 0) {
    i.reason = std::string("no CUDA device") + (e != cudaSuccess ? std::string(" (") + cudaGetErrorString(e) + ")" : "");
    return i;
  }
  cudaDeviceProp prop;
  e = cudaGetDeviceProperties(&prop, 0);
  if (e != cudaSuccess) {
    i.reason = std::string("cannot query device 0: ") + cudaGetErrorString(e);
    return i;
  }
  i.available = true;
  i.name = prop.name;
  i.major = prop.major;
  i.minor = prop.minor;
  i.multiProcessors = prop.multiProcessorCount;
  i.memoryBytes = prop.totalGlobalMem;
  return i;
}

const char* buildName() { return "cuda"; }

Context* createContext() {
  const Info i = probe();
  if (!i.available) throw DeviceError(Kind::Unsupported, i.reason);
  if (i.major < 8) {
    throw DeviceError(Kind::Unsupported, "device " + i.name + " has compute capability " + std::to_string(i.major) + "." +
                                             std::to_string(i.minor) + "; kvant's CUDA kernels are built for 8.0 and newer");
  }
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  Context* c = new Context();
  try {
    check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  } catch (...) {
    delete c;
    throw;
  }
  return c;
}

void destroyContext(Context* c) noexcept {
  if (!c) return;
  if (c->stream) {
    cudaStreamSynchronize(c->stream);
    cudaStreamDestroy(c->stream);
  }
  delete c;
}

kvantStream_t streamOf(Context* c) { return c->stream; }

void* allocate(Context* c, size_t bytes) {
  ensureUsable(c);
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // allocation failures are not sticky: clear it
    size_t freeBytes = 0, total = 0;
    cudaMemGetInfo(&freeBytes, &total);
    throw DeviceError(Kind::OutOfMemory, "cudaMalloc(" + std::to_string(bytes) + " bytes) failed: " + std::to_string(freeBytes) +
                                             " of " + std::to_string(total) + " bytes free",
                      "");
  }
  check(e, "cudaMalloc", c->lastKernel, c);
  return p;
}

void release(Context* c, void* p) noexcept {
  // Freeing memory a queued kernel still uses is safe: cudaFree waits for the device.
  (void)c;
  cudaFree(p);
}

void write(Context* c, void* dst, const void* src, size_t bytes) {
  ensureUsable(c);
  // From pageable memory the call returns once the source has been staged, so the caller may
  // reuse its buffer immediately; the copy is ordered with the stream's kernels.
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync (host to device)", c->lastKernel, c);
}

void read(Context* c, void* dst, const void* src, size_t bytes) {
  ensureUsable(c);
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "cudaMemcpyAsync (device to host)", c->lastKernel, c);
  synchronize(c);
}

void fill(Context* c, void* dst, int value, size_t bytes) {
  ensureUsable(c);
  check(cudaMemsetAsync(dst, value, bytes, c->stream), "cudaMemsetAsync", c->lastKernel, c);
}

void launch(Context* c, const KernelEntry& k, const void* params, void* const* bindings) {
  ensureUsable(c);
  // cudaGetLastError also returns errors of earlier calls whose result was ignored (cudaFree in
  // release) or already reported; clear them so that only this launch's error is checked below.
  // (A sticky error is not cleared: it comes back from the check below.)
  cudaGetLastError();
  k.launch(params, bindings, c->stream);
  const cudaError_t e = cudaGetLastError();
  // A sticky error seen here is a fault of a kernel queued earlier (the one just launched has
  // hardly started): report it against that kernel when there is one.
  if (isSticky(e) && !c->lastKernel.empty()) {
    check(e, ("kernel launch of " + std::string(k.id) + " (an earlier kernel faulted)").c_str(), c->lastKernel, c);
  }
  check(e, "kernel launch", k.id, c);
  c->lastKernel = k.id;
}

void synchronize(Context* c) {
  ensureUsable(c);
  check(cudaStreamSynchronize(c->stream), "cudaStreamSynchronize", c->lastKernel, c);
  c->lastKernel.clear();
}

}  // namespace kvant::device
