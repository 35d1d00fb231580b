// linalg.scale — element-wise y = alpha·x (out of place).
// Shapes: x, y f32[n].
// Math: y[i] = f(alpha * x[i]) (alpha == 1 still multiplies).
// Idea: memory-bound: 16 elements per iteration in four f32x4 multiplies, the tail one at a time.
import { Bindings, Params } from '../generated/linalg/scale';

export function linalg__scale(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const alpha = p.alpha;
  const va = f32x4.splat(alpha);
  const x = b.x;
  const y = b.y;
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) {
    const o = i << 2;
    v128.store(y + o, f32x4.mul(va, v128.load(x + o)));
    v128.store(y + o, f32x4.mul(va, v128.load(x + o, 16)), 16);
    v128.store(y + o, f32x4.mul(va, v128.load(x + o, 32)), 32);
    v128.store(y + o, f32x4.mul(va, v128.load(x + o, 48)), 48);
  }
  for (; i < n; i++) store<f32>(y + (i << 2), alpha * load<f32>(x + (i << 2)));
}
