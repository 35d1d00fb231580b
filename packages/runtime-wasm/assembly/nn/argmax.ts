// nn.argmax — index of the largest value per row; ties to the lowest index; a NaN counts as the largest.
// Shapes: x f32[n, v]; ids i32[n].
// Idea: one scalar pass per row keeping (best, index) with torch's rule: a NaN beats every
// number, and the first NaN (or the first of equal maxima) is kept. Decoding reads one row per
// step, so this is never the hot path; the plain loop is the clearest statement of the rule.
import { Bindings, Params } from '../generated/nn/argmax';

export function nn__argmax(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const v = usize(p.v);
  for (let r: usize = 0; r < usize(p.n); r++) {
    const x = b.x + ((r * v) << 2);
    let best: usize = 0;
    let xb = load<f32>(x);
    for (let j: usize = 1; j < v && !isNaN(xb); j++) {
      const xj = load<f32>(x + (j << 2));
      if (isNaN(xj) || xj > xb) {
        best = j;
        xb = xj;
      }
    }
    store<i32>(b.ids + (r << 2), i32(best));
  }
}
