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
//
// expScalar / logScalar: the f64 functions rounded once to f32 — what the reference computes,
// for the few exps and logs per row (rescale factors, log-sum-exp), where speed does not matter.

// @ts-ignore: decorator
@inline
export function expf4(x0: v128): v128 {
  // pmax/pmin are one instruction each (wasm's min/max are NaN-exact sequences); a NaN x keeps
  // failing both compares, so it passes through.
  const x = f32x4.pmin(f32x4.pmax(x0, f32x4.splat(-104.0)), f32x4.splat(89.0));
  // nearest(x·log2 e) by the 1.5·2^23 shift: the add rounds to an integer (ties to even, as
  // f32x4.nearest), and the integer sits in the low mantissa bits, so no float-to-int conversion.
  const shifted = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504)), f32x4.splat(12582912.0));
  const n = f32x4.sub(shifted, f32x4.splat(12582912.0));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.splat(1.98756915e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.39819995e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.33345191e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.16657959e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.66666655e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.00000012e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1.0));
  const ni = i32x4.sub(shifted, i32x4.splat(0x4b400000));
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
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
