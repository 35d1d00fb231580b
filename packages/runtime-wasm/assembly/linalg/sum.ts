// linalg.sum — sum of n f32 values by the fixed 256-ary tree, optionally added to a device scalar.
// Shapes: x f32[n]; partials f32[sum_l ceil(n/256^(l+1))] (scratch); out f32[1].
// Math: the spec's tree (common/tree_reduce.ts); out = total, or f(out + total) with accumulate.
// Idea: four chunks of 256 per SIMD pass (lanes = chunks, each chunk summed in order).
import { Bindings, Params } from '../generated/linalg/sum';
import { treeReduce } from '../common/tree_reduce';

export function linalg__sum(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const total = treeReduce(b.x, usize(p.n), b.partials, false);
  store<f32>(b.out, p.accumulate == 1 ? load<f32>(b.out) + total : total);
}
