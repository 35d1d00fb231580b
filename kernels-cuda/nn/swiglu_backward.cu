// nn.swiglu_backward — SwiGLU gradient, element-wise (torch's silu_backward for dgate):
//   ex = f(exp(-g)); dup = f(dy * f(g / f(1 + ex))); sig = f(1 / f(1 + ex))
//   dgate = f(f(f(dy * u) * sig) * f(1 + f(g * f(1 - sig))))
// Shapes: gate, up, dout, dgate, dup f32[n, inter].
// One idea: one exp per element shared by both outputs; float4 loads and stores
// (linalg/elementwise.cuh); expf as the forward (swiglu.cuh), within the spec's `close` bounds.
#include "../generated/nn/swiglu_backward.h"
#include "../linalg/elementwise.cuh"
#include "swiglu.cuh"

namespace kvant::nn::swiglu_backward {

struct Grad {
  float dgate, dup;
};

static __device__ __forceinline__ Grad grad(float g, float u, float dy) {
  const float ex = expf(-g);
  const float one = __fadd_rn(1.0f, ex);
  const float sig = __fdiv_rn(1.0f, one);
  const float dgate = __fmul_rn(__fmul_rn(__fmul_rn(dy, u), sig), __fadd_rn(1.0f, __fmul_rn(g, __fsub_rn(1.0f, sig))));
  return {dgate, __fmul_rn(dy, detail::siluOf(g, ex))};
}

static __global__ void swigluBackwardKernel(uint64_t n, const float* __restrict__ gate, const float* __restrict__ up, const float* __restrict__ dout,
                                            float* __restrict__ dgate, float* __restrict__ dup) {
  const float4* g4 = reinterpret_cast<const float4*>(gate);
  const float4* u4 = reinterpret_cast<const float4*>(up);
  const float4* d4 = reinterpret_cast<const float4*>(dout);
  linalg::detail::forEachElement(
      n,
      [&](uint64_t q) {
        const float4 g = __ldg(g4 + q), u = __ldg(u4 + q), dy = __ldg(d4 + q);
        const Grad a = grad(g.x, u.x, dy.x), b = grad(g.y, u.y, dy.y), c = grad(g.z, u.z, dy.z), d = grad(g.w, u.w, dy.w);
        reinterpret_cast<float4*>(dgate)[q] = make_float4(a.dgate, b.dgate, c.dgate, d.dgate);
        reinterpret_cast<float4*>(dup)[q] = make_float4(a.dup, b.dup, c.dup, d.dup);
      },
      [&](uint64_t i) {
        const Grad r = grad(__ldg(gate + i), __ldg(up + i), __ldg(dout + i));
        dgate[i] = r.dgate;
        dup[i] = r.dup;
      });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint64_t n = 1ull * p.n * p.inter;
  KVANT_LAUNCH(swigluBackwardKernel, linalg::detail::elementwiseGrid(n), linalg::detail::kElementwiseThreads, 0, stream, n, b.gate, b.up, b.dout,
               b.dgate, b.dup);
}

}  // namespace kvant::nn::swiglu_backward
