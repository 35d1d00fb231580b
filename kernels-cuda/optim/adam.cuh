// adam.cuh — the square-root steps of the Adam kernels: adamw_step's f(f(sqrt(v1)) / bias_c2_sqrt)
// (torch's exp_avg_sq.sqrt() / bias_correction2_sqrt) and adamw8bit_step's f(f(sqrt(v1)) + eps_hat)
// (bitsandbytes' sqrtf(s2) + eps): the IEEE f32 root, then one more IEEE f32 operation, with the
// round-to-nearest intrinsics (no fast-math approximations). A NaN result takes the reference's
// bits (lib/nan_bits.cuh): v's own NaN quieted, or the default NaN for the square root of a negative.
#pragma once
#include "../kvant_cuda.h"
#include "../lib/nan_bits.cuh"

namespace kvant::optim::detail {

/** f(f(sqrt(v)) / d). */
__device__ __forceinline__ float sqrtDiv(float v, float d) {
  const float r = __fdiv_rn(__fsqrt_rn(v), d);
  return nan_bits::isNaNf(r) ? nan_bits::nanOf(v, d) : r;
}

/** f(f(sqrt(v)) + e). */
__device__ __forceinline__ float sqrtAdd(float v, float e) {
  const float r = __fadd_rn(__fsqrt_rn(v), e);
  return nan_bits::isNaNf(r) ? nan_bits::nanOf(v, e) : r;
}

}  // namespace kvant::optim::detail
