// linalg.add — element-wise c = a + b.
//   c[i] = f(a[i] + b[i])                       (a NaN keeps the reference's bits: lib/nan_bits.cuh)
// Shapes: a f32[n], b f32[n], c f32[n].
// One idea: pure bandwidth (12 bytes per element): float4 loads and stores over a grid-stride loop
// (elementwise.cuh).
#include "../generated/linalg/add.h"
#include "../lib/nan_bits.cuh"
#include "elementwise.cuh"

namespace kvant::linalg::add {

static __global__ void addKernel(uint32_t n, const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c) {
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* c4 = reinterpret_cast<float4*>(c);
  detail::forEachElement(
      n,
      [&](uint64_t q) {
        const float4 x = __ldg(a4 + q), y = __ldg(b4 + q);
        c4[q] = make_float4(nan_bits::add(x.x, y.x), nan_bits::add(x.y, y.y), nan_bits::add(x.z, y.z), nan_bits::add(x.w, y.w));
      },
      [&](uint64_t i) { c[i] = nan_bits::add(a[i], b[i]); });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(addKernel, detail::elementwiseGrid(p.n), detail::kElementwiseThreads, 0, stream, p.n, b.a, b.b, b.c);
}

}  // namespace kvant::linalg::add
