// optim.adamw_step — one step of PyTorch's AdamW (torch.optim.AdamW, single-tensor path), f32 states.
//   p1 = f(p * decay);  d = f(g - m);  m1 = |w| < 0.5 ? f(m + f(w * d)) : f(g - f(d * f(1 - w)))   (torch's lerp, w = 1 - beta1)
//   v1 = f(f(v * beta2) + f(f(one_minus_beta2 * g) * g))
//   denom = f(f(sqrt(v1) / bias_c2_sqrt) + eps)   (sqrt and division in f64, rounded once: adam.cuh)
//   p = f(p1 - f(f(step_size * m1) / denom));  m = m1;  v = v1
// Shapes: p, g, m, v f32[n] (p, m, v updated in place).
// One idea: pure bandwidth (28 bytes per element): float4 loads and stores of all four tensors
// over the grid-stride loop of the element-wise kernels (linalg/elementwise.cuh). IEEE division and
// sqrt (no fast-math intrinsics); every operation keeps the reference's NaN bits (lib/nan_bits.cuh).
#include "../generated/optim/adamw_step.h"
#include "../lib/nan_bits.cuh"
#include "../linalg/elementwise.cuh"
#include "adam.cuh"

namespace kvant::optim::adamw_step {

namespace nb = nan_bits;

struct Element {
  float p, m, v;
};

static __device__ __forceinline__ Element step(const Params& q, float p, float g, float m, float v) {
  const float p1 = nb::mul(p, q.decay);                 // param.mul_(1 - lr * weight_decay)
  const float w = q.one_minus_beta1;
  const float d = nb::sub(g, m);                         // exp_avg.lerp_(grad, 1 - beta1)
  const float m1 = fabsf(w) < 0.5f ? nb::add(m, nb::mul(w, d)) : nb::sub(g, nb::mul(d, nb::sub(1.0f, w)));
  const float v1 = nb::add(nb::mul(v, q.beta2), nb::mul(nb::mul(q.one_minus_beta2, g), g));  // mul_(beta2).addcmul_
  const float denom = nb::add(detail::sqrtDiv(v1, q.bias_c2_sqrt), q.eps);
  const float p2 = nb::sub(p1, nb::div(nb::mul(q.step_size, m1), denom));  // addcdiv_(m, denom, -step_size)
  return {p2, m1, v1};
}

static __global__ void adamwKernel(Params q, float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                   float* __restrict__ v) {
  float4* p4 = reinterpret_cast<float4*>(p);
  const float4* g4 = reinterpret_cast<const float4*>(g);
  float4* m4 = reinterpret_cast<float4*>(m);
  float4* v4 = reinterpret_cast<float4*>(v);
  linalg::detail::forEachElement(
      q.n,
      [&](uint64_t i) {
        const float4 pp = p4[i], gg = __ldg(g4 + i), mm = m4[i], vv = v4[i];
        const Element a = step(q, pp.x, gg.x, mm.x, vv.x), b = step(q, pp.y, gg.y, mm.y, vv.y);
        const Element c = step(q, pp.z, gg.z, mm.z, vv.z), d = step(q, pp.w, gg.w, mm.w, vv.w);
        p4[i] = make_float4(a.p, b.p, c.p, d.p);
        m4[i] = make_float4(a.m, b.m, c.m, d.m);
        v4[i] = make_float4(a.v, b.v, c.v, d.v);
      },
      [&](uint64_t i) {
        const Element e = step(q, p[i], g[i], m[i], v[i]);
        p[i] = e.p;
        m[i] = e.m;
        v[i] = e.v;
      });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(adamwKernel, linalg::detail::elementwiseGrid(p.n), linalg::detail::kElementwiseThreads, 0, stream, p, b.p, b.g, b.m, b.v);
}

}  // namespace kvant::optim::adamw_step
