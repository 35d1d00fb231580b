// nn.rmsnorm_backward — dx = rstd·(g - xhat·mean(g·xhat)) per row (g = dy·w, xhat = x·rstd), and
// dw (+)= sum over rows of dy·xhat, in row order.
// Shapes: x, dy, dx f32[n, c]; w, dw f32[c]; rstd f32[n] (the forward's).
// Math: dot = rowsum32(0, c, f(g_j * xhat_j)); mu = f(dot / c); dx_j = f(rs * f(g_j - f(xhat_j * mu)));
//       dw_j: acc = accumulate ? dw_j : +0.0, acc = f(acc + f(dy_rj * xhat_rj)) for r = 0..n-1.
// Idea: one pass per row, SIMD across j: the rowsum32 lanes (8 f32x4 accumulators) for the dot,
// then dx and the dw update while the row is in cache. dw itself is the running accumulator, so
// every column's sum walks the rows in order.
import { Bindings, Params } from '../generated/nn/rmsnorm_backward';
import { loadUpTo, rowsum32Tree, storeUpTo } from '../common/rowsum32';

/** One vector of rowsum32 terms f(f(dy * w) * f(x * rs)) at element offset o (bytes) of the row, `count` valid lanes. */
// @ts-ignore: decorator
@inline
function term(x: usize, dy: usize, w: usize, o: usize, rs: v128, count: isize): v128 {
  return f32x4.mul(f32x4.mul(loadUpTo(dy + o, count), loadUpTo(w + o, count)), f32x4.mul(loadUpTo(x + o, count), rs));
}

export function nn__rmsnorm_backward(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const c = usize(p.c);
  const cf = f32(p.c);
  const w = b.w;
  if (p.accumulate == 0) memory.fill(b.dw, 0, c << 2);
  for (let r: usize = 0; r < usize(p.n); r++) {
    const x = b.x + ((r * c) << 2);
    const dy = b.dy + ((r * c) << 2);
    const dx = b.dx + ((r * c) << 2);
    const rsf = load<f32>(b.rstd + (r << 2));
    const rs = f32x4.splat(rsf);
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    let j: usize = 0;
    for (; j + 32 <= c; j += 32) {
      const o = j << 2;
      a0 = f32x4.add(a0, term(x, dy, w, o, rs, 4));
      a1 = f32x4.add(a1, term(x, dy, w, o + 16, rs, 4));
      a2 = f32x4.add(a2, term(x, dy, w, o + 32, rs, 4));
      a3 = f32x4.add(a3, term(x, dy, w, o + 48, rs, 4));
      a4 = f32x4.add(a4, term(x, dy, w, o + 64, rs, 4));
      a5 = f32x4.add(a5, term(x, dy, w, o + 80, rs, 4));
      a6 = f32x4.add(a6, term(x, dy, w, o + 96, rs, 4));
      a7 = f32x4.add(a7, term(x, dy, w, o + 112, rs, 4));
    }
    if (j < c) {
      // Missing elements load as +0.0: their term is +0.0, which changes no lane.
      const o = j << 2;
      const rem = isize(c - j);
      a0 = f32x4.add(a0, term(x, dy, w, o, rs, rem));
      a1 = f32x4.add(a1, term(x, dy, w, o + 16, rs, rem - 4));
      a2 = f32x4.add(a2, term(x, dy, w, o + 32, rs, rem - 8));
      a3 = f32x4.add(a3, term(x, dy, w, o + 48, rs, rem - 12));
      a4 = f32x4.add(a4, term(x, dy, w, o + 64, rs, rem - 16));
      a5 = f32x4.add(a5, term(x, dy, w, o + 80, rs, rem - 20));
      a6 = f32x4.add(a6, term(x, dy, w, o + 96, rs, rem - 24));
      a7 = f32x4.add(a7, term(x, dy, w, o + 112, rs, rem - 28));
    }
    const dot = rowsum32Tree(a0, a1, a2, a3, a4, a5, a6, a7);
    const mu = f32x4.splat(dot / cf);
    for (j = 0; j < c; j += 4) {
      const o = j << 2;
      const cnt = isize(c - j);
      const dyv = loadUpTo(dy + o, cnt);
      const xhat = f32x4.mul(loadUpTo(x + o, cnt), rs);
      const g = f32x4.mul(dyv, loadUpTo(w + o, cnt));
      storeUpTo(dx + o, f32x4.mul(rs, f32x4.sub(g, f32x4.mul(xhat, mu))), cnt);
      storeUpTo(b.dw + o, f32x4.add(loadUpTo(b.dw + o, cnt), f32x4.mul(dyv, xhat)), cnt);
    }
  }
}
