// linalg.scale — element-wise y = alpha·x (out of place).
//   y[i] = f(alpha * x[i])   (alpha == 1 still multiplies; a NaN keeps the reference's bits: lib/nan_bits.cuh)
// Shapes: x f32[n], y f32[n].
// One idea: pure bandwidth (8 bytes per element): float4 loads and stores (elementwise.cuh).
#include "../generated/linalg/scale.h"
#include "../lib/nan_bits.cuh"
#include "elementwise.cuh"

namespace kvant::linalg::scale {

static __global__ void scaleKernel(uint32_t n, float alpha, const float* __restrict__ x, float* __restrict__ y) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  detail::forEachElement(
      n,
      [&](uint64_t q) {
        const float4 v = __ldg(x4 + q);
        y4[q] = make_float4(nan_bits::mul(alpha, v.x), nan_bits::mul(alpha, v.y), nan_bits::mul(alpha, v.z), nan_bits::mul(alpha, v.w));
      },
      [&](uint64_t i) { y[i] = nan_bits::mul(alpha, x[i]); });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(scaleKernel, detail::elementwiseGrid(p.n), detail::kElementwiseThreads, 0, stream, p.n, p.alpha, b.x, b.y);
}

}  // namespace kvant::linalg::scale
