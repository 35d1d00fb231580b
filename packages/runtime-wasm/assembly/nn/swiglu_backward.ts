// nn.swiglu_backward — dgate and dup of out = silu(gate) · up.
// Shapes: gate, up, dout, dgate, dup f32[n, inter].
// Math: ex = f(exp(-g)); dup = f(dy * f(g / f(1 + ex))); sig = f(1 / f(1 + ex));
//       dgate = f(f(f(dy * u) * sig) * f(1 + f(g * f(1 - sig)))).
// Idea: as nn.swiglu, four elements per step with the SIMD exp, contiguous ranges per part.
import { Bindings, Params } from '../generated/nn/swiglu_backward';
import { expf4 } from '../common/expf';
import { loadUpTo, storeUpTo } from '../common/rowsum32';

export function nn__swiglu_backward(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  range(b, 0, usize(p.n) * usize(p.inter));
}

/** Part `part` of `parts`: a contiguous range of elements (threading ABI, see index.ts). */
export function nn__swiglu_backward__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const total = u64(p.n) * u64(p.inter);
  range(b, usize((total * part) / parts), usize((total * (part + 1)) / parts));
}

function range(b: Bindings, e0: usize, e1: usize): void {
  const one = f32x4.splat(1);
  for (let e = e0; e < e1; e += 4) {
    const o = e << 2;
    const cnt = isize(e1 - e);
    const g = loadUpTo(b.gate + o, cnt);
    const u = loadUpTo(b.up + o, cnt);
    const dy = loadUpTo(b.dout + o, cnt);
    const den = f32x4.add(one, expf4(f32x4.neg(g)));
    const sig = f32x4.div(one, den);
    storeUpTo(b.dup + o, f32x4.mul(dy, f32x4.div(g, den)), cnt);
    storeUpTo(b.dgate + o, f32x4.mul(f32x4.mul(f32x4.mul(dy, u), sig), f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sig)))), cnt);
  }
}
