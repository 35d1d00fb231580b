// nn.cross_entropy — softmax cross-entropy per row with ignore_index: loss = -log_softmax[label], and lse.
// Shapes: logits f32[n, v]; labels i32[n]; loss, lse f32[n].
// Math: per chunk C_q = [4096q, min(v, 4096q + 4096)): cm = max over C_q (a NaN never wins);
//       q == 0: m = cm, s = rowsum32(C_0, exp(x_j - m)); q > 0: mn = max(m, cm),
//       s = f(f(s * exp(m - mn)) + rowsum32(C_q, exp(x_j - mn))), m = mn.
//       lse = f(m + log s); loss = f(f(m - x_label) + log s) (+0.0 ignored, NaN for a bad label).
// Idea: an online log-sum-exp over chunks of 4096 (16 KiB, so the second pass over a chunk reads
// L1): one SIMD pass for the chunk's max and min, then rowsum32's 8 accumulators over the SIMD
// exp (common/expf.ts). Every argument x_j - mn is <= 0, and >= f(min - mn): when that is >= -87
// (logits that span less than 87, i.e. always in practice) the whole chunk takes expf4Near, the
// same bits without the clamp and with a one-multiply scaling. The few per-row exps and logs go
// through f64 (expScalar, logScalar). `__part` splits the rows.
import { Bindings, Params } from '../generated/nn/cross_entropy';
import { expf4, expf4Near, expScalar, logScalar } from '../common/expf';
import { laneMask, loadUpTo, rowsum32Tree } from '../common/rowsum32';

const CHUNK: usize = 4096;

export function nn__cross_entropy(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  rows(p, b, 0, usize(p.n));
}

/** Part `part` of `parts`: a contiguous range of rows (threading ABI, see index.ts). */
export function nn__cross_entropy__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = u64(p.n);
  rows(p, b, usize((n * part) / parts), usize((n * (part + 1)) / parts));
}

/**
 * Max and min of x[0..len) ignoring NaN (-Inf and +Inf when there is nothing else), in lanes 0
 * and 1. The max is the same select sequence as a max alone, lane for lane.
 */
function chunkMaxMin(x: usize, len: usize): v128 {
  const ninf = f32x4.splat(-Infinity);
  const pinf = f32x4.splat(Infinity);
  let m0 = ninf, m1 = ninf, l0 = pinf, l1 = pinf;
  let j: usize = 0;
  for (; j + 8 <= len; j += 8) {
    const v0 = v128.load(x + (j << 2));
    const v1 = v128.load(x + (j << 2), 16);
    // pmax(m, v) = m < v ? v : m and pmin(l, v) = v < l ? v : l: a NaN v keeps m and l.
    m0 = f32x4.pmax(m0, v0);
    m1 = f32x4.pmax(m1, v1);
    l0 = f32x4.pmin(l0, v0);
    l1 = f32x4.pmin(l1, v1);
  }
  for (; j < len; j += 4) {
    const cnt = isize(len - j);
    const v = loadUpTo(x + (j << 2), cnt);
    const mask = laneMask(cnt);
    m0 = f32x4.pmax(m0, v128.bitselect(v, ninf, mask));
    l0 = f32x4.pmin(l0, v128.bitselect(v, pinf, mask));
  }
  m0 = f32x4.pmax(m0, m1);
  l0 = f32x4.pmin(l0, l1);
  let m = f32x4.extract_lane(m0, 0);
  let a = f32x4.extract_lane(m0, 1);
  if (a > m) m = a;
  a = f32x4.extract_lane(m0, 2);
  if (a > m) m = a;
  a = f32x4.extract_lane(m0, 3);
  if (a > m) m = a;
  let l = f32x4.extract_lane(l0, 0);
  a = f32x4.extract_lane(l0, 1);
  if (a < l) l = a;
  a = f32x4.extract_lane(l0, 2);
  if (a < l) l = a;
  a = f32x4.extract_lane(l0, 3);
  if (a < l) l = a;
  return f32x4.replace_lane(f32x4.splat(m), 1, l);
}

// @ts-ignore: decorator
@inline
function term(x: usize, mn: v128, near: bool): v128 {
  const a = f32x4.sub(v128.load(x), mn);
  return near ? expf4Near(a) : expf4(a);
}

// @ts-ignore: decorator
@inline
function tailTerm(x: usize, mn: v128, cnt: isize, near: bool): v128 {
  // Lanes past the chunk hold 0 - mn, which may be outside expf4Near's range: masked to +0.0.
  const a = f32x4.sub(loadUpTo(x, cnt), mn);
  return v128.and(near ? expf4Near(a) : expf4(a), laneMask(cnt));
}

/** rowsum32 over x[0..len) of f(exp(f(x_j - mn))); near: every x_j - mn is in expf4Near's range. */
// @ts-ignore: decorator
@inline
function sumExp32(x: usize, len: usize, mnf: f32, near: bool): f32 {
  const mn = f32x4.splat(mnf);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  let j: usize = 0;
  for (; j + 32 <= len; j += 32) {
    const q = x + (j << 2);
    a0 = f32x4.add(a0, term(q, mn, near));
    a1 = f32x4.add(a1, term(q + 16, mn, near));
    a2 = f32x4.add(a2, term(q + 32, mn, near));
    a3 = f32x4.add(a3, term(q + 48, mn, near));
    a4 = f32x4.add(a4, term(q + 64, mn, near));
    a5 = f32x4.add(a5, term(q + 80, mn, near));
    a6 = f32x4.add(a6, term(q + 96, mn, near));
    a7 = f32x4.add(a7, term(q + 112, mn, near));
  }
  if (j < len) {
    const q = x + (j << 2);
    const rem = isize(len - j);
    a0 = f32x4.add(a0, tailTerm(q, mn, rem, near));
    a1 = f32x4.add(a1, tailTerm(q + 16, mn, rem - 4, near));
    a2 = f32x4.add(a2, tailTerm(q + 32, mn, rem - 8, near));
    a3 = f32x4.add(a3, tailTerm(q + 48, mn, rem - 12, near));
    a4 = f32x4.add(a4, tailTerm(q + 64, mn, rem - 16, near));
    a5 = f32x4.add(a5, tailTerm(q + 80, mn, rem - 20, near));
    a6 = f32x4.add(a6, tailTerm(q + 96, mn, rem - 24, near));
    a7 = f32x4.add(a7, tailTerm(q + 112, mn, rem - 28, near));
  }
  return rowsum32Tree(a0, a1, a2, a3, a4, a5, a6, a7);
}

/** sumExp32, clamp-free when the chunk's smallest argument f(min - mn) is in range (the largest is <= 0). */
function chunkSumExp(x: usize, len: usize, mn: f32, min: f32): f32 {
  // f(x_j - mn) >= f(min - mn) (rounding is monotonic); false for NaN, e.g. min = mn = +Inf.
  if (min - mn >= f32(-87)) return sumExp32(x, len, mn, true);
  return sumExp32(x, len, mn, false);
}

function rows(p: Params, b: Bindings, r0: usize, r1: usize): void {
  const v = usize(p.v);
  for (let r = r0; r < r1; r++) {
    const x = b.logits + ((r * v) << 2);
    let m: f32 = 0;
    let s: f32 = 0;
    for (let c0: usize = 0; c0 < v; c0 += CHUNK) {
      const len = v - c0 < CHUNK ? v - c0 : CHUNK;
      const mm = chunkMaxMin(x + (c0 << 2), len);
      const cm = f32x4.extract_lane(mm, 0);
      const cmin = f32x4.extract_lane(mm, 1);
      if (c0 == 0) {
        m = cm;
        s = chunkSumExp(x, len, m, cmin);
      } else {
        const mn = cm > m ? cm : m;
        s = s * expScalar(m - mn) + chunkSumExp(x + (c0 << 2), len, mn, cmin);
        m = mn;
      }
    }
    const logS = logScalar(s);
    store<f32>(b.lse + (r << 2), m + logS);
    const label = load<i32>(b.labels + (r << 2));
    let loss: f32;
    if (label == p.ignore_index) loss = 0;
    else if (label >= 0 && usize(label) < v) loss = (m - load<f32>(x + (usize(label) << 2))) + logS;
    else loss = NaN;
    store<f32>(b.loss + (r << 2), loss);
  }
}
