// linalg.dropout — inverted dropout with a Philox 4x32-10 mask (forward, and backward on dy with
// the same seed and offset).
//   u = word i % 4 of philox4x32_10(counter (i / 4, 0, offset_lo, offset_hi), key (seed_lo, seed_hi))
//   y[i] = u >= threshold ? f(x[i] * scale) : +0.0
// Shapes: x f32[n], y f32[n].
// One idea: one Philox call gives the draws of 4 consecutive elements, so each thread of the
// grid-stride loop (elementwise.cuh) owns one group of 4: one generator call, one float4 load and
// one float4 store; the 10 rounds are register-only integer math (__umulhi), well under the memory
// time of the 8 bytes per element.
#include "../generated/linalg/dropout.h"
#include "../lib/nan_bits.cuh"
#include "elementwise.cuh"
#include "philox.cuh"

namespace kvant::linalg::dropout {

static __device__ __forceinline__ float keepOrDrop(uint32_t u, uint32_t threshold, float x, float scale) {
  return u >= threshold ? nan_bits::mul(x, scale) : 0.0f;
}

static __global__ void dropoutKernel(Params p, const float* __restrict__ x, float* __restrict__ y) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  const auto draw = [&](uint64_t q) {
    return detail::philox4x32_10(make_uint4(static_cast<uint32_t>(q), 0u, p.offset_lo, p.offset_hi), p.seed_lo, p.seed_hi);
  };
  detail::forEachElement(
      p.n,
      [&](uint64_t q) {
        const uint4 u = draw(q);
        const float4 v = __ldg(x4 + q);
        y4[q] = make_float4(keepOrDrop(u.x, p.threshold, v.x, p.scale), keepOrDrop(u.y, p.threshold, v.y, p.scale),
                            keepOrDrop(u.z, p.threshold, v.z, p.scale), keepOrDrop(u.w, p.threshold, v.w, p.scale));
      },
      [&](uint64_t i) {
        const uint4 u = draw(i / 4);
        const uint32_t w = (i & 3) == 0 ? u.x : (i & 3) == 1 ? u.y : (i & 3) == 2 ? u.z : u.w;
        y[i] = keepOrDrop(w, p.threshold, x[i], p.scale);
      });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(dropoutKernel, detail::elementwiseGrid(p.n), detail::kElementwiseThreads, 0, stream, p, b.x, b.y);
}

}  // namespace kvant::linalg::dropout
