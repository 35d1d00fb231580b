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
// Idea: one pass per block: the update into a 256-element stash of m1 and v1 (the new absmax is
// known only at the block's end), then the requantization from the stash with the branchless
// 8-step midpoint search of quant.blockwise8_quantize over midpoints built once per dispatch.
import { Bindings, Params } from '../generated/optim/adamw8bit_step';

const BLOCK: usize = 256;
// Static scratch (this kernel runs on the calling thread only; no __part variant).
const midSigned = memory.data(256 * 4, 16);
const midUnsigned = memory.data(256 * 4, 16);
const stashM = memory.data(256 * 4, 16);
const stashV = memory.data(256 * 4, 16);

/** mid[j] = f(f(code[j] + code[j+1]) * 0.5) for j < 255, mid[255] = +inf. */
function buildMidpoints(code: usize, mid: usize): void {
  for (let j: usize = 0; j < 255; j++) {
    const lo = load<f32>(code + (j << 2));
    const hi = load<f32>(code + (j << 2), 4);
    store<f32>(mid + (j << 2), (lo + hi) * 0.5);
  }
  store<f32>(mid + (255 << 2), Infinity);
}

/** The number of midpoints below s (sorted code): the nearest code, a tie going down; NaN -> 0. */
// @ts-ignore: decorator
@inline
function nearest(mid: usize, s: f32): u32 {
  let pos: u32 = 0;
  for (let step: u32 = 128; step > 0; step >>= 1) pos += select<u32>(step, 0, s > load<f32>(mid + ((pos + step - 1) << 2)));
  return pos;
}

export function optim__adamw8bit_step(params: usize, bindings: usize): void {
  const pr = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(pr.n);
  const beta1 = pr.beta1;
  const beta2 = pr.beta2;
  const w1 = pr.one_minus_beta1;
  const w2 = pr.one_minus_beta2;
  const epsHat = pr.eps_hat;
  const decay = pr.decay;
  const stepSize = pr.step_size;
  const cs = b.code_signed;
  const cu = b.code_unsigned;
  buildMidpoints(cs, midSigned);
  buildMidpoints(cu, midUnsigned);
  for (let start: usize = 0, blk: usize = 0; start < n; start += BLOCK, blk++) {
    const end = n - start > BLOCK ? start + BLOCK : n;
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
        m1 = beta1 * m0 + w1 * g;
        v1 = beta2 * v0 + w2 * g * g;
        const denom = Mathf.sqrt(v1) + epsHat;
        const p1: f32 = load<f32>(b.p + (i << 2)) - stepSize * (m1 / denom);
        store<f32>(b.p + (i << 2), p1 * decay);
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
    for (let i = start; i < end; i++) {
      const m1 = load<f32>(stashM + ((i - start) << 2));
      const v1 = load<f32>(stashV + ((i - start) << 2));
      const sm: f32 = am > 0 ? m1 / am : 0;
      let q = nearest(midSigned, sm);
      // Sign fix: keep the sign of m through quantization.
      const codeNeg = (load<u32>(cs + (usize(q) << 2)) >>> 31) != 0;
      const mNeg = (reinterpret<u32>(m1) >>> 31) != 0;
      if (codeNeg != mNeg) q = m1 > 0 ? q + 1 : q - 1;
      store<u8>(b.m_q + i, u8(q));
      const sv: f32 = av > 0 ? v1 / av : 0;
      store<u8>(b.v_q + i, u8(nearest(midUnsigned, sv)));
    }
  }
}
