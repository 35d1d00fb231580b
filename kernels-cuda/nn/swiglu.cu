// nn.swiglu — SwiGLU, element-wise: out = silu(gate) · up, silu(g) = g / (1 + exp(-g)) (torch's silu):
//   out[e] = f(f(g / f(1 + f(exp(-g)))) * up[e])
// Shapes: gate, up, out f32[n, inter].
// One idea: bandwidth-bound element-wise, float4 loads and stores (linalg/elementwise.cuh). The
// exp is CUDA's expf (2 ulp, never the __expf intrinsic; the emulator uses the host's): the spec's
// `close` bound (8 ulp relative, 2^-100 absolute) is sized for that.
#include "../generated/nn/swiglu.h"
#include "../linalg/elementwise.cuh"
#include "swiglu.cuh"

namespace kvant::nn::swiglu {

static __global__ void swigluKernel(uint64_t n, const float* __restrict__ gate, const float* __restrict__ up, float* __restrict__ out) {
  const float4* g4 = reinterpret_cast<const float4*>(gate);
  const float4* u4 = reinterpret_cast<const float4*>(up);
  float4* o4 = reinterpret_cast<float4*>(out);
  linalg::detail::forEachElement(
      n,
      [&](uint64_t q) {
        const float4 g = __ldg(g4 + q), u = __ldg(u4 + q);
        o4[q] = make_float4(__fmul_rn(detail::silu(g.x), u.x), __fmul_rn(detail::silu(g.y), u.y), __fmul_rn(detail::silu(g.z), u.z),
                            __fmul_rn(detail::silu(g.w), u.w));
      },
      [&](uint64_t i) { out[i] = __fmul_rn(detail::silu(__ldg(gate + i)), __ldg(up + i)); });
}

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  const uint64_t n = 1ull * p.n * p.inter;
  KVANT_LAUNCH(swigluKernel, linalg::detail::elementwiseGrid(n), linalg::detail::kElementwiseThreads, 0, stream, n, b.gate, b.up, b.out);
}

}  // namespace kvant::nn::swiglu
