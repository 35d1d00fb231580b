// optim.adamw_step — one step of PyTorch's AdamW (decoupled weight decay, bias correction, eps
// outside the sqrt) with f32 states, in place.
// Shapes: p, g, m, v f32[n].
// Math (per element, in order): p1 = f(p * decay); d = f(g - m); w = one_minus_beta1;
//   m1 = |w| < 0.5 ? f(m + f(w * d)) : f(g - f(d * f(1 - w)))   (torch's lerp);
//   v1 = f(f(v * beta2) + f(f(one_minus_beta2 * g) * g));
//   denom = f(f(f(sqrt(v1)) / bias_c2_sqrt) + eps); p = f(p1 - f(f(step_size * m1) / denom)):
//   every one an IEEE f32 operation, as torch's exp_avg_sq.sqrt() / bias_correction2_sqrt.
// Idea: memory-bound (28 bytes per element): four elements per f32x4 step; the lerp branch
// depends on w alone, so it is chosen once; f32x4 sqrt and div are IEEE (correctly rounded), and
// the scalar tail does the same f32 operations. `__part` splits the elements into contiguous runs
// (multiples of 16 elements) over threads: element-wise, so any split gives the same bits.
import { Bindings, Params } from '../generated/optim/adamw_step';

/** f(f(sqrt(v)) / c) per lane. */
// @ts-ignore: decorator
@inline
export function sqrtDiv(v: v128, c: v128): v128 {
  return f32x4.div(f32x4.sqrt(v), c);
}

// @ts-ignore: decorator
@inline
function lerpSmall(m: v128, g: v128, w: v128): v128 {
  return f32x4.add(m, f32x4.mul(w, f32x4.sub(g, m)));
}

// @ts-ignore: decorator
@inline
function lerpLarge(m: v128, g: v128, oneMinusW: v128): v128 {
  return f32x4.sub(g, f32x4.mul(f32x4.sub(g, m), oneMinusW));
}

export function optim__adamw_step(params: usize, bindings: usize): void {
  range(changetype<Params>(params), changetype<Bindings>(bindings), 0, usize(changetype<Params>(params).n));
}

/** Part `part` of `parts`: elements [e(part), e(part + 1)), e(k) = 16 * floor(k * ceil(n/16) / parts) capped at n. */
export function optim__adamw_step__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const pr = changetype<Params>(params);
  const n = u64(pr.n);
  const chunks = (n + 15) >> 4;
  const e0 = ((chunks * part) / parts) << 4;
  const e1 = ((chunks * (part + 1)) / parts) << 4;
  range(pr, changetype<Bindings>(bindings), usize(e0 < n ? e0 : n), usize(e1 < n ? e1 : n));
}

function range(pr: Params, b: Bindings, e0: usize, n: usize): void {
  const w: f32 = pr.one_minus_beta1;
  const small = Mathf.abs(w) < 0.5;
  const oneMinusW: f32 = 1 - w;
  const vw = f32x4.splat(w);
  const v1w = f32x4.splat(oneMinusW);
  const beta2 = f32x4.splat(pr.beta2);
  const w2 = f32x4.splat(pr.one_minus_beta2);
  const eps = f32x4.splat(pr.eps);
  const decay = f32x4.splat(pr.decay);
  const stepSize = f32x4.splat(pr.step_size);
  const bc2 = f32x4.splat(pr.bias_c2_sqrt);
  let i: usize = e0;
  for (; i + 4 <= n; i += 4) {
    const o = i << 2;
    const p = v128.load(b.p + o);
    const g = v128.load(b.g + o);
    const m = v128.load(b.m + o);
    const v = v128.load(b.v + o);
    const p1 = f32x4.mul(p, decay);
    const m1 = small ? lerpSmall(m, g, vw) : lerpLarge(m, g, v1w);
    const v1 = f32x4.add(f32x4.mul(v, beta2), f32x4.mul(f32x4.mul(w2, g), g));
    const denom = f32x4.add(sqrtDiv(v1, bc2), eps);
    v128.store(b.p + o, f32x4.sub(p1, f32x4.div(f32x4.mul(stepSize, m1), denom)));
    v128.store(b.m + o, m1);
    v128.store(b.v + o, v1);
  }
  for (; i < n; i++) {
    const o = i << 2;
    const p = load<f32>(b.p + o);
    const g = load<f32>(b.g + o);
    const m = load<f32>(b.m + o);
    const v = load<f32>(b.v + o);
    const p1 = p * pr.decay;
    const d: f32 = g - m;
    const m1: f32 = small ? m + w * d : g - d * oneMinusW;
    const v1: f32 = v * pr.beta2 + pr.one_minus_beta2 * g * g;
    const denom: f32 = Mathf.sqrt(v1) / pr.bias_c2_sqrt + pr.eps;
    store<f32>(b.p + o, p1 - (pr.step_size * m1) / denom);
    store<f32>(b.m + o, m1);
    store<f32>(b.v + o, v1);
  }
}
