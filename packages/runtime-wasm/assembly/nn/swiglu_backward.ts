// nn.swiglu_backward — dgate and dup of out = silu(gate) · up.
// Shapes: gate, up, dout, dgate, dup f32[n, inter].
// Math: ex = f(exp(-g)); dup = f(dy * f(g / f(1 + ex))); sig = f(1 / f(1 + ex));
//       dgate = f(f(f(dy * u) * sig) * f(1 + f(g * f(1 - sig)))).
// Idea: as nn.swiglu: sixteen elements per step, with four interleaved clamp-free exps
// (expf4NearNeg4, exp(-g) from g) when all sixteen |g| <= 87 (the same bits as the table-constant
// SIMD exp), then four at a time with that exp; the last partial vector runs the same code on its
// lanes. Contiguous ranges per part.
import { Bindings, Params } from '../generated/nn/swiglu_backward';
import { anyFar4, EXP_B, EXP_C, EXP_D, expf4, expf4NearNeg4, ones4 } from '../common/expf';
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

/** Both gradients of four elements at byte offset o, given ex = exp(-g) for the g at o. */
// @ts-ignore: decorator
@inline
function grads(b: Bindings, o: usize, g: v128, ex: v128): void {
  const one = ones4();
  const u = v128.load(b.up + o);
  const dy = v128.load(b.dout + o);
  const den = f32x4.add(one, ex);
  const sig = f32x4.div(one, den);
  v128.store(b.dup + o, f32x4.mul(dy, f32x4.div(g, den)));
  v128.store(b.dgate + o, f32x4.mul(f32x4.mul(f32x4.mul(dy, u), sig), f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sig)))));
}

function range(b: Bindings, e0: usize, e1: usize): void {
  let e = e0;
  for (; e + 16 <= e1; e += 16) {
    const o = e << 2;
    const ga = v128.load(b.gate + o);
    const gb = v128.load(b.gate + o, 16);
    const gc = v128.load(b.gate + o, 32);
    const gd = v128.load(b.gate + o, 48);
    if (anyFar4(ga, gb, gc, gd)) {
      grads(b, o, ga, expf4(f32x4.neg(ga)));
      grads(b, o + 16, gb, expf4(f32x4.neg(gb)));
      grads(b, o + 32, gc, expf4(f32x4.neg(gc)));
      grads(b, o + 48, gd, expf4(f32x4.neg(gd)));
    } else {
      const ea = expf4NearNeg4(ga, gb, gc, gd);
      const eb = EXP_B;
      const ec = EXP_C;
      const ed = EXP_D;
      grads(b, o, ga, ea);
      grads(b, o + 16, gb, eb);
      grads(b, o + 32, gc, ec);
      grads(b, o + 48, gd, ed);
    }
  }
  const one = ones4();
  for (; e < e1; e += 4) {
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
