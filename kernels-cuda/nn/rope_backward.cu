// nn.rope_backward — the rotary embedding's gradient: the transpose rotation of dy,
//   dx_i = f(f(g1*c) + f(g2*s)), dx_(i+d/2) = f(f(g2*c) - f(g1*s)), with the forward's tables.
// Shapes: dy, dx f32[n, h, d]; pos i32[n]; cos, sin f32[max_pos, d/2].
// One idea: the forward's kernel with the signs swapped (rope.cuh): a thread per pair, coalesced.
#include "../generated/nn/rope_backward.h"
#include "rope.cuh"

namespace kvant::nn::rope_backward {

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(detail::ropeKernel<false>, detail::ropeGrid(p.n, p.h, p.d), detail::kRopeThreads, 0, stream, p.n, p.h, p.d, p.max_pos,
               b.dy, b.pos, b.cos, b.sin, b.dx);
}

}  // namespace kvant::nn::rope_backward
