// linalg.sum — the sum of n f32 values by the fixed 256-ary tree, optionally added to a device scalar.
//   p0[c] = sum in order of x[256c .. 256c+256); each next level sums 256 partials; out = total (or out + total)
// Shapes: x f32[n], partials f32[partials_len] (scratch, level after level), out f32[1].
// One idea: one thread per chunk of 256, chunks staged through shared memory by coalesced warp
// loads; one launch per level of the tree (reduce_tree.cuh).
#include "../generated/linalg/sum.h"
#include "reduce_tree.cuh"

namespace kvant::linalg::sum {

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  detail::reduceTree<false>(b.x, p.n, b.partials, b.out, p.accumulate, stream);
}

}  // namespace kvant::linalg::sum
