// nn.rope — rotary position embedding, rotate-half as transformers' apply_rotary_pos_emb, from the
// host-computed cos/sin tables: y = x·cos + rotate_half(x)·sin per (i, i + d/2) pair of every head.
// Shapes: x, y f32[n, h, d] (n = B·T); pos i32[n]; cos, sin f32[max_pos, d/2].
// One idea: a thread per rotated pair, coalesced over i (rope.cuh, shared with the backward).
#include "../generated/nn/rope.h"
#include "rope.cuh"

namespace kvant::nn::rope {

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  KVANT_LAUNCH(detail::ropeKernel<true>, detail::ropeGrid(p.n, p.h, p.d), detail::kRopeThreads, 0, stream, p.n, p.h, p.d, p.max_pos,
               b.x, b.pos, b.cos, b.sin, b.y);
}

}  // namespace kvant::nn::rope
