// nearest_code.cuh — the index of the nearest of 256 sorted code values (the 8-bit dynamic maps),
// as the reference's nearestCode (packages/reference/src/quant.ts): the number of midpoints
// mid_j = f(f(code[j] + code[j+1]) * 0.5), j in [0, 254], with s > mid_j (strict: a midpoint goes
// to the lower code); NaN gives 0. Shared by quant.blockwise8_quantize and optim.adamw8bit_step.
#pragma once
#include "../kvant_cuda.h"

namespace kvant::lib {

/** Fill mids[0..254] from code[0..255]; every thread of the block calls it (a barrier must follow). */
__device__ __forceinline__ void codeMidpoints(const float* __restrict__ code, float* mids) {
  for (unsigned k = threadIdx.x; k < 255; k += blockDim.x) mids[k] = __fmul_rn(__fadd_rn(code[k], code[k + 1]), 0.5f);
}

/** Binary search over precomputed midpoints (8 probes, served from shared memory). */
__device__ __forceinline__ unsigned nearestCode(const float* mids, float s) {
  if (isNaN(s)) return 0;
  unsigned lo = 0, hi = 255;
  while (lo < hi) {
    const unsigned mid = (lo + hi) >> 1;
    if (s > mids[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

}  // namespace kvant::lib
