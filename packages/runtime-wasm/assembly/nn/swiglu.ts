// nn.swiglu — out = silu(gate) · up element-wise, silu(g) = g / (1 + exp(-g)) as torch computes it.
// Shapes: gate, up, out f32[n, inter].
// Math: out_e = f(f(g / f(1 + f(exp(-g)))) * up_e).
// Idea: sixteen elements per step with the SIMD exp of common/expf.ts, whose constants are table
// loads rather than rebuilt immediates; when all sixteen |g| are at most 87 (nearly always) the
// four exps run interleaved (expf4NearNeg4: no clamp, 2^n by an integer add, g rather than -g;
// the same bits), so their dependency chains overlap. The rest, four at a time, and the last
// partial vector run the clamped exp (the same bits again) on their lanes, so an element's bits
// never depend on where a thread's range starts. `__part` splits the elements into contiguous
// ranges.
import { Bindings, Params } from '../generated/nn/swiglu';
import { anyFar4, EXP_B, EXP_C, EXP_D, expf4, expf4NearNeg4, ones4 } from '../common/expf';
import { loadUpTo, storeUpTo } from '../common/rowsum32';

export function nn__swiglu(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  range(b, 0, usize(p.n) * usize(p.inter));
}

/** Part `part` of `parts`: a contiguous range of elements (threading ABI, see index.ts). */
export function nn__swiglu__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const total = u64(p.n) * u64(p.inter);
  range(b, usize((total * part) / parts), usize((total * (part + 1)) / parts));
}

// @ts-ignore: decorator
@inline
function silu(g: v128): v128 {
  return f32x4.div(g, f32x4.add(ones4(), expf4(f32x4.neg(g))));
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
      v128.store(b.out + o, f32x4.mul(silu(ga), v128.load(b.up + o)));
      v128.store(b.out + o, f32x4.mul(silu(gb), v128.load(b.up + o, 16)), 16);
      v128.store(b.out + o, f32x4.mul(silu(gc), v128.load(b.up + o, 32)), 32);
      v128.store(b.out + o, f32x4.mul(silu(gd), v128.load(b.up + o, 48)), 48);
    } else {
      const ea = expf4NearNeg4(ga, gb, gc, gd);
      const one = ones4();
      v128.store(b.out + o, f32x4.mul(f32x4.div(ga, f32x4.add(one, ea)), v128.load(b.up + o)));
      v128.store(b.out + o, f32x4.mul(f32x4.div(gb, f32x4.add(one, EXP_B)), v128.load(b.up + o, 16)), 16);
      v128.store(b.out + o, f32x4.mul(f32x4.div(gc, f32x4.add(one, EXP_C)), v128.load(b.up + o, 32)), 32);
      v128.store(b.out + o, f32x4.mul(f32x4.div(gd, f32x4.add(one, EXP_D)), v128.load(b.up + o, 48)), 48);
    }
  }
  for (; e < e1; e += 4) {
    const o = e << 2;
    const cnt = isize(e1 - e);
    storeUpTo(b.out + o, f32x4.mul(silu(loadUpTo(b.gate + o, cnt)), loadUpTo(b.up + o, cnt)), cnt);
  }
}
