// linalg.peak_flops — the peak multiply-add rate: 8 independent register-only chains per thread.
//   a_j = (j + 1) / 16 + (t mod 256) / 4096;  iters times: a_j = f(f(a_j * x) + y);  out[t] = a_0 + ... + a_7 in order
// Shapes: out f32[threads].
// One idea: 8 independent chains keep the FP32 pipes busy despite the latency of each dependent
// multiply and add (no fma: --fmad=false, and __fmul_rn/__fadd_rn never fuse), with no memory
// traffic but one store; x and y are params, so nothing folds. An output that comes out NaN (only
// with |x| >= 1 overflowing) is recomputed with the reference's NaN bits (lib/nan_bits.cuh).
#include "../generated/linalg/peak_flops.h"
#include "../lib/nan_bits.cuh"

namespace kvant::linalg::peak_flops {

constexpr unsigned kThreads = 256;
constexpr int kChains = 8;  // PEAK_ACCUMULATORS in @kvant/abi

template <bool kExactNaN>
static __device__ __forceinline__ float chains(uint32_t t, uint32_t iters, float x, float y) {
  float a[kChains];
#pragma unroll
  for (int j = 0; j < kChains; j++) a[j] = static_cast<float>(j + 1) * 0.0625f + static_cast<float>(t & 255u) * (1.0f / 4096.0f);
  for (uint32_t it = 0; it < iters; it++) {
#pragma unroll
    for (int j = 0; j < kChains; j++) a[j] = kExactNaN ? nan_bits::add(nan_bits::mul(a[j], x), y) : __fadd_rn(__fmul_rn(a[j], x), y);
  }
  float s = a[0];
#pragma unroll
  for (int j = 1; j < kChains; j++) s = kExactNaN ? nan_bits::add(s, a[j]) : __fadd_rn(s, a[j]);
  return s;
}

static __global__ void peakKernel(Params p, float* __restrict__ out) {
  const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= p.threads) return;
  float s = chains<false>(t, p.iters, p.x, p.y);
  if (nan_bits::isNaNf(s)) s = chains<true>(t, p.iters, p.x, p.y);
  out[t] = s;
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(peakKernel, static_cast<unsigned>(ceilDiv(p.threads, kThreads)), kThreads, 0, stream, p, b.out);
}

}  // namespace kvant::linalg::peak_flops
