// nn.attention — causal grouped-query attention with packed-document masks and an optional sliding
// window; FlashAttention-2's online softmax over key tiles of 64; writes o and the row log-sum-exp.
// Shapes: q, o f32[B, T, H, D]; k, v f32[B, T, Hkv, D]; pos i32[B, T]; lse f32[B, H, T].
// Math (spec): query i of head hh (kv head g = hh / (H/Hkv)) attends keys [lo_i, i];
//   s_ij = f(dot(q_i, k_j) * scale), the dot sequential over d; per key tile K of 64 meeting [lo, i]:
//   mn = max(m, max s); alpha = m == -Inf ? 0 : exp(m - mn); p_j = exp(s_ij - mn);
//   l = f(f(l * alpha) + sum p_j); acc = f(f(acc * alpha) + sum p_j v_j); m = mn;
//   o_i = f(acc / l); lse_i = f(m + log l).
// Idea (v2, `__part`): a unit is (batch, head, 64 queries). Per key tile the unit packs K
// transposed and V row-major into its 1 MiB scratch once and reuses them for its 64 queries; the
// scores come from a 4-query x 8-key register block (common/attention_tiles.ts, dot sequential
// over d, SIMD across keys) and P·V from a 4-query x 8-dim block (SIMD across d, sequential over
// keys), so every sum keeps the spec's order and the bits do not depend on the split. The working
// set is O(64·D) per thread: no T x T buffer exists. Parts take units round-robin, which balances
// the causal triangle. Plain export (v1): the same order one query at a time, with a small static
// buffer (single-threaded callers only); the runtime always calls `__part`.
import { Bindings, Params } from '../generated/nn/attention';
import { expf1, expf4, expScalar, logScalar } from '../common/expf';
import { accQuadRescale, attentionLo, dotQuad, KT, packRows, packTransposed, padD, QB } from '../common/attention_tiles';

/** v1's static row buffers: acc [256] and the scores of one key tile [64]. */
const NAIVE = memory.data(4 * (256 + 64), 16);

export function nn__attention(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const t = usize(p.t), h = usize(p.h), hkv = usize(p.h_kv), d = usize(p.d);
  const group = h / hkv;
  const acc = NAIVE;
  const s = NAIVE + 1024;
  for (let bb: usize = 0; bb < usize(p.b); bb++) {
    for (let hh: usize = 0; hh < h; hh++) {
      const g = hh / group;
      for (let i: usize = 0; i < t; i++) {
        const lo = usize(attentionLo(b.pos, t, p.window, bb, i));
        const qi = b.q + ((((bb * t + i) * h + hh) * d) << 2);
        let m: f32 = -Infinity;
        let l: f32 = 0;
        memory.fill(acc, 0, d << 2);
        for (let j0 = (lo / KT) * KT; j0 <= i; j0 += KT) {
          const ja = max(lo, j0);
          const jb = min(i + 1, j0 + KT);
          let mt: f32 = -Infinity;
          for (let j = ja; j < jb; j++) {
            const kj = b.k + ((((bb * t + j) * hkv + g) * d) << 2);
            let dot: f32 = 0;
            for (let dd: usize = 0; dd < d; dd++) dot += load<f32>(qi + (dd << 2)) * load<f32>(kj + (dd << 2));
            const sj = dot * p.scale;
            store<f32>(s + ((j - j0) << 2), sj);
            if (sj > mt) mt = sj;
          }
          const mn = mt > m ? mt : m;
          const alpha: f32 = m == -Infinity ? 0 : expScalar(m - mn);
          let ps: f32 = 0;
          for (let j = ja; j < jb; j++) {
            const pj = expf1(load<f32>(s + ((j - j0) << 2)) - mn);
            store<f32>(s + ((j - j0) << 2), pj);
            ps += pj;
          }
          l = l * alpha + ps;
          for (let dd: usize = 0; dd < d; dd++) {
            let pv: f32 = 0;
            for (let j = ja; j < jb; j++) pv += load<f32>(s + ((j - j0) << 2)) * load<f32>(b.v + ((((bb * t + j) * hkv + g) * d + dd) << 2));
            store<f32>(acc + (dd << 2), load<f32>(acc + (dd << 2)) * alpha + pv);
          }
          m = mn;
        }
        const oi = b.o + ((((bb * t + i) * h + hh) * d) << 2);
        for (let dd: usize = 0; dd < d; dd++) store<f32>(oi + (dd << 2), load<f32>(acc + (dd << 2)) / l);
        store<f32>(b.lse + (((bb * h + hh) * t + i) << 2), m + logScalar(l));
      }
    }
  }
}

// Scratch layout of a unit (bytes; dp = D rounded up to 8, at most 256): Qp [QB][dp] queries,
// Kt [dp][KT] keys transposed, Vp [KT][dp] values, S [QB][KT] scores then probabilities, acc
// [QB][dp], then per query m, l, alpha, lo (QB each). At dp = 256: 4 x 64 KiB + 16 KiB + 1 KiB.
const ROW_BYTES: usize = 256 * 64 * 4;
const QP: usize = 0;
const KTP: usize = QP + ROW_BYTES;
const VP: usize = KTP + ROW_BYTES;
const ACC: usize = VP + ROW_BYTES;
const SP: usize = ACC + ROW_BYTES;
const MP: usize = SP + QB * KT * 4;
const LP: usize = MP + QB * 4;
const AP: usize = LP + QB * 4;
const LOP: usize = AP + QB * 4;
const END: usize = LOP + QB * 4;
// @ts-ignore: compile-time check
if (END > 1048576) ERROR('nn.attention: scratch layout exceeds 1 MiB');

/** Part `part` of `parts`: units (batch, head, query tile) u = part, part + parts, ... (threading ABI, see index.ts). */
export function nn__attention__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const t = usize(p.t), h = usize(p.h);
  const tiles = (t + QB - 1) / QB;
  const units = usize(p.b) * h * tiles;
  for (let u = usize(part); u < units; u += usize(parts)) {
    const qt = u % tiles;
    const hh = (u / tiles) % h;
    const bb = u / (tiles * h);
    unit(p, b, bb, hh, qt * QB, scratch);
  }
}

function unit(p: Params, b: Bindings, bb: usize, hh: usize, i0: usize, scratch: usize): void {
  const t = usize(p.t), h = usize(p.h), hkv = usize(p.h_kv), d = usize(p.d);
  const g = hh / (h / hkv);
  const dp = padD(d);
  const nq = min(QB, t - i0);
  const nqp = (nq + 3) & ~3;
  const qp = scratch + QP, kt = scratch + KTP, vp = scratch + VP, acc = scratch + ACC, sp = scratch + SP;
  const mp = scratch + MP, lp = scratch + LP, ap = scratch + AP, lop = scratch + LOP;
  packRows(b.q + (((bb * t + i0) * h + hh) * d << 2), h * d, nq, d, qp, dp, nqp);
  memory.fill(acc, 0, (nqp * dp) << 2);
  let minLo = i0;
  for (let r: usize = 0; r < nqp; r++) {
    store<f32>(mp + (r << 2), -Infinity);
    store<f32>(lp + (r << 2), 0);
    // A padded row gets lo past every key: it never attends.
    const lo = r < nq ? attentionLo(b.pos, t, p.window, bb, i0 + r) : i32(t);
    store<i32>(lop + (r << 2), lo);
    if (r < nq && usize(lo) < minLo) minLo = usize(lo);
  }
  const iLast = i0 + nq - 1;
  const kvStride = hkv * d;
  for (let j0 = (minLo / KT) * KT; j0 <= iLast; j0 += KT) {
    const nk = min(KT, t - j0);
    const kSrc = b.k + (((bb * t + j0) * hkv + g) * d << 2);
    const vSrc = b.v + (((bb * t + j0) * hkv + g) * d << 2);
    packTransposed(kSrc, kvStride, nk, d, kt, KT);
    packRows(vSrc, kvStride, nk, d, vp, dp, KT);
    for (let r: usize = 0; r < nq; r += 4) {
      // Each row's keys in this tile, [a, e] inclusive (tile-relative); the quad's union [ja, jb].
      let ja: isize = isize(KT), jb: isize = -1;
      for (let q: usize = 0; q < 4; q++) {
        const i = isize(i0 + r + q);
        const a = max(isize(load<i32>(lop + ((r + q) << 2))), isize(j0)) - isize(j0);
        const e = min(i, isize(j0 + KT - 1)) - isize(j0);
        if (a <= e) {
          if (a < ja) ja = a;
          if (e > jb) jb = e;
        }
      }
      if (jb < 0) continue;
      const c0 = usize(ja) & ~7;
      const c1 = (usize(jb) + 8) & ~7;
      const srow = sp + ((r * KT) << 2);
      dotQuad(qp + ((r * dp) << 2), dp, kt, KT, d, c0, c1, srow, KT, p.scale);
      for (let q: usize = 0; q < 4; q++) {
        const row = srow + ((q * KT) << 2);
        const i = isize(i0 + r + q);
        const a = max(isize(load<i32>(lop + ((r + q) << 2))), isize(j0)) - isize(j0);
        const e = min(i, isize(j0 + KT - 1)) - isize(j0);
        const aq = ap + ((r + q) << 2);
        if (a > e) {
          // This row has no key here: weights +0.0 and alpha 1 leave its acc as it is.
          for (let j = ja; j <= jb; j++) store<f32>(row + (usize(j) << 2), 0);
          store<f32>(aq, 1);
          continue;
        }
        let mt: f32 = -Infinity;
        for (let j = a; j <= e; j++) {
          const sj = load<f32>(row + (usize(j) << 2));
          if (sj > mt) mt = sj;
        }
        const mq = mp + ((r + q) << 2);
        const m = load<f32>(mq);
        const mn = mt > m ? mt : m;
        const alpha: f32 = m == -Infinity ? 0 : expScalar(m - mn);
        // p_j over [ja & ~3, jb]: exp where the row attends, +0.0 elsewhere.
        const mnv = f32x4.splat(mn);
        const av = i32x4.splat(i32(a));
        const ev = i32x4.splat(i32(e));
        for (let j = ja & ~3; j <= jb; j += 4) {
          const jj = i32x4.add(i32x4.splat(i32(j)), i32x4(0, 1, 2, 3));
          const keep = v128.and(i32x4.ge_s(jj, av), i32x4.le_s(jj, ev));
          const o = row + (usize(j) << 2);
          v128.store(o, v128.and(expf4(f32x4.sub(v128.load(o), mnv)), keep));
        }
        let ps: f32 = 0;
        for (let j = a; j <= e; j++) ps += load<f32>(row + (usize(j) << 2));
        const lq = lp + ((r + q) << 2);
        store<f32>(lq, load<f32>(lq) * alpha + ps);
        store<f32>(mq, mn);
        store<f32>(aq, alpha);
      }
      accQuadRescale(srow, KT, vp, dp, usize(ja), usize(jb) + 1, dp, acc + ((r * dp) << 2), dp, ap + (r << 2));
    }
  }
  for (let r: usize = 0; r < nq; r++) {
    const l = load<f32>(lp + (r << 2));
    const oi = b.o + ((((bb * t + i0 + r) * h + hh) * d) << 2);
    const ar = acc + ((r * dp) << 2);
    for (let dd: usize = 0; dd < d; dd++) store<f32>(oi + (dd << 2), load<f32>(ar + (dd << 2)) / l);
    store<f32>(b.lse + (((bb * h + hh) * t + i0 + r) << 2), load<f32>(mp + (r << 2)) + logScalar(l));
  }
}
