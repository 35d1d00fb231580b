// linalg.add — element-wise c = a + b.
// Shapes: a, b, c f32[n].
// Math: c[i] = f(a[i] + b[i]).
// Idea: memory-bound: 16 elements per iteration in four f32x4 adds, the tail one at a time.
import { Bindings, Params } from '../generated/linalg/add';

export function linalg__add(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
  const x = b.a;
  const y = b.b;
  const c = b.c;
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) {
    const o = i << 2;
    v128.store(c + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
    v128.store(c + o, f32x4.add(v128.load(x + o, 16), v128.load(y + o, 16)), 16);
    v128.store(c + o, f32x4.add(v128.load(x + o, 32), v128.load(y + o, 32)), 32);
    v128.store(c + o, f32x4.add(v128.load(x + o, 48), v128.load(y + o, 48)), 48);
  }
  for (; i < n; i++) store<f32>(c + (i << 2), load<f32>(x + (i << 2)) + load<f32>(y + (i << 2)));
}
