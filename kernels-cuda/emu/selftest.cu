// selftest.cu — tiny kernels that exercise what the emulator models: a __syncthreads tree
// reduction in shared memory, warp shuffles (idx, up, down, xor), votes, atomics (int and float
// add, float max through CAS), kvant's block reductions and the integer/IEEE intrinsics (__umulhi,
// __fsqrt_rn, f64 sqrt/div/add). Built into both addons, so the same expectations (in
// packages/runtime-cuda/src/emulator.test.ts) check the emulator on a CPU and the hardware on a
// GPU. Outputs: f32 and i32 arrays of kSelfTestWords each, zeroed first.
#include "../kvant_cuda.h"

namespace kvant::selftest {

// Tree reduction of (threadIdx.x + 1) + 1000 * blockIdx.x over a block, through shared memory:
// log2(blockDim) rounds, a barrier between rounds. blockDim need not be a power of two.
static __global__ void treeSum(float* out) {
  __shared__ float s[1024];
  s[threadIdx.x] = static_cast<float>(threadIdx.x + 1) + 1000.0f * blockIdx.x;
  __syncthreads();
  unsigned width = 1;
  while (width < blockDim.x) width <<= 1;
  for (unsigned half = width / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half && threadIdx.x + half < blockDim.x) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

// Shuffles over 64 threads (two warps): v = 1.5 * t. Output rows of 64: down 3, up 2, xor 5,
// idx 7, idx 3 with width 8.
static __global__ void shuffles(float* out) {
  const unsigned t = threadIdx.x;
  const float v = 1.5f * t;
  out[t] = __shfl_down_sync(0xffffffffu, v, 3);
  out[64 + t] = __shfl_up_sync(0xffffffffu, v, 2);
  out[128 + t] = __shfl_xor_sync(0xffffffffu, v, 5);
  out[192 + t] = __shfl_sync(0xffffffffu, v, 7);
  out[256 + t] = __shfl_sync(0xffffffffu, v, 3, 8);
}

// Votes over 80 threads (the third warp is partial: 16 lanes). Per thread t, 4 ints:
// ballot(t % 3 == 0), any(t == 40), all(t < 1000), all(t < 50).
static __global__ void votes(int32_t* out) {
  const unsigned t = threadIdx.x;
  out[4 * t] = static_cast<int32_t>(__ballot_sync(0xffffffffu, t % 3 == 0));
  out[4 * t + 1] = __any_sync(0xffffffffu, t == 40);
  out[4 * t + 2] = __all_sync(0xffffffffu, t < 1000);
  out[4 * t + 3] = __all_sync(0xffffffffu, t < 50);
}

// Atomics over 8 blocks of 96 threads: ints[0] counts threads, ints[1] = max of g (atomicMax),
// floats[0] sums 0.5 per thread, floats[1] = max of 0.25 * g via CAS, g the global thread id.
static __global__ void atomics(float* fout, int32_t* iout) {
  const int g = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(&iout[0], 1);
  atomicMax(&iout[1], g);
  atomicAdd(&fout[0], 0.5f);
  atomicMaxFloat(&fout[1], 0.25f * g);
}

// kvant::blockMax over 160 threads of |v|, v = t - 100 with a NaN at t = 7 (ignored), and
// blockMinAny of v. out[0] = max, out[1] = min, written by every thread (all must agree).
static __global__ void blockReductions(float* out, int32_t* disagree) {
  __shared__ float scratch[32];
  const float v = threadIdx.x == 7 ? NAN : static_cast<float>(threadIdx.x) - 100.0f;
  const float mx = blockMax(fabsf(v), scratch);
  const float mn = blockMinAny(v != v ? 0.0f : v, scratch, INFINITY);
  if (threadIdx.x == 0) {
    out[0] = mx;
    out[1] = mn;
  }
  __syncthreads();
  if (out[0] != mx || out[1] != mn) atomicAdd(&disagree[0], 1);
}

// Integer and IEEE-exact intrinsics: __umulhi (Philox), __fsqrt_rn, and the f64 sqrt, division
// and add rounded once to f32 (the Adam steps). ints[0..3]: umulhi of (M0, c) for c in kUmulhiArgs;
// floats: fsqrt(2), f32(sqrt64(2) / 3), f32(sqrt64(2) + 2^-30), fsqrt(1e-40) (subnormal).
static __global__ void ieeeOps(float* f, int32_t* i) {
  const unsigned c[4] = {0u, 1u, 0xffffffffu, 0x9e3779b9u};
  for (int k = 0; k < 4; k++) i[k] = static_cast<int32_t>(__umulhi(0xD2511F53u, c[k]));
  f[0] = __fsqrt_rn(2.0f);
  f[1] = __double2float_rn(__ddiv_rn(__dsqrt_rn(2.0), 3.0));
  f[2] = __double2float_rn(__dadd_rn(__dsqrt_rn(2.0), 0x1p-30));
  f[3] = __fsqrt_rn(1e-40f);
}

#if defined(KVANT_CUDA_EMU)
// Lane 0 of the warp waits in a shuffle while the other lanes wait at __syncthreads: every live
// thread waits on a barrier the others never reach. On a GPU this hangs; the emulator reports it.
static __global__ void deadlock(float* out) {
  if (threadIdx.x == 0) out[0] = __shfl_sync(0xffffffffu, 1.0f, 1);
  else __syncthreads();
}
#endif

bool run(const char* name, float* f, int32_t* i, kvantStream_t stream) {
  const auto is = [&](const char* n) {
    const char* a = name;
    const char* b = n;
    while (*a && *a == *b) a++, b++;
    return *a == *b;
  };
  if (is("tree-sum")) {
    KVANT_LAUNCH(treeSum, 3, 256, 0, stream, f);
    KVANT_LAUNCH(treeSum, 2, 100, 0, stream, f + 3);
  } else if (is("shuffles")) {
    KVANT_LAUNCH(shuffles, 1, 64, 0, stream, f);
  } else if (is("votes")) {
    KVANT_LAUNCH(votes, 1, 80, 0, stream, i);
  } else if (is("atomics")) {
    KVANT_LAUNCH(atomics, 8, 96, 0, stream, f, i);
  } else if (is("block-reductions")) {
    KVANT_LAUNCH(blockReductions, 1, 160, 0, stream, f, i);
  } else if (is("ieee-ops")) {
    KVANT_LAUNCH(ieeeOps, 1, 1, 0, stream, f, i);
  } else if (is("deadlock")) {
#if defined(KVANT_CUDA_EMU)
    KVANT_LAUNCH(deadlock, 1, 64, 0, stream, f);
#else
    return false;  // would hang a GPU
#endif
  } else {
    return false;
  }
  return true;
}

}  // namespace kvant::selftest
