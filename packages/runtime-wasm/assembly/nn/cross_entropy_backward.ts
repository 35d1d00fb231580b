// nn.cross_entropy_backward — dlogits = (softmax - onehot(label)) · dloss per row, in place over the logits.
// Shapes: dlogits f32[n, v] (logits in, gradient out); labels i32[n]; lse, dloss f32[n].
// Math: ignored row: +0.0; else p = f(exp(f(x_j - lse))); g = j == label ? f(p - 1) : p; out = f(g * dl).
// Idea: element-wise given lse: one SIMD pass per row, sixteen elements per step, with the
// table-constant vector exp, or four interleaved clamp-free exps (expf4Near4) when all sixteen
// arguments are in [-87, 88] (the same bits); the rest four at a time. The label's element is
// redone on its own from the same exp (expf1 equals a lane of expf4). `__part` splits the rows.
import { Bindings, Params } from '../generated/nn/cross_entropy_backward';
import { EXP_B, EXP_C, EXP_D, expf1, expf4, expf4Near4, outsideNear } from '../common/expf';
import { loadUpTo, storeUpTo } from '../common/rowsum32';

export function nn__cross_entropy_backward(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  rows(p, b, 0, usize(p.n));
}

/** Part `part` of `parts`: a contiguous range of rows (threading ABI, see index.ts). */
export function nn__cross_entropy_backward__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = u64(p.n);
  rows(p, b, usize((n * part) / parts), usize((n * (part + 1)) / parts));
}

function rows(p: Params, b: Bindings, r0: usize, r1: usize): void {
  const v = usize(p.v);
  for (let r = r0; r < r1; r++) {
    const x = b.dlogits + ((r * v) << 2);
    const label = load<i32>(b.labels + (r << 2));
    if (label == p.ignore_index) {
      memory.fill(x, 0, v << 2);
      continue;
    }
    const lsef = load<f32>(b.lse + (r << 2));
    const dlf = load<f32>(b.dloss + (r << 2));
    // The label's logit, read before the pass overwrites it.
    const hasLabel = label >= 0 && usize(label) < v;
    const xl = hasLabel ? load<f32>(x + (usize(label) << 2)) : 0;
    const lse = f32x4.splat(lsef);
    const dl = f32x4.splat(dlf);
    let j: usize = 0;
    for (; j + 16 <= v; j += 16) {
      const o = x + (j << 2);
      const a0 = f32x4.sub(v128.load(o), lse);
      const a1 = f32x4.sub(v128.load(o, 16), lse);
      const a2 = f32x4.sub(v128.load(o, 32), lse);
      const a3 = f32x4.sub(v128.load(o, 48), lse);
      if (v128.any_true(v128.or(v128.or(outsideNear(a0), outsideNear(a1)), v128.or(outsideNear(a2), outsideNear(a3))))) {
        v128.store(o, f32x4.mul(expf4(a0), dl));
        v128.store(o, f32x4.mul(expf4(a1), dl), 16);
        v128.store(o, f32x4.mul(expf4(a2), dl), 32);
        v128.store(o, f32x4.mul(expf4(a3), dl), 48);
      } else {
        v128.store(o, f32x4.mul(expf4Near4(a0, a1, a2, a3), dl));
        v128.store(o, f32x4.mul(EXP_B, dl), 16);
        v128.store(o, f32x4.mul(EXP_C, dl), 32);
        v128.store(o, f32x4.mul(EXP_D, dl), 48);
      }
    }
    for (; j + 4 <= v; j += 4) {
      const o = x + (j << 2);
      v128.store(o, f32x4.mul(expf4(f32x4.sub(v128.load(o), lse)), dl));
    }
    if (j < v) {
      const o = x + (j << 2);
      const cnt = isize(v - j);
      storeUpTo(o, f32x4.mul(expf4(f32x4.sub(loadUpTo(o, cnt), lse)), dl), cnt);
    }
    if (hasLabel) store<f32>(x + (usize(label) << 2), (expf1(xl - lsef) - 1) * dlf);
  }
}
