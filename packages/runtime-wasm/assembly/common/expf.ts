// exp and log for the nn kernels (the spec's `exp` and `log`, which no runtime rounds correctly).
//
// expf4: four lanes of exp(x) in f32 arithmetic, at most 1 ulp from the correctly rounded value
// (a sweep of 8M arguments against f32(Math.exp(x)): 95% exact, the rest 1 ulp off). Cephes' expf:
// n = nearest(x·log2 e); r = x - n·C1 - n·C2 (ln 2 split in two so n·C1 is exact); exp(r) by a
// degree-7 polynomial on |r| <= ln2/2, p = ((poly·r²) + r) + 1; then p·2^n as two power-of-two
// multiplies (2^(n>>1) and 2^(n - n>>1)), so results near overflow (n = 128) and subnormal
// results (n down to -150) come out right, with one rounding. x is first clamped to [-104, 89]:
// beyond, the result is 0 or +Inf anyway; NaN stays NaN.
// expf1 is the same on one lane, so a row's tail gets the bits its SIMD body would have given.
// This version's idea: the constants are loads from one table (V8 rebuilds a v128.const from
// immediates at every use inside a loop), the two scale factors come from the shifted bits in six
// integer operations, and expf4Near drops the clamp and scales by an integer add to the exponent
// for arguments in [-87, 88] (expf4NearNeg4 takes -x without negating) — all bit-identical to the
// straightforward form (checked on all 2^32 f32 inputs, and on the ranges of the Near forms).
//
// expScalar / logScalar: the f64 functions rounded once to f32 — what the reference computes,
// for the few exps and logs per row (rescale factors, log-sum-exp), where speed does not matter.

// The constants as one 16-aligned table of splats, read with v128.load: V8 does not hoist a
// v128.const out of a loop but rebuilds it from immediates at every use (several instructions
// each), while a load from this table is one instruction.
const EXP_K: usize = memory.data<f32>([
  -104.0, -104.0, -104.0, -104.0, // 0: clamp low
  89.0, 89.0, 89.0, 89.0, // 16: clamp high
  1.44269504, 1.44269504, 1.44269504, 1.44269504, // 32: log2 e
  12582912.0, 12582912.0, 12582912.0, 12582912.0, // 48: 1.5·2^23
  0.693359375, 0.693359375, 0.693359375, 0.693359375, // 64: C1
  -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, // 80: C2
  1.98756915e-4, 1.98756915e-4, 1.98756915e-4, 1.98756915e-4, // 96: polynomial
  1.39819995e-3, 1.39819995e-3, 1.39819995e-3, 1.39819995e-3, // 112
  8.33345191e-3, 8.33345191e-3, 8.33345191e-3, 8.33345191e-3, // 128
  4.16657959e-2, 4.16657959e-2, 4.16657959e-2, 4.16657959e-2, // 144
  1.66666655e-1, 1.66666655e-1, 1.66666655e-1, 1.66666655e-1, // 160
  5.00000012e-1, 5.00000012e-1, 5.00000012e-1, 5.00000012e-1, // 176
  1.0, 1.0, 1.0, 1.0, // 192: also the bits 0x3f800000 (127 << 23)
  1.7014118346046923e38, 1.7014118346046923e38, 1.7014118346046923e38, 1.7014118346046923e38, // 208: 2^127, the bits 0x7f000000
  -87.0, -87.0, -87.0, -87.0, // 224: expf4Near's range, low
  88.0, 88.0, 88.0, 88.0, // 240: and high
  -1.44269504, -1.44269504, -1.44269504, -1.44269504, // 256: -log2 e (expf4NearNeg4)
  87.0, 87.0, 87.0, 87.0, // 272: the bound on |g| of expf4NearNeg4's callers (anyFar4)
], 16);

/** 1.0 in every lane, from the table (for callers' own 1 + ...). */
// @ts-ignore: decorator
@inline
export function ones4(): v128 {
  return v128.load(EXP_K, 192);
}

// The stages of one exp, each a few dependent operations; `neg` (a constant at every call, so
// the branches fold) takes g for exp(-g) without negating it: round-to-nearest is symmetric in
// sign, so with x = -g, f(x·L) = f(g·(-L)); r = f(f(x - nC1) - nC2) = -t for t = f(f(g + nC1) +
// nC2); each Horner step f(f(p·r) + c) = f(c - f(p·t)); and f(f(p·r²) + r) = f(f(p·t²) - t).

/** nearest(x·log2 e) in the low mantissa bits of shifted = f(f(x·log2 e) + 1.5·2^23). */
// @ts-ignore: decorator
@inline
function expShift(x: v128, neg: bool): v128 {
  // The 1.5·2^23 shift: the add rounds to an integer (ties to even, as f32x4.nearest), and the
  // integer sits in the low mantissa bits, so no float-to-int conversion.
  return f32x4.add(f32x4.mul(x, v128.load(EXP_K + (neg ? 256 : 32))), v128.load(EXP_K, 48));
}

/** r = f(f(x - n·C1) - n·C2) for n = shifted - 1.5·2^23 (neg: t = -r from g). */
// @ts-ignore: decorator
@inline
function expReduce(x: v128, shifted: v128, neg: bool): v128 {
  const n = f32x4.sub(shifted, v128.load(EXP_K, 48));
  if (neg) return f32x4.add(f32x4.add(x, f32x4.mul(n, v128.load(EXP_K, 64))), f32x4.mul(n, v128.load(EXP_K, 80)));
  return f32x4.sub(f32x4.sub(x, f32x4.mul(n, v128.load(EXP_K, 64))), f32x4.mul(n, v128.load(EXP_K, 80)));
}

/** One Horner step f(f(p·r) + c) with c at byte k of the table (neg: f(c - f(p·t))). */
// @ts-ignore: decorator
@inline
function hornerStep(p: v128, r: v128, k: usize, neg: bool): v128 {
  return neg ? f32x4.sub(v128.load(EXP_K + k), f32x4.mul(p, r)) : f32x4.add(f32x4.mul(p, r), v128.load(EXP_K + k));
}

/** p(r) = ((poly·r²) + r) + 1, the degree-7 polynomial by Horner (neg: of t = -r). */
// @ts-ignore: decorator
@inline
function expPoly(r: v128, neg: bool): v128 {
  const r2 = f32x4.mul(r, r);
  let p = v128.load(EXP_K, 96);
  p = hornerStep(p, r, 112, neg);
  p = hornerStep(p, r, 128, neg);
  p = hornerStep(p, r, 144, neg);
  p = hornerStep(p, r, 160, neg);
  p = hornerStep(p, r, 176, neg);
  const pr2 = f32x4.mul(p, r2);
  return f32x4.add(neg ? f32x4.sub(pr2, r) : f32x4.add(pr2, r), v128.load(EXP_K, 192));
}

/** p·2^n for arguments in [-87, 88] (see expf4Near): n << 23 added to p's exponent field. */
// @ts-ignore: decorator
@inline
function expScaleNear(p: v128, shifted: v128): v128 {
  return i32x4.add(p, i32x4.shl(shifted, 23));
}

// @ts-ignore: decorator
@inline
export function expf4(x0: v128): v128 {
  // pmax/pmin are one instruction each (wasm's min/max are NaN-exact sequences); a NaN x keeps
  // failing both compares, so it passes through.
  const x = f32x4.pmin(f32x4.pmax(x0, v128.load(EXP_K)), v128.load(EXP_K, 16));
  const shifted = expShift(x, false);
  const p = expPoly(expReduce(x, shifted, false), false);
  // 2^(n>>1) and 2^(n - n>>1) straight from the bits sb = 0x4b400000 + n of shifted (i32 wraps):
  // ((n>>1) + 127) << 23 = ((sb >> 1) << 23) + 0x3f800000, as 0x4b400000/2 << 23 wraps to 0;
  // (n - n>>1 + 127) << 23 = (sb << 23) - s1 + 0x7f000000. The same bits as computing n first.
  const s1 = i32x4.add(i32x4.shl(i32x4.shr_u(shifted, 1), 23), v128.load(EXP_K, 192));
  const s2 = i32x4.add(i32x4.sub(i32x4.shl(shifted, 23), s1), v128.load(EXP_K, 208));
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * expf4 for lanes known to be in [-87, 88] (or NaN), bit for bit: there the clamp does nothing,
 * n is in [-126, 127] and p·2^n is a normal f32 (for n = -126, r > 0 and p > 1), so the scaling is
 * exact: adding n << 23 (the low bits of shifted, shifted up) to p's exponent field gives the bits
 * that p·2^(n>>1)·2^(n-n>>1) rounds to. Saves the clamp and six of the scaling's operations.
 * (Checked against expf4 on every f32 input in that range.)
 */
// @ts-ignore: decorator
@inline
export function expf4Near(x: v128): v128 {
  const shifted = expShift(x, false);
  return expScaleNear(expPoly(expReduce(x, shifted, false), false), shifted);
}

// Four exps at once: expf4Near4(a, b, c, d) is expf4Near of each, and expf4NearNeg4(g..) is
// expf4Near(-g) of each without the negation (the `neg` stages above; checked against expf4(-g)
// on every f32 g in [-88, 87]), the same operations interleaved stage by stage. One exp is a chain of ~20 dependent operations
// (~80 cycles), and V8 emits them in source order without rescheduling, so one chain after another
// fills the CPU's scheduler with waiting operations; four chains side by side give it independent
// work (SwiGLU forward 0.76-0.84 of the time, its backward and the cross-entropy gradient
// 0.74-0.86, measured old against new in one process). AssemblyScript returns one value: the
// first result is returned, the other three are left in EXP_B, EXP_C, EXP_D for the caller to
// read at once. Those are wasm globals, not memory: every thread's instance has its own.
/** The second to fourth results of the last expf4Near4 / expf4NearNeg4. */
export let EXP_B: v128 = i32x4.splat(0);
export let EXP_C: v128 = i32x4.splat(0);
export let EXP_D: v128 = i32x4.splat(0);

/** expf4Near of a, b, c and d (neg: of -a, ...), stage by stage; b's to d's results in EXP_B..EXP_D. */
// @ts-ignore: decorator
@inline
function expNear4(a: v128, b: v128, c: v128, d: v128, neg: bool): v128 {
  const sa = expShift(a, neg);
  const sb = expShift(b, neg);
  const sc = expShift(c, neg);
  const sd = expShift(d, neg);
  const ra = expReduce(a, sa, neg);
  const rb = expReduce(b, sb, neg);
  const rc = expReduce(c, sc, neg);
  const rd = expReduce(d, sd, neg);
  const pa = expPoly(ra, neg);
  const pb = expPoly(rb, neg);
  const pc = expPoly(rc, neg);
  const pd = expPoly(rd, neg);
  EXP_B = expScaleNear(pb, sb);
  EXP_C = expScaleNear(pc, sc);
  EXP_D = expScaleNear(pd, sd);
  return expScaleNear(pa, sa);
}

// @ts-ignore: decorator
@inline
export function expf4Near4(a: v128, b: v128, c: v128, d: v128): v128 {
  return expNear4(a, b, c, d, false);
}

// @ts-ignore: decorator
@inline
export function expf4NearNeg4(a: v128, b: v128, c: v128, d: v128): v128 {
  return expNear4(a, b, c, d, true);
}

/**
 * Nonzero when a lane of a, b, c or d has |g| > 87, i.e. may be outside expf4NearNeg4's range
 * (NaN lanes are inside). One compare per vector, on |g|, and one test.
 */
// @ts-ignore: decorator
@inline
export function anyFar4(a: v128, b: v128, c: v128, d: v128): bool {
  return v128.any_true(v128.or(farLanes(a, b), farLanes(c, d)));
}

// @ts-ignore: decorator
@inline
function farLanes(a: v128, b: v128): v128 {
  const k = v128.load(EXP_K, 272);
  return v128.or(f32x4.gt(f32x4.abs(a), k), f32x4.gt(f32x4.abs(b), k));
}

/** All-ones in the lanes of x outside expf4Near's [-87, 88] (NaN lanes are inside: 0). */
// @ts-ignore: decorator
@inline
export function outsideNear(x: v128): v128 {
  return v128.or(f32x4.lt(x, v128.load(EXP_K, 224)), f32x4.gt(x, v128.load(EXP_K, 240)));
}

/** expf4 on one value (lane 0), bit-identical to a lane of expf4. */
// @ts-ignore: decorator
@inline
export function expf1(x: f32): f32 {
  return f32x4.extract_lane(expf4(f32x4.splat(x)), 0);
}

/** f32(exp(x)) through f64: correctly rounded but for astronomically rare double roundings. */
// @ts-ignore: decorator
@inline
export function expScalar(x: f32): f32 {
  return <f32>Math.exp(<f64>x);
}

/** f32(log(x)) through f64, as expScalar. */
// @ts-ignore: decorator
@inline
export function logScalar(x: f32): f32 {
  return <f32>Math.log(<f64>x);
}
