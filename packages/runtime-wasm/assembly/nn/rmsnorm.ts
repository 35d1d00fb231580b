// nn.rmsnorm — y = w · (x · rstd), rstd = 1 / sqrt(mean(x²) + eps) per row (LlamaRMSNorm); writes rstd.
// Shapes: x f32[n, c]; w f32[c]; y f32[n, c]; rstd f32[n].
// Math: ss = rowsum32(0, c, x_j²); var = f(ss / c); rstd = f(1 / f(sqrt(f(var + eps))));
//       y_j = f(w_j * f(x_j * rstd)).
// Idea: rowsum32's 32 lanes are 8 f32x4 accumulators over 32 consecutive x (common/rowsum32.ts),
// so the sum of squares is one SIMD pass in the spec's order; the scaling is a second SIMD pass
// over the row (still in cache). sqrt and division are IEEE in wasm: bit-exact.
import { Bindings, Params } from '../generated/nn/rmsnorm';
import { loadUpTo, rowsum32Tree, storeUpTo } from '../common/rowsum32';

/** rowsum32 of f(x_j * x_j) over a row of c values at x. */
export function sumSquares32(x: usize, c: usize): f32 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  let j: usize = 0;
  for (; j + 32 <= c; j += 32) {
    const q = x + (j << 2);
    let v = v128.load(q);
    a0 = f32x4.add(a0, f32x4.mul(v, v));
    v = v128.load(q, 16);
    a1 = f32x4.add(a1, f32x4.mul(v, v));
    v = v128.load(q, 32);
    a2 = f32x4.add(a2, f32x4.mul(v, v));
    v = v128.load(q, 48);
    a3 = f32x4.add(a3, f32x4.mul(v, v));
    v = v128.load(q, 64);
    a4 = f32x4.add(a4, f32x4.mul(v, v));
    v = v128.load(q, 80);
    a5 = f32x4.add(a5, f32x4.mul(v, v));
    v = v128.load(q, 96);
    a6 = f32x4.add(a6, f32x4.mul(v, v));
    v = v128.load(q, 112);
    a7 = f32x4.add(a7, f32x4.mul(v, v));
  }
  if (j < c) {
    // The short last step: missing elements load as +0.0, whose square adds nothing.
    const q = x + (j << 2);
    const rem = isize(c - j);
    let v = loadUpTo(q, rem);
    a0 = f32x4.add(a0, f32x4.mul(v, v));
    v = loadUpTo(q + 16, rem - 4);
    a1 = f32x4.add(a1, f32x4.mul(v, v));
    v = loadUpTo(q + 32, rem - 8);
    a2 = f32x4.add(a2, f32x4.mul(v, v));
    v = loadUpTo(q + 48, rem - 12);
    a3 = f32x4.add(a3, f32x4.mul(v, v));
    v = loadUpTo(q + 64, rem - 16);
    a4 = f32x4.add(a4, f32x4.mul(v, v));
    v = loadUpTo(q + 80, rem - 20);
    a5 = f32x4.add(a5, f32x4.mul(v, v));
    v = loadUpTo(q + 96, rem - 24);
    a6 = f32x4.add(a6, f32x4.mul(v, v));
    v = loadUpTo(q + 112, rem - 28);
    a7 = f32x4.add(a7, f32x4.mul(v, v));
  }
  return rowsum32Tree(a0, a1, a2, a3, a4, a5, a6, a7);
}

export function nn__rmsnorm(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  rows(p, b, 0, usize(p.n));
}

/** Part `part` of `parts`: a contiguous range of rows (threading ABI, see index.ts). */
export function nn__rmsnorm__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = u64(p.n);
  rows(p, b, usize((n * part) / parts), usize((n * (part + 1)) / parts));
}

function rows(p: Params, b: Bindings, r0: usize, r1: usize): void {
  const c = usize(p.c);
  const cf = f32(p.c);
  for (let r = r0; r < r1; r++) {
    const x = b.x + ((r * c) << 2);
    const y = b.y + ((r * c) << 2);
    const ss = sumSquares32(x, c);
    const variance = ss / cf;
    const rstd: f32 = f32(1) / Mathf.sqrt(variance + p.eps);
    store<f32>(b.rstd + (r << 2), rstd);
    const rs = f32x4.splat(rstd);
    let j: usize = 0;
    for (; j + 4 <= c; j += 4) {
      const o = j << 2;
      v128.store(y + o, f32x4.mul(v128.load(b.w + o), f32x4.mul(v128.load(x + o), rs)));
    }
    if (j < c) {
      const o = j << 2;
      const rem = isize(c - j);
      storeUpTo(y + o, f32x4.mul(loadUpTo(b.w + o, rem), f32x4.mul(loadUpTo(x + o, rem), rs)), rem);
    }
  }
}
