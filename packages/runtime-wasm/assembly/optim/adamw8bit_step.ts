// optim.adamw8bit_step — one step of bitsandbytes' 8-bit blockwise AdamW (blocks of 256).
// Shapes: p, g f32[n]; m_q, v_q u8[n]; m_absmax, v_absmax f32[ceil(n/256)];
//         code_signed, code_unsigned f32[256] (sorted ascending).
// Math (per block b, element i; see the spec):
//   g finite: m0 = f(cs[m_q] * m_absmax[b]); v0 = f(cu[v_q] * v_absmax[b]);
//             m1 = f(f(beta1*m0) + f(w1*g)); v1 = f(f(beta2*v0) + f(f(w2*g)*g));
//             denom = f(f(sqrt(v1)) + eps_hat) (sqrtf, then the add, as bitsandbytes' kernel); p = f(f(p - f(step_size * f(m1/denom))) * decay)
//   g NaN/Inf: m1 = v1 = +0, p unchanged.
//   am, av = max |m1|, |v1| over the block (NaN ignored); requantize m1/am (sign fix) and v1/av
//   to the nearest code (midpoint ties to the lower code, NaN -> 0).
// Idea (v2): blocks split over threads (`__part`, contiguous runs of blocks; blocks are
// independent), four elements per f32x4 step, and a bucket table instead of a search: the bits of
// |s| (8 exponent bits from 2^-24 to 2^0 and the top 7 mantissa bits, plus the sign) name one of
// 2 x 3073 buckets so narrow that no dynamic-map midpoint but at most one lies inside. Each
// bucket's 8-byte entry holds nearest(lowest s of the bucket) = base, the one midpoint mid[base]
// that s can still cross inside it, and the sign bits of code[base] and code[base+1] (the sign
// fix), so nearest(s) = base + (s > mid[base]): the spec's count of midpoints below s, exactly
// (one f32 compare against the real midpoint; the bucket only narrows the candidates). The table
// is built per dispatch and part (a sweep over the sorted midpoints, ~6k entries per map) in the
// part's scratch. A map with two midpoints in one bucket, unsorted midpoints, and the last
// partial block take the scalar path (the reference's binary search, per element).
import { Bindings, Params } from '../generated/optim/adamw8bit_step';

const BLOCK: usize = 256;
/** Mantissa bits in a bucket key: 7 keeps both dynamic maps at <= 1 midpoint per bucket. */
const MANT_BITS: u32 = 7;
const SHIFT: u32 = 23 - MANT_BITS;
/** Key of the first bucket: |s| below 2^-24 (under every dynamic-map midpoint) shares it. */
const KLO: u32 = (127 - 24) << MANT_BITS;
/** Key of the last bucket: [1, +inf] (and NaN, handled apart). */
const KHI: u32 = 127 << MANT_BITS;
/** Buckets per sign. */
const HALF: u32 = KHI - KLO + 1;
/** Entry index of the negative half: 4096 (a shift of the sign bit), after the HALF positive ones. */
const NEG_BASE: u32 = 4096;
const LUT_BYTES: usize = usize(NEG_BASE + HALF) * 8;
if (HALF > NEG_BASE) ERROR("adamw8bit: the positive half overlaps the negative one");

// Scratch layout (the part's private memory; 16-aligned).
const OFF_MID_S: usize = 0;
const OFF_MID_U: usize = 1024;
const OFF_STASH_M: usize = 2048;
const OFF_STASH_V: usize = 3072;
const OFF_LUT_S: usize = 4096;
const OFF_LUT_U: usize = OFF_LUT_S + LUT_BYTES;
/** Scratch bytes one call uses (the threading ABI gives 1 MiB). */
export const ADAMW8BIT_SCRATCH_BYTES: usize = OFF_LUT_U + LUT_BYTES;
/** The plain export's stash (one plain dispatch at a time, as the other plain exports). */
const PLAIN_STASH: usize = memory.data(2 * 1024, 16);

/** mid[j] = f(f(code[j] + code[j+1]) * 0.5) for j < 255, mid[255] = +inf; true when sorted (no NaN). */
function buildMidpoints(code: usize, mid: usize): bool {
  let sorted = true;
  let prev = load<f32>(code);
  let prevMid: f32 = -Infinity;
  for (let j: usize = 0; j < 255; j++) {
    const hi = load<f32>(code + ((j + 1) << 2));
    const m: f32 = (prev + hi) * 0.5;
    store<f32>(mid + (j << 2), m);
    if (!(prevMid <= m)) sorted = false;
    prevMid = m;
    prev = hi;
  }
  store<f32>(mid + (255 << 2), Infinity);
  return sorted;
}

/** The sign bit of code[q] (q <= 255) as 0 or 1. */
// @ts-ignore: decorator
@inline
function codeSign(code: usize, q: u32): u32 {
  return load<u32>(code + (usize(q) << 2)) >>> 31;
}

/** The bucket of key index i (0 <= i < HALF), as |s| bit patterns [lo, hi]. */
// @ts-ignore: decorator
@inline
function absLoBits(i: u32): u32 {
  return i == 0 ? 0 : (KLO + i) << SHIFT;
}
// @ts-ignore: decorator
@inline
function absHiBits(i: u32): u32 {
  return i == HALF - 1 ? 0x7f800000 : ((KLO + i + 1) << SHIFT) - 1;
}

/**
 * Fill the bucket table of one map from its sorted midpoints; false when some bucket holds two
 * or more midpoints, or (signFix) when a bucket's final code would depend on more than the sign
 * of s (the caller then takes the scalar path). Entry (8 bytes): f32 mid[base], then u32
 * q0 | q1 << 8, the final codes (after the sign fix when signFix) for s <= mid[base] and
 * s > mid[base]. The sign fix needs signbit(m1) and m1 > 0: on the fast path am is finite and > 0
 * and no m1 is NaN, so s = m1 / am has m1's sign bit, and m1 > 0 holds in every positive bucket
 * but the first (which holds +0). Buckets in order of increasing s, so nearest() of each bound is
 * a forward sweep: the negative half (key i at entry NEG_BASE + i) from i = HALF-1
 * down, then the positive half (entries 0..HALF-1).
 */
function buildLut(code: usize, mid: usize, lut: usize, signFix: bool): bool {
  let j: u32 = 0; // number of midpoints below the current bound
  for (let t: u32 = 0; t < 2 * HALF; t++) {
    const neg = t < HALF;
    const i: u32 = neg ? HALF - 1 - t : t - HALF;
    const lo: f32 = neg ? -reinterpret<f32>(absHiBits(i)) : reinterpret<f32>(absLoBits(i));
    const hi: f32 = neg ? -reinterpret<f32>(absLoBits(i)) : reinterpret<f32>(absHiBits(i));
    while (j < 255 && lo > load<f32>(mid + (usize(j) << 2))) j++;
    const base = j;
    let top = j;
    while (top < 255 && hi > load<f32>(mid + (usize(top) << 2))) top++;
    if (top - base > 1) return false;
    let q0 = base;
    let q1 = top > base ? base + 1 : base;
    if (signFix) {
      const mSign: u32 = neg ? 1 : 0;
      if (codeSign(code, q0) != mSign) {
        if (!neg && i == 0) return false; // m1 may be +0 or > 0 here
        q0 = neg ? q0 - 1 : q0 + 1;
      }
      if (codeSign(code, q1) != mSign) {
        if (!neg && i == 0) return false;
        q1 = neg ? q1 - 1 : q1 + 1;
      }
    }
    const e = lut + (usize(neg ? NEG_BASE + i : i) << 3);
    store<f32>(e, load<f32>(mid + (usize(base) << 2)));
    store<u32>(e, (q0 & 0xff) | ((q1 & 0xff) << 8), 4);
  }
  return true;
}

/** The reference's nearestCode: binary search for the number of midpoints below s (NaN -> 0). */
function refNearest(code: usize, s: f32): u32 {
  if (isNaN(s)) return 0;
  let lo: u32 = 0;
  let hi: u32 = 255;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    const c: f32 = (load<f32>(code + (usize(m) << 2)) + load<f32>(code + (usize(m) << 2), 4)) * 0.5;
    if (s > c) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** One block [start, end) element by element (the partial last block; maps the table cannot hold). */
function blockScalar(pr: Params, b: Bindings, blk: usize, start: usize, end: usize, stashM: usize, stashV: usize): void {
  const cs = b.code_signed;
  const cu = b.code_unsigned;
  const mAbs = load<f32>(b.m_absmax + (blk << 2));
  const vAbs = load<f32>(b.v_absmax + (blk << 2));
  let am: f32 = 0;
  let av: f32 = 0;
  for (let i = start; i < end; i++) {
    const g = load<f32>(b.g + (i << 2));
    let m1: f32 = 0;
    let v1: f32 = 0;
    if (isFinite(g)) {
      const m0 = load<f32>(cs + (usize(load<u8>(b.m_q + i)) << 2)) * mAbs;
      const v0 = load<f32>(cu + (usize(load<u8>(b.v_q + i)) << 2)) * vAbs;
      m1 = pr.beta1 * m0 + pr.one_minus_beta1 * g;
      v1 = pr.beta2 * v0 + pr.one_minus_beta2 * g * g;
      const denom = Mathf.sqrt(v1) + pr.eps_hat;
      const p1: f32 = load<f32>(b.p + (i << 2)) - pr.step_size * (m1 / denom);
      store<f32>(b.p + (i << 2), p1 * pr.decay);
    }
    // fmaxf semantics: a NaN never wins.
    const a = Mathf.abs(m1);
    if (a > am) am = a;
    const c = Mathf.abs(v1);
    if (c > av) av = c;
    store<f32>(stashM + ((i - start) << 2), m1);
    store<f32>(stashV + ((i - start) << 2), v1);
  }
  store<f32>(b.m_absmax + (blk << 2), am);
  store<f32>(b.v_absmax + (blk << 2), av);
  quantizeM(b, start, end, stashM, am);
  quantizeV(b, start, end, stashV, av);
}

/** m_q[start..end) from the stashed m1 and the block's am, element by element (the spec's rule). */
function quantizeM(b: Bindings, start: usize, end: usize, stashM: usize, am: f32): void {
  const cs = b.code_signed;
  for (let i = start; i < end; i++) {
    const m1 = load<f32>(stashM + ((i - start) << 2));
    const sm: f32 = am > 0 ? m1 / am : 0;
    let q = refNearest(cs, sm);
    // Sign fix: keep the sign of m through quantization (u8 wraps, as the reference's Uint8Array).
    if (codeSign(cs, q) != reinterpret<u32>(m1) >>> 31) q = m1 > 0 ? q + 1 : q - 1;
    store<u8>(b.m_q + i, u8(q));
  }
}

/** v_q[start..end) from the stashed v1 and the block's av, element by element. */
function quantizeV(b: Bindings, start: usize, end: usize, stashV: usize, av: f32): void {
  const cu = b.code_unsigned;
  for (let i = start; i < end; i++) {
    const v1 = load<f32>(stashV + ((i - start) << 2));
    const sv: f32 = av > 0 ? v1 / av : 0;
    store<u8>(b.v_q + i, u8(refNearest(cu, sv)));
  }
}

/**
 * Entry offsets (bytes from the table's base) of four scaled values s with |s| <= 1 (the fast
 * path: |m1| <= am): the |s| key less KLO, saturating at 0 (all of |s| < 2^-24 in entry 0), and
 * the sign as +NEG_OFFSET bytes.
 */
// @ts-ignore: decorator
@inline
function bucketOffsets(s: v128): v128 {
  // (bits << 1) >>> 17 = |s| >>> 16 < 2^15: the key in the low i16 of each lane, 0 above, so the
  // i16 saturating subtract clamps it at KLO without touching the high half.
  const key = i16x8.sub_sat_u(i32x4.shr_u(i32x4.shl(s, 1), 17), i32x4.splat(KLO));
  return v128.or(i32x4.shl(key, 3), i32x4.shl(i32x4.shr_u(s, 31), 15));
}

/**
 * Final codes of four scaled values, one i32 lane each: q0 or q1 of each lane's bucket entry.
 * `lut` is the table's address.
 */
// @ts-ignore: decorator
@inline
function codes4(lut: usize, s: v128): v128 {
  const off = bucketOffsets(s);
  let e01 = v128.load64_zero(lut + usize(i32x4.extract_lane(off, 0)));
  e01 = v128.load64_lane(lut + usize(i32x4.extract_lane(off, 1)), e01, 1);
  let e23 = v128.load64_zero(lut + usize(i32x4.extract_lane(off, 2)));
  e23 = v128.load64_lane(lut + usize(i32x4.extract_lane(off, 3)), e23, 1);
  const mid = i32x4.shuffle(e01, e23, 0, 2, 4, 6);
  const info = i32x4.shuffle(e01, e23, 1, 3, 5, 7);
  const gt = f32x4.gt(s, mid); // -1 where s is past the bucket's midpoint
  return v128.and(v128.bitselect(i32x4.shr_u(info, 8), info, gt), i32x4.splat(0xff));
}

/** Store the four i32 lanes of q (each in 0..255) as four bytes at p. */
// @ts-ignore: decorator
@inline
function store4Bytes(p: usize, q: v128): void {
  const h = i16x8.narrow_i32x4_s(q, q);
  v128.store32_lane(p, i8x16.narrow_i16x8_u(h, h), 0);
}

/** cs[q] for four byte codes at q (one f32 lane each). */
// @ts-ignore: decorator
@inline
function gather4(code: usize, q: usize): v128 {
  let v = v128.load32_zero(code + (usize(load<u8>(q)) << 2));
  v = v128.load32_lane(code + (usize(load<u8>(q, 1)) << 2), v, 1);
  v = v128.load32_lane(code + (usize(load<u8>(q, 2)) << 2), v, 2);
  return v128.load32_lane(code + (usize(load<u8>(q, 3)) << 2), v, 3);
}

/** One full block of 256 at `start`, with both maps in their tables. */
function blockFast(pr: Params, b: Bindings, blk: usize, start: usize, scratch: usize): void {
  const stashM = scratch + OFF_STASH_M;
  const stashV = scratch + OFF_STASH_V;
  // Every pointer in a local: stores to memory would otherwise reload the bindings each step.
  const pp = b.p + (start << 2);
  const gp = b.g + (start << 2);
  const mq = b.m_q + start;
  const vq = b.v_q + start;
  const cs = b.code_signed;
  const cu = b.code_unsigned;
  const beta1 = f32x4.splat(pr.beta1);
  const beta2 = f32x4.splat(pr.beta2);
  const w1 = f32x4.splat(pr.one_minus_beta1);
  const w2 = f32x4.splat(pr.one_minus_beta2);
  const epsHat = f32x4.splat(pr.eps_hat);
  const decay = f32x4.splat(pr.decay);
  const stepSize = f32x4.splat(pr.step_size);
  const mAbs = f32x4.splat(load<f32>(b.m_absmax + (blk << 2)));
  const vAbs = f32x4.splat(load<f32>(b.v_absmax + (blk << 2)));
  let amv = f32x4.splat(0);
  let avv = f32x4.splat(0);
  let nan = i32x4.splat(0);
  for (let k: usize = 0; k < BLOCK; k += 4) {
    const g = v128.load(gp + (k << 2));
    const m0 = f32x4.mul(gather4(cs, mq + k), mAbs);
    const v0 = f32x4.mul(gather4(cu, vq + k), vAbs);
    const finite = f32x4.eq(f32x4.sub(g, g), f32x4.splat(0)); // g - g is NaN for an Inf or NaN
    const m1 = v128.and(f32x4.add(f32x4.mul(beta1, m0), f32x4.mul(w1, g)), finite);
    const v1 = v128.and(f32x4.add(f32x4.mul(beta2, v0), f32x4.mul(f32x4.mul(w2, g), g)), finite);
    const p = v128.load(pp + (k << 2));
    const p2 = f32x4.mul(f32x4.sub(p, f32x4.mul(stepSize, f32x4.div(m1, f32x4.add(f32x4.sqrt(v1), epsHat)))), decay);
    v128.store(pp + (k << 2), v128.bitselect(p2, p, finite));
    // pmax(acc, x) = acc < x ? x : acc: a NaN never wins (fmaxf); NaNs are noted apart.
    amv = f32x4.pmax(amv, f32x4.abs(m1));
    avv = f32x4.pmax(avv, f32x4.abs(v1));
    nan = v128.or(nan, v128.or(f32x4.ne(m1, m1), f32x4.ne(v1, v1)));
    v128.store(stashM + (k << 2), m1);
    v128.store(stashV + (k << 2), v1);
  }
  // Lanes hold non-negative, non-NaN values: their max in any order.
  const am = Mathf.max(Mathf.max(f32x4.extract_lane(amv, 0), f32x4.extract_lane(amv, 1)), Mathf.max(f32x4.extract_lane(amv, 2), f32x4.extract_lane(amv, 3)));
  const av = Mathf.max(Mathf.max(f32x4.extract_lane(avv, 0), f32x4.extract_lane(avv, 1)), Mathf.max(f32x4.extract_lane(avv, 2), f32x4.extract_lane(avv, 3)));
  store<f32>(b.m_absmax + (blk << 2), am);
  store<f32>(b.v_absmax + (blk << 2), av);
  // The tables hold the codes for a finite absmax > 0 and no NaN (then s is never NaN and has
  // m1's sign); a zero block, an infinite absmax or a NaN state takes the rule element by element.
  const noNan = !v128.any_true(nan);
  const end = start + BLOCK;
  if (!(noNan && am > 0 && am < Infinity)) quantizeM(b, start, end, stashM, am);
  if (!(noNan && av > 0 && av < Infinity)) quantizeV(b, start, end, stashV, av);
  const fastM = noNan && am > 0 && am < Infinity;
  const fastV = noNan && av > 0 && av < Infinity;
  const lutS = scratch + OFF_LUT_S;
  const lutU = scratch + OFF_LUT_U;
  const amSplat = f32x4.splat(am);
  const avSplat = f32x4.splat(av);
  if (fastM && fastV) {
    for (let k: usize = 0; k < BLOCK; k += 8) {
      store4Bytes(mq + k, codes4(lutS, f32x4.div(v128.load(stashM + (k << 2)), amSplat)));
      store4Bytes(vq + k, codes4(lutU, f32x4.div(v128.load(stashV + (k << 2)), avSplat)));
      store4Bytes(mq + k + 4, codes4(lutS, f32x4.div(v128.load(stashM + (k << 2), 16), amSplat)));
      store4Bytes(vq + k + 4, codes4(lutU, f32x4.div(v128.load(stashV + (k << 2), 16), avSplat)));
    }
  } else if (fastM) {
    for (let k: usize = 0; k < BLOCK; k += 4) store4Bytes(mq + k, codes4(lutS, f32x4.div(v128.load(stashM + (k << 2)), amSplat)));
  } else if (fastV) {
    for (let k: usize = 0; k < BLOCK; k += 4) store4Bytes(vq + k, codes4(lutU, f32x4.div(v128.load(stashV + (k << 2)), avSplat)));
  }
}

/**
 * The plain export: the scalar path over every block (no scratch for the tables in static memory;
 * the runtime always calls `__part`, with its 1 MiB scratch). The same bits as `__part`.
 */
export function optim__adamw8bit_step(params: usize, bindings: usize): void {
  const pr = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(pr.n);
  for (let start: usize = 0, blk: usize = 0; start < n; start += BLOCK, blk++) {
    blockScalar(pr, b, blk, start, start + BLOCK < n ? start + BLOCK : n, PLAIN_STASH, PLAIN_STASH + 1024);
  }
}

/** Part `part` of `parts`: blocks [floor(part*B/parts), floor((part+1)*B/parts)) (threading ABI, see index.ts). */
export function optim__adamw8bit_step__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const pr = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(pr.n);
  const blocks = (u64(n) + 255) >> 8;
  const b0 = usize((blocks * part) / parts);
  const b1 = usize((blocks * (part + 1)) / parts);
  if (b0 >= b1) return;
  const cs = b.code_signed;
  const cu = b.code_unsigned;
  const midS = scratch + OFF_MID_S;
  const midU = scratch + OFF_MID_U;
  const fullBlocks = n >> 8;
  // The tables pay off from a few blocks on; below, and for a map they cannot hold, the scalar path.
  let fast = b1 - b0 >= 4 && b0 < fullBlocks;
  if (fast) {
    const sortedS = buildMidpoints(cs, midS);
    const sortedU = buildMidpoints(cu, midU);
    fast = sortedS && sortedU && buildLut(cs, midS, scratch + OFF_LUT_S, true) && buildLut(cu, midU, scratch + OFF_LUT_U, false);
  }
  for (let blk = b0; blk < b1; blk++) {
    const start = blk << 8;
    if (fast && blk < fullBlocks) blockFast(pr, b, blk, start, scratch);
    else blockScalar(pr, b, blk, start, start + BLOCK < n ? start + BLOCK : n, scratch + OFF_STASH_M, scratch + OFF_STASH_V);
  }
}
