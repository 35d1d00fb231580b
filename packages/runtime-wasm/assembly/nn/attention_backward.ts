// nn.attention_backward — gradient of nn.attention (FlashAttention-2's backward without atomics):
// recomputes P from the saved lse; dq, dk and dv are sums in the spec's fixed order.
// Shapes: q, o, dout, dq f32[B, T, H, D]; k, v, dk, dv f32[B, T, Hkv, D]; pos i32[B, T];
//         lse, delta f32[B, H, T] (delta: scratch).
// Math (spec): P_ij = f(exp(f(s_ij - lse_i))); delta_i = sum_dd f(dout_i * o_i) in order;
//   dP_ij = dot(dout_i, v_j) in order; dS_ij = f(P_ij * f(dP_ij - delta_i));
//   dq_i = f(scale * sum_j dS_ij k_j), j = lo..i increasing;
//   dv_j = sum P_ij dout_i, dk_j = f(scale * sum dS_ij q_i), over the group's heads increasing,
//   then queries i increasing (one accumulator).
// Idea (v2, `__part`): two kinds of units, each owning its outputs. A dq unit (batch, head, 64
// queries) walks the key tiles in order, recomputing S and dP with the forward's 4 x 8 register
// block and adding dS·K into its running dq rows. A dk/dv unit (batch, kv head, 64 keys) walks the
// group's heads and then the queries in blocks of 64, computing Sᵀ and dPᵀ (keys as rows, so the
// softmax statistics lse and delta are per column, SIMD across queries) and adding Pᵀ·dO and
// dSᵀ·Q into its running dk, dv rows. Every sum keeps its order whatever the split; parts take
// units round-robin. delta is recomputed per block into private scratch (D work per query), so
// units need no pre-pass and no barrier; the `delta` binding is used only by the plain export (v1:
// the spec's loops one output row at a time, single-threaded callers only).
import { Bindings, Params } from '../generated/nn/attention_backward';
import { expf1, expf4 } from '../common/expf';
import { accQuad, attentionLo, dotQuad, KT, packRows, packTransposed, padD, QB } from '../common/attention_tiles';

/** delta_i = sum over dd < d in order of f(dout_i[dd] * o_i[dd]), from +0.0. */
// @ts-ignore: decorator
@inline
function rowDelta(dout: usize, o: usize, d: usize): f32 {
  let s: f32 = 0;
  for (let dd: usize = 0; dd < d; dd++) s += load<f32>(dout + (dd << 2)) * load<f32>(o + (dd << 2));
  return s;
}

// @ts-ignore: decorator
@inline
function dot(x: usize, y: usize, d: usize): f32 {
  let s: f32 = 0;
  for (let dd: usize = 0; dd < d; dd++) s += load<f32>(x + (dd << 2)) * load<f32>(y + (dd << 2));
  return s;
}

/** Byte offset of row (bb, i, hh) of a [B, T, H, D] tensor. */
// @ts-ignore: decorator
@inline
function qRow(t: usize, h: usize, d: usize, bb: usize, i: usize, hh: usize): usize {
  return (((bb * t + i) * h + hh) * d) << 2;
}

/** Byte offset of row (bb, j, g) of a [B, T, Hkv, D] tensor. */
// @ts-ignore: decorator
@inline
function kRow(t: usize, hkv: usize, d: usize, bb: usize, j: usize, g: usize): usize {
  return (((bb * t + j) * hkv + g) * d) << 2;
}

/** Byte offset of (bb, hh, i) in a [B, H, T] tensor. */
// @ts-ignore: decorator
@inline
function li(t: usize, h: usize, bb: usize, hh: usize, i: usize): usize {
  return (((bb * h + hh) * t + i) << 2);
}

export function nn__attention_backward(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const t = usize(p.t), h = usize(p.h), hkv = usize(p.h_kv), d = usize(p.d);
  const group = h / hkv;
  const B = usize(p.b);
  for (let bb: usize = 0; bb < B; bb++)
    for (let hh: usize = 0; hh < h; hh++)
      for (let i: usize = 0; i < t; i++) store<f32>(b.delta + li(t, h, bb, hh, i), rowDelta(b.dout + qRow(t, h, d, bb, i, hh), b.o + qRow(t, h, d, bb, i, hh), d));
  // dq: the output row is the running sum, scaled at the end.
  for (let bb: usize = 0; bb < B; bb++) {
    for (let hh: usize = 0; hh < h; hh++) {
      const g = hh / group;
      for (let i: usize = 0; i < t; i++) {
        const qi = b.q + qRow(t, h, d, bb, i, hh), doi = b.dout + qRow(t, h, d, bb, i, hh), dqi = b.dq + qRow(t, h, d, bb, i, hh);
        const lse = load<f32>(b.lse + li(t, h, bb, hh, i)), delta = load<f32>(b.delta + li(t, h, bb, hh, i));
        memory.fill(dqi, 0, d << 2);
        for (let j = usize(attentionLo(b.pos, t, p.window, bb, i)); j <= i; j++) {
          const kj = b.k + kRow(t, hkv, d, bb, j, g);
          const P = expf1(dot(qi, kj, d) * p.scale - lse);
          const dS = P * (dot(doi, b.v + kRow(t, hkv, d, bb, j, g), d) - delta);
          for (let dd: usize = 0; dd < d; dd++) store<f32>(dqi + (dd << 2), load<f32>(dqi + (dd << 2)) + dS * load<f32>(kj + (dd << 2)));
        }
        for (let dd: usize = 0; dd < d; dd++) store<f32>(dqi + (dd << 2), p.scale * load<f32>(dqi + (dd << 2)));
      }
    }
  }
  // dk, dv: the output rows are the running sums.
  for (let bb: usize = 0; bb < B; bb++) {
    for (let g: usize = 0; g < hkv; g++) {
      for (let j: usize = 0; j < t; j++) {
        const kj = b.k + kRow(t, hkv, d, bb, j, g), vj = b.v + kRow(t, hkv, d, bb, j, g), dkj = b.dk + kRow(t, hkv, d, bb, j, g), dvj = b.dv + kRow(t, hkv, d, bb, j, g);
        memory.fill(dkj, 0, d << 2);
        memory.fill(dvj, 0, d << 2);
        for (let hh = g * group; hh < (g + 1) * group; hh++) {
          for (let i = j; i < t; i++) {
            if (usize(attentionLo(b.pos, t, p.window, bb, i)) > j) continue;
            const qi = b.q + qRow(t, h, d, bb, i, hh), doi = b.dout + qRow(t, h, d, bb, i, hh);
            const P = expf1(dot(qi, kj, d) * p.scale - load<f32>(b.lse + li(t, h, bb, hh, i)));
            const dS = P * (dot(doi, vj, d) - load<f32>(b.delta + li(t, h, bb, hh, i)));
            for (let dd: usize = 0; dd < d; dd++) {
              store<f32>(dvj + (dd << 2), load<f32>(dvj + (dd << 2)) + P * load<f32>(doi + (dd << 2)));
              store<f32>(dkj + (dd << 2), load<f32>(dkj + (dd << 2)) + dS * load<f32>(qi + (dd << 2)));
            }
          }
        }
        for (let dd: usize = 0; dd < d; dd++) store<f32>(dkj + (dd << 2), p.scale * load<f32>(dkj + (dd << 2)));
      }
    }
  }
}

// Scratch: ten blocks of 64 x 256 f32 (64 KiB each; D rounded up to 8, at most 256), two 64 x 64
// tiles, and per-row statistics lse, delta, lo. A dq unit uses Qp, dOp [QB][dp], Kt, Vt [dp][KT],
// Kp [KT][dp], acc [QB][dp], S and dS [QB][KT]; a dk/dv unit Kp, Vp [KT][dp], Qt, dOt [dp][QB],
// Qp, dOp [QB][dp], acc_k, acc_v [KT][dp], Pᵀ and dSᵀ [KT][QB].
const BLOCK: usize = 256 * 64 * 4;
const TILE: usize = 64 * 64 * 4;
const B0: usize = 0;
const B1: usize = B0 + BLOCK;
const B2: usize = B1 + BLOCK;
const B3: usize = B2 + BLOCK;
const B4: usize = B3 + BLOCK;
const B5: usize = B4 + BLOCK;
const B6: usize = B5 + BLOCK;
const B7: usize = B6 + BLOCK;
const B8: usize = B7 + BLOCK;
const B9: usize = B8 + BLOCK;
const T0: usize = B9 + BLOCK;
const T1: usize = T0 + TILE;
const LSE: usize = T1 + TILE;
const DELTA: usize = LSE + QB * 4;
const LO: usize = DELTA + QB * 4;
const END: usize = LO + QB * 4;
// @ts-ignore: compile-time check
if (END > 1048576) ERROR('nn.attention_backward: scratch layout exceeds 1 MiB');

/** Part `part` of `parts`: dq units (batch, head, query tile), then dk/dv units (batch, kv head, key tile), round-robin. */
export function nn__attention_backward__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const t = usize(p.t), h = usize(p.h), hkv = usize(p.h_kv);
  const qTiles = (t + QB - 1) / QB;
  const kTiles = (t + KT - 1) / KT;
  const dqUnits = usize(p.b) * h * qTiles;
  const units = dqUnits + usize(p.b) * hkv * kTiles;
  for (let u = usize(part); u < units; u += usize(parts)) {
    if (u < dqUnits) {
      dqUnit(p, b, u / (qTiles * h), (u / qTiles) % h, (u % qTiles) * QB, scratch);
    } else {
      const w = u - dqUnits;
      dkvUnit(p, b, w / (kTiles * hkv), (w / kTiles) % hkv, (w % kTiles) * KT, scratch);
    }
  }
}

/** Query statistics of rows i0..i0+nq-1 of head hh (padded up to QB: lo = t, never attending). Returns the least lo. */
function queryStats(p: Params, b: Bindings, bb: usize, hh: usize, i0: usize, nq: usize, s: usize): usize {
  const t = usize(p.t), h = usize(p.h), d = usize(p.d);
  let minLo = t;
  for (let r: usize = 0; r < QB; r++) {
    if (r < nq) {
      const i = i0 + r;
      const row = (((bb * t + i) * h + hh) * d) << 2;
      const lo = attentionLo(b.pos, t, p.window, bb, i);
      store<i32>(s + LO + (r << 2), lo);
      store<f32>(s + LSE + (r << 2), load<f32>(b.lse + (((bb * h + hh) * t + i) << 2)));
      store<f32>(s + DELTA + (r << 2), rowDelta(b.dout + row, b.o + row, d));
      if (usize(lo) < minLo) minLo = usize(lo);
    } else {
      store<i32>(s + LO + (r << 2), i32(t));
      store<f32>(s + LSE + (r << 2), 0);
      store<f32>(s + DELTA + (r << 2), 0);
    }
  }
  return minLo;
}

function dqUnit(p: Params, b: Bindings, bb: usize, hh: usize, i0: usize, s: usize): void {
  const t = usize(p.t), h = usize(p.h), hkv = usize(p.h_kv), d = usize(p.d);
  const g = hh / (h / hkv);
  const dp = padD(d);
  const nq = min(QB, t - i0);
  const nqp = (nq + 3) & ~3;
  const qp = s + B0, dop = s + B1, kt = s + B2, vt = s + B3, kp = s + B4, acc = s + B5, sp = s + T0, dsp = s + T1;
  const qSrc = (((bb * t + i0) * h + hh) * d) << 2;
  packRows(b.q + qSrc, h * d, nq, d, qp, dp, nqp);
  packRows(b.dout + qSrc, h * d, nq, d, dop, dp, nqp);
  memory.fill(acc, 0, (nqp * dp) << 2);
  const minLo = queryStats(p, b, bb, hh, i0, nq, s);
  const iLast = i0 + nq - 1;
  const kvStride = hkv * d;
  for (let j0 = (minLo / KT) * KT; j0 <= iLast; j0 += KT) {
    const nk = min(KT, t - j0);
    const kvSrc = (((bb * t + j0) * hkv + g) * d) << 2;
    packTransposed(b.k + kvSrc, kvStride, nk, d, kt, KT);
    packTransposed(b.v + kvSrc, kvStride, nk, d, vt, KT);
    packRows(b.k + kvSrc, kvStride, nk, d, kp, dp, KT);
    for (let r: usize = 0; r < nq; r += 4) {
      let ja: isize = isize(KT), jb: isize = -1;
      for (let q: usize = 0; q < 4; q++) {
        const a = max(isize(load<i32>(s + LO + ((r + q) << 2))), isize(j0)) - isize(j0);
        const e = min(isize(i0 + r + q), isize(j0 + KT - 1)) - isize(j0);
        if (a <= e) {
          if (a < ja) ja = a;
          if (e > jb) jb = e;
        }
      }
      if (jb < 0) continue;
      const c0 = usize(ja) & ~7;
      const c1 = (usize(jb) + 8) & ~7;
      const srow = sp + ((r * KT) << 2);
      const dsrow = dsp + ((r * KT) << 2);
      dotQuad(qp + ((r * dp) << 2), dp, kt, KT, d, c0, c1, srow, KT, p.scale);
      dotQuad(dop + ((r * dp) << 2), dp, vt, KT, d, c0, c1, dsrow, KT, 1);
      for (let q: usize = 0; q < 4; q++) {
        const a = max(isize(load<i32>(s + LO + ((r + q) << 2))), isize(j0)) - isize(j0);
        const e = min(isize(i0 + r + q), isize(j0 + KT - 1)) - isize(j0);
        const lse = f32x4.splat(load<f32>(s + LSE + ((r + q) << 2)));
        const delta = f32x4.splat(load<f32>(s + DELTA + ((r + q) << 2)));
        const av = i32x4.splat(i32(a));
        const ev = i32x4.splat(i32(e));
        const row = srow + ((q * KT) << 2);
        const drow = dsrow + ((q * KT) << 2);
        for (let j = ja & ~3; j <= jb; j += 4) {
          // dS = P·(dP - delta) where the row attends, +0.0 (via P = +0.0) elsewhere.
          const jj = i32x4.add(i32x4.splat(i32(j)), i32x4(0, 1, 2, 3));
          const keep = v128.and(i32x4.ge_s(jj, av), i32x4.le_s(jj, ev));
          const o = usize(j) << 2;
          const P = v128.and(expf4(f32x4.sub(v128.load(row + o), lse)), keep);
          v128.store(drow + o, f32x4.mul(P, f32x4.sub(v128.load(drow + o), delta)));
        }
      }
      accQuad(dsrow, KT, kp, dp, usize(ja), usize(jb) + 1, dp, acc + ((r * dp) << 2), dp);
    }
  }
  const sc = f32x4.splat(p.scale);
  for (let r: usize = 0; r < nq; r++) {
    const dqi = b.dq + ((((bb * t + i0 + r) * h + hh) * d) << 2);
    const ar = acc + ((r * dp) << 2);
    let dd: usize = 0;
    for (; dd + 4 <= d; dd += 4) v128.store(dqi + (dd << 2), f32x4.mul(sc, v128.load(ar + (dd << 2))));
    for (; dd < d; dd++) store<f32>(dqi + (dd << 2), p.scale * load<f32>(ar + (dd << 2)));
  }
}

function dkvUnit(p: Params, b: Bindings, bb: usize, g: usize, j0: usize, s: usize): void {
  const t = usize(p.t), h = usize(p.h), hkv = usize(p.h_kv), d = usize(p.d);
  const group = h / hkv;
  const dp = padD(d);
  const nk = min(KT, t - j0);
  const nkp = (nk + 3) & ~3;
  const kp = s + B0, vp = s + B1, qt = s + B2, dot2 = s + B3, qp = s + B4, dop = s + B5, acck = s + B6, accv = s + B7;
  const pt = s + T0, dst = s + T1;
  const kvStride = hkv * d;
  const kvSrc = (((bb * t + j0) * hkv + g) * d) << 2;
  packRows(b.k + kvSrc, kvStride, nk, d, kp, dp, nkp);
  packRows(b.v + kvSrc, kvStride, nk, d, vp, dp, nkp);
  memory.fill(acck, 0, (nkp * dp) << 2);
  memory.fill(accv, 0, (nkp * dp) << 2);
  const jLast = j0 + nk - 1;
  for (let hh = g * group; hh < (g + 1) * group; hh++) {
    for (let i0 = j0; i0 < t; i0 += QB) {
      const nq = min(QB, t - i0);
      const minLo = queryStats(p, b, bb, hh, i0, nq, s);
      if (minLo > jLast) continue;
      const qSrc = (((bb * t + i0) * h + hh) * d) << 2;
      const nqp = (nq + 3) & ~3;
      packTransposed(b.q + qSrc, h * d, nq, d, qt, QB);
      packTransposed(b.dout + qSrc, h * d, nq, d, dot2, QB);
      packRows(b.q + qSrc, h * d, nq, d, qp, dp, nqp);
      packRows(b.dout + qSrc, h * d, nq, d, dop, dp, nqp);
      for (let kr: usize = 0; kr < nk; kr += 4) {
        // Queries that attend some key of this quad: i >= key and lo_i <= key.
        const jq = j0 + kr;
        const jTop = min(jq + 3, jLast);
        let ia: isize = -1, ib: isize = -1;
        for (let ii = jq > i0 ? jq - i0 : 0; ii < nq; ii++) {
          if (usize(load<i32>(s + LO + (ii << 2))) <= jTop) {
            if (ia < 0) ia = isize(ii);
            ib = isize(ii);
          }
        }
        if (ia < 0) continue;
        const c0 = usize(ia) & ~7;
        const c1 = (usize(ib) + 8) & ~7;
        const prow = pt + ((kr * QB) << 2);
        const drow0 = dst + ((kr * QB) << 2);
        dotQuad(kp + ((kr * dp) << 2), dp, qt, QB, d, c0, c1, prow, QB, p.scale);
        dotQuad(vp + ((kr * dp) << 2), dp, dot2, QB, d, c0, c1, drow0, QB, 1);
        for (let q: usize = 0; q < 4; q++) {
          const j = i32(jq + q);
          const jv = i32x4.splat(j);
          const row = prow + ((q * QB) << 2);
          const drow = drow0 + ((q * QB) << 2);
          for (let ii = usize(ia) & ~3; ii <= usize(ib); ii += 4) {
            const o = ii << 2;
            const iv = i32x4.add(i32x4.splat(i32(i0 + ii)), i32x4(0, 1, 2, 3));
            const keep = v128.and(i32x4.le_s(v128.load(s + LO + o), jv), i32x4.ge_s(iv, jv));
            const P = v128.and(expf4(f32x4.sub(v128.load(row + o), v128.load(s + LSE + o))), keep);
            v128.store(row + o, P);
            v128.store(drow + o, f32x4.mul(P, f32x4.sub(v128.load(drow + o), v128.load(s + DELTA + o))));
          }
        }
        accQuad(prow, QB, dop, dp, usize(ia), usize(ib) + 1, dp, accv + ((kr * dp) << 2), dp);
        accQuad(drow0, QB, qp, dp, usize(ia), usize(ib) + 1, dp, acck + ((kr * dp) << 2), dp);
      }
    }
  }
  const sc = f32x4.splat(p.scale);
  for (let r: usize = 0; r < nk; r++) {
    const o = (((bb * t + j0 + r) * hkv + g) * d) << 2;
    const ak = acck + ((r * dp) << 2);
    const av = accv + ((r * dp) << 2);
    memory.copy(b.dv + o, av, d << 2);
    let dd: usize = 0;
    for (; dd + 4 <= d; dd += 4) v128.store(b.dk + o + (dd << 2), f32x4.mul(sc, v128.load(ak + (dd << 2))));
    for (; dd < d; dd++) store<f32>(b.dk + o + (dd << 2), p.scale * load<f32>(ak + (dd << 2)));
  }
}
