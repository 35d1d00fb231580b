// linalg.axpy — element-wise y = alpha·x + y (in place on y).
// Shapes: x, y f32[n].
// Math: y[i] = f(f(alpha * x[i]) + y[i]) — a multiply, then an add (no fma).
// Idea: memory-bound: 16 elements per iteration, f32x4.mul then f32x4.add (each IEEE-rounded).
import { Bindings, Params } from '../generated/linalg/axpy';

export function linalg__axpy(params: usize, bindings: usize): void {
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
    v128.store(y + o, f32x4.add(f32x4.mul(va, v128.load(x + o)), v128.load(y + o)));
    v128.store(y + o, f32x4.add(f32x4.mul(va, v128.load(x + o, 16)), v128.load(y + o, 16)), 16);
    v128.store(y + o, f32x4.add(f32x4.mul(va, v128.load(x + o, 32)), v128.load(y + o, 32)), 32);
    v128.store(y + o, f32x4.add(f32x4.mul(va, v128.load(x + o, 48)), v128.load(y + o, 48)), 48);
  }
  for (; i < n; i++) store<f32>(y + (i << 2), alpha * load<f32>(x + (i << 2)) + load<f32>(y + (i << 2)));
}
