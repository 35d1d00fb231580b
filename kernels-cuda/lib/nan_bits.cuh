// nan_bits.cuh — f32 operations whose NaN results carry exactly the bits the reference produces.
//
// The linalg and optim specs compare outputs bit for bit, NaN payloads included (tolerance `exact`,
// nan 'bits'). The reference runs on x86 (V8), where an operation with a NaN operand returns that
// operand quieted (the first one, as written, when both are NaN) and an invalid operation (0 * Inf,
// Inf - Inf, sqrt of a negative) returns the default NaN 0xffc00000. A GPU returns the canonical NaN
// 0x7fffffff for all of these. So: compute with plain IEEE operations (NaN-ness never depends on
// payloads), and only when the result is NaN replace it with the x86 NaN — one compare and a rarely
// taken branch per operation, free in the bandwidth-bound kernels. Compute-bound kernels (matmul)
// use the plain operations in their inner loop and recompute an output that came out NaN with
// these (see linalg/matmul_tiled.cuh).
#pragma once
#include "../kvant_cuda.h"

namespace kvant::nan_bits {

constexpr uint32_t kDefaultNaN = 0xffc00000u;  // x86's "real indefinite"

__host__ __device__ __forceinline__ bool isNaNf(float x) { return x != x; }
__device__ __forceinline__ float quiet(float x) { return __uint_as_float(__float_as_uint(x) | 0x00400000u); }

/** The NaN x86 returns for `a op b` when the result is NaN. */
__device__ __forceinline__ float nanOf(float a, float b) {
  return isNaNf(a) ? quiet(a) : isNaNf(b) ? quiet(b) : __uint_as_float(kDefaultNaN);
}
__device__ __forceinline__ float nanOf(float a) { return isNaNf(a) ? quiet(a) : __uint_as_float(kDefaultNaN); }

__device__ __forceinline__ float add(float a, float b) {
  const float r = __fadd_rn(a, b);
  return isNaNf(r) ? nanOf(a, b) : r;
}
__device__ __forceinline__ float sub(float a, float b) {
  const float r = __fsub_rn(a, b);
  return isNaNf(r) ? nanOf(a, b) : r;
}
__device__ __forceinline__ float mul(float a, float b) {
  const float r = __fmul_rn(a, b);
  return isNaNf(r) ? nanOf(a, b) : r;
}
__device__ __forceinline__ float div(float a, float b) {
  const float r = __fdiv_rn(a, b);
  return isNaNf(r) ? nanOf(a, b) : r;
}

/** IEEE square root; sqrt of a NaN is that NaN quieted, of a negative number the default NaN (x86 sqrtss). */
__device__ __forceinline__ float sqrt(float a) {
  const float r = __fsqrt_rn(a);
  return isNaNf(r) ? nanOf(a) : r;
}

}  // namespace kvant::nan_bits
