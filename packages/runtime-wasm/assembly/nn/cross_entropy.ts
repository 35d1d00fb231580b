// nn.cross_entropy — softmax cross-entropy per row with ignore_index: loss = -log_softmax[label], and lse.
// Shapes: logits f32[n, v]; labels i32[n]; loss, lse f32[n].
// Math: per chunk C_q = [4096q, min(v, 4096q + 4096)): cm = max over C_q (a NaN never wins);
//       q == 0: m = cm, s = rowsum32(C_0, exp(x_j - m)); q > 0: mn = max(m, cm),
//       s = f(f(s * exp(m - mn)) + rowsum32(C_q, exp(x_j - mn))), m = mn.
//       lse = f(m + log s); loss = f(f(m - x_label) + log s) (+0.0 ignored, NaN for a bad label).
// Idea: an online log-sum-exp over chunks of 4096 (16 KiB, so the exp pass over a chunk reads L1):
// a SIMD pass for the chunk's max and min, then rowsum32's 8 accumulators over the SIMD exp
// (common/expf.ts). The max/min pass reads memory and the exp pass is arithmetic, so the two are
// software-pipelined: the loop that sums chunk q's exps also takes the max and min of the next
// chunk (of this row or the next), which its loads bring in while the exps compute. Every
// argument x_j - mn is <= 0, and >= f(min - mn): when that is >= -87 (logits that span less than
// 87, i.e. always in practice) the whole chunk takes expf4Near, the same bits without the clamp
// and with a one-add scaling. The few per-row exps and logs go through f64 (expScalar,
// logScalar). `__part` splits the rows.
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
 * Finish a max/min pass over x[0..len) whose 8-element steps below j are done (m0, l0 take the
 * even vectors of each step, m1, l1 the odd ones): the remaining steps, the masked tail into m0
 * and l0, then the lanes. Returns the max and min ignoring NaN (-Inf and +Inf when there is
 * nothing else) in lanes 1 and 2, lane0 in lane 0.
 */
// @ts-ignore: decorator
@inline
function maxMinFinish(m0: v128, m1: v128, l0: v128, l1: v128, x: usize, j0: usize, len: usize, lane0: f32): v128 {
  const ninf = f32x4.splat(-Infinity);
  const pinf = f32x4.splat(Infinity);
  let j = j0;
  // pmax(m, v) = m < v ? v : m and pmin(l, v) = v < l ? v : l: a NaN v keeps m and l.
  for (; j + 8 <= len; j += 8) {
    const v0 = v128.load(x + (j << 2));
    const v1 = v128.load(x + (j << 2), 16);
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
  let c = f32x4.extract_lane(m0, 1);
  if (c > m) m = c;
  c = f32x4.extract_lane(m0, 2);
  if (c > m) m = c;
  c = f32x4.extract_lane(m0, 3);
  if (c > m) m = c;
  let l = f32x4.extract_lane(l0, 0);
  c = f32x4.extract_lane(l0, 1);
  if (c < l) l = c;
  c = f32x4.extract_lane(l0, 2);
  if (c < l) l = c;
  c = f32x4.extract_lane(l0, 3);
  if (c < l) l = c;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(lane0), 1, m), 2, l);
}

/** Max and min of x[0..len) (lanes 1 and 2), for a row range's first chunk. */
function chunkMaxMin(x: usize, len: usize): v128 {
  const ninf = f32x4.splat(-Infinity);
  const pinf = f32x4.splat(Infinity);
  return maxMinFinish(ninf, ninf, pinf, pinf, x, 0, len, 0);
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

/**
 * rowsum32 over x[0..len) of f(exp(f(x_j - mn))) in lane 0 (near: every x_j - mn is in
 * expf4Near's range), and the max and min of the next chunk y[0..ylen) in lanes 1 and 2: each
 * step over 32 of x also takes four 8-element max/min steps over y, in chunkMaxMin's order.
 */
// @ts-ignore: decorator
@inline
function sumExp32Next(x: usize, len: usize, mnf: f32, near: bool, y: usize, ylen: usize): v128 {
  const mn = f32x4.splat(mnf);
  let m0 = f32x4.splat(-Infinity), m1 = m0;
  let l0 = f32x4.splat(Infinity), l1 = l0;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  let j: usize = 0;
  // The 32-element steps over x below jy also take four 8-element max/min steps over y.
  const jy = (len < ylen ? len : ylen) & ~31;
  for (; j + 32 <= len; j += 32) {
    if (j < jy) {
      for (let u = y + (j << 2), e = u + 128; u < e; u += 32) {
        const v0 = v128.load(u);
        const v1 = v128.load(u, 16);
        m0 = f32x4.pmax(m0, v0);
        m1 = f32x4.pmax(m1, v1);
        l0 = f32x4.pmin(l0, v0);
        l1 = f32x4.pmin(l1, v1);
      }
    }
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
  return maxMinFinish(m0, m1, l0, l1, y, jy, ylen, rowsum32Tree(a0, a1, a2, a3, a4, a5, a6, a7));
}

/** sumExp32Next, clamp-free when the chunk's smallest argument f(min - mn) is in range (the largest is <= 0). */
function chunkSumExpNext(x: usize, len: usize, mn: f32, min: f32, y: usize, ylen: usize): v128 {
  // f(x_j - mn) >= f(min - mn) (rounding is monotonic); false for NaN, e.g. min = mn = +Inf.
  if (min - mn >= f32(-87)) return sumExp32Next(x, len, mn, true, y, ylen);
  return sumExp32Next(x, len, mn, false, y, ylen);
}

function rows(p: Params, b: Bindings, r0: usize, r1: usize): void {
  const v = usize(p.v);
  // The max and min of the chunk about to be summed (lanes 1, 2), taken while the previous one was.
  let mm = r0 < r1 ? chunkMaxMin(b.logits + ((r0 * v) << 2), v < CHUNK ? v : CHUNK) : f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const x = b.logits + ((r * v) << 2);
    let m: f32 = 0;
    let s: f32 = 0;
    for (let c0: usize = 0; c0 < v; c0 += CHUNK) {
      const len = v - c0 < CHUNK ? v - c0 : CHUNK;
      // The next chunk: this row's, else the next row's first (none after the range's last).
      const y = x + ((c0 + len) << 2);
      const ylen = c0 + len < v ? (v - c0 - len < CHUNK ? v - c0 - len : CHUNK) : r + 1 < r1 ? (v < CHUNK ? v : CHUNK) : 0;
      const cm = f32x4.extract_lane(mm, 1);
      const cmin = f32x4.extract_lane(mm, 2);
      let res: v128;
      if (c0 == 0) {
        m = cm;
        res = chunkSumExpNext(x, len, m, cmin, y, ylen);
        s = f32x4.extract_lane(res, 0);
      } else {
        const mn = cm > m ? cm : m;
        res = chunkSumExpNext(x + (c0 << 2), len, mn, cmin, y, ylen);
        s = s * expScalar(m - mn) + f32x4.extract_lane(res, 0);
        m = mn;
      }
      mm = res;
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
