// linalg.axpy — element-wise y = alpha·x + y, in place on y.
//   y[i] = f(f(alpha * x[i]) + y[i])   (a multiply, then an add: no fma; NaN bits as the reference: lib/nan_bits.cuh)
// Shapes: x f32[n], y f32[n] (read and written).
// One idea: pure bandwidth (12 bytes per element): float4 loads and stores (elementwise.cuh).
#include "../generated/linalg/axpy.h"
#include "../lib/nan_bits.cuh"
#include "elementwise.cuh"

namespace kvant::linalg::axpy {

static __device__ __forceinline__ float axpyOne(float alpha, float x, float y) { return nan_bits::add(nan_bits::mul(alpha, x), y); }

static __global__ void axpyKernel(uint32_t n, float alpha, const float* __restrict__ x, float* __restrict__ y) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  detail::forEachElement(
      n,
      [&](uint64_t q) {
        const float4 v = __ldg(x4 + q), w = y4[q];
        y4[q] = make_float4(axpyOne(alpha, v.x, w.x), axpyOne(alpha, v.y, w.y), axpyOne(alpha, v.z, w.z), axpyOne(alpha, v.w, w.w));
      },
      [&](uint64_t i) { y[i] = axpyOne(alpha, x[i], y[i]); });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(axpyKernel, detail::elementwiseGrid(p.n), detail::kElementwiseThreads, 0, stream, p.n, p.alpha, b.x, b.y);
}

}  // namespace kvant::linalg::axpy
