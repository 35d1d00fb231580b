// kvant_cuda.h — definitions shared by every kvant CUDA kernel, the generated headers and the
// registry, in both builds:
//   cuda      nvcc compiles the kernels; kvantStream_t is a cudaStream_t.
//   cuda-emu  g++ compiles the same sources with `-include emu/cuda_emu.h` (which defines
//             KVANT_CUDA_EMU); kvantStream_t is an opaque pointer and launches run on the CPU.
// Kernels launch through KVANT_LAUNCH, never `<<<>>>` directly, so that one source serves both.
#pragma once
#include <stdint.h>

#if defined(KVANT_CUDA_EMU)
typedef ::kvant_emu::Stream* kvantStream_t;
#define KVANT_LAUNCH(kernel, grid, block, shmem, stream, ...) \
  ::kvant_emu::launch((kernel), dim3(grid), dim3(block), (shmem), (stream), __VA_ARGS__)
#else
#include <cuda_runtime.h>
typedef cudaStream_t kvantStream_t;
#define KVANT_LAUNCH(kernel, grid, block, shmem, stream, ...) \
  (kernel)<<<dim3(grid), dim3(block), (shmem), (stream)>>>(__VA_ARGS__)
#endif

namespace kvant {

// One registered kernel: its id (`family.name`), how many bindings and params bytes it takes,
// and a launcher over the raw params block and binding pointers (spec order).
struct KernelEntry {
  const char* id;
  int bindings;
  int paramsBytes;
  void (*launch)(const void* params, void* const* bindings, kvantStream_t stream);
};

// Defined in generated/registry.cpp.
extern const KernelEntry kKernels[];
extern const int kKernelCount;

// ---- small device helpers used by several kernels ----
// (only where device code is compiled: nvcc, or g++ with the emulation header; the host-only
// glue compiled by g++ in the cuda build sees just the declarations above)
#if defined(__CUDACC__) || defined(KVANT_CUDA_EMU)

// Ceil division on 64-bit counts (n is a u32 but n + blocksize - 1 may not fit).
__host__ __device__ __forceinline__ uint64_t ceilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// NaN test that survives any math flags (x != x only for NaN).
__device__ __forceinline__ bool isNaN(float x) { return x != x; }

// Max over a warp with shuffles (fmaxf ignores a NaN operand, as the reference does).
// Every lane of the warp must call it; every lane gets the result.
__device__ __forceinline__ float warpMax(float v) {
  for (int d = 16; d > 0; d >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}
__device__ __forceinline__ float warpMin(float v) {
  for (int d = 16; d > 0; d >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}

// Block-wide max: warp shuffles inside each warp (no shared memory traffic, no barrier), then one
// value per warp through shared memory and a second warp-level step. blockDim.x must be a multiple
// of 32 and at most 1024; every thread must call it; every thread gets the result.
// `scratch` is a __shared__ float[32] owned by the caller (a barrier separates reuses).
__device__ __forceinline__ float blockMax(float v, float* scratch) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpMax(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : 0.0f;  // 0 is the identity: the maxima are >= 0 or -0
  r = warpMax(r);
  __syncthreads();  // scratch may be reused by the caller
  return r;
}

// Same for min (identity +inf) — used for the asymmetric linear statistics.
__device__ __forceinline__ float blockMinAny(float v, float* scratch, float identity) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpMin(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : identity;
  r = warpMin(r);
  __syncthreads();
  return r;
}
__device__ __forceinline__ float blockMaxAny(float v, float* scratch, float identity) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpMax(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : identity;
  r = warpMax(r);
  __syncthreads();
  return r;
}

// atomicMax on a float through atomicCAS on its bits (CUDA has no float atomicMax).
__device__ __forceinline__ float atomicMaxFloat(float* addr, float value) {
  unsigned int* p = reinterpret_cast<unsigned int*>(addr);
  unsigned int old = *p, assumed;
  do {
    assumed = old;
    if (!(value > __uint_as_float(assumed))) break;
    old = atomicCAS(p, assumed, __float_as_uint(value));
  } while (old != assumed);
  return __uint_as_float(old);
}

// Threads for a kernel that gives one thread block to each quant block of `elems` elements:
// enough warps to cover it (`perThread` elements per thread), from 1 to 8 warps.
__host__ __forceinline__ unsigned threadsFor(uint32_t elems, uint32_t perThread) {
  uint32_t t = (elems + perThread - 1) / perThread;
  t = (t + 31) / 32 * 32;
  return t < 32 ? 32 : (t > 256 ? 256 : t);
}

#endif  // device code

}  // namespace kvant
