// linalg.sum_squares — the sum of squares of n f32 values by the fixed 256-ary tree, optionally
// added to a device scalar (the global gradient norm over many tensors, no host round trip).
//   p0[c] = sum in order of f(x[i] * x[i]) over x[256c .. 256c+256); each next level sums 256 partials
// Shapes: x f32[n], partials f32[partials_len] (scratch, level after level), out f32[1].
// One idea: linalg.sum's tree (reduce_tree.cuh) with the square taken at level 0 as each thread
// adds its chunk.
#include "../generated/linalg/sum_squares.h"
#include "reduce_tree.cuh"

namespace kvant::linalg::sum_squares {

void launch(const Params& p, const Bindings& b, kvantStream_t stream) {
  detail::reduceTree<true>(b.x, p.n, b.partials, b.out, p.accumulate, stream);
}

}  // namespace kvant::linalg::sum_squares
