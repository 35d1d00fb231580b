// linalg.sum_squares — sum of squares of n f32 values by the fixed 256-ary tree (global grad norm).
// Shapes: x f32[n]; partials f32[sum_l ceil(n/256^(l+1))] (scratch); out f32[1].
// Math: level 0 sums f(x[i] * x[i]) per chunk of 256 in order, then the tree of linalg.sum;
//       out = total, or f(out + total) with accumulate.
// Idea: as linalg.sum, squaring each loaded vector before the transpose.
import { Bindings, Params } from '../generated/linalg/sum_squares';
import { treeReduce } from '../common/tree_reduce';

export function linalg__sum_squares(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const total = treeReduce(b.x, usize(p.n), b.partials, true);
  store<f32>(b.out, p.accumulate == 1 ? load<f32>(b.out) + total : total);
}
