import { adamw8bitStepParams, adamwStepParams, type AnyTypedArray, bytesOf, DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, type Params } from '@kvant/abi';
import { describe, expect, it } from 'vitest';
import { referenceKernels } from './kernels';
import { lerpF32 } from './optim';
import { randn, randomBytes } from './random';

function run(id: string, params: Params, arrays: Record<string, AnyTypedArray>): Record<string, Uint8Array> {
  const bufs: Record<string, Uint8Array> = {};
  for (const [name, a] of Object.entries(arrays)) {
    const src = bytesOf(a);
    const buf = new Uint8Array(Math.ceil(src.byteLength / 4) * 4);
    buf.set(src);
    bufs[name] = buf;
  }
  referenceKernels[id].run(params, bufs);
  return bufs;
}
const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
const f = Math.fround;

/** Params of optim.adamw_step (@kvant/abi's caller contract). */
const adamwParams = (n: number, lr: number, t: number, wd: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): Params =>
  adamwStepParams(n, { lr, betas: [beta1, beta2], eps, weightDecay: wd }, t);

describe('optim.adamw_step', () => {
  it('matches a hand-computed first step', () => {
    // p = 1, g = 0.5, m = v = 0, lr = 1e-3, wd = 0.01, t = 1:
    // p1 = 0.99999; m = 0.05; v = 0.00025; denom = sqrt(0.00025) / sqrt(0.001) + 1e-8 = 0.50000001;
    // p = 0.99999 - (1e-3 / 0.1) * 0.05 / 0.50000001 = 0.99899000002.
    const out = run('optim.adamw_step', adamwParams(1, 1e-3, 1, 0.01), { p: Float32Array.of(1), g: Float32Array.of(0.5), m: Float32Array.of(0), v: Float32Array.of(0) });
    expect(f32(out.p)[0]).toBeCloseTo(0.99899000002, 7);
    expect(f32(out.m)[0]).toBeCloseTo(0.05, 8);
    expect(f32(out.v)[0]).toBeCloseTo(0.00025, 10);
  });

  it('tracks an f64 AdamW over 10 steps (torch.optim.AdamW semantics) within 1e-6 relative', () => {
    const n = 1000;
    const p0 = randn(n, 1);
    let p = p0.slice();
    let m: Float32Array = new Float32Array(n);
    let v: Float32Array = new Float32Array(n);
    const P = Float64Array.from(p0);
    const M = new Float64Array(n);
    const V = new Float64Array(n);
    const [lr, wd, b1, b2, eps] = [1e-3, 0.01, 0.9, 0.999, 1e-8];
    for (let t = 1; t <= 10; t++) {
      const g = randn(n, 100 + t);
      const out = run('optim.adamw_step', adamwParams(n, lr, t, wd), { p, g, m, v });
      [p, m, v] = [f32(out.p).slice(), f32(out.m).slice(), f32(out.v).slice()];
      for (let i = 0; i < n; i++) {
        P[i] *= 1 - lr * wd;
        M[i] = b1 * M[i] + (1 - b1) * g[i];
        V[i] = b2 * V[i] + (1 - b2) * g[i] * g[i];
        P[i] -= (lr / (1 - b1 ** t)) * (M[i] / (Math.sqrt(V[i]) / Math.sqrt(1 - b2 ** t) + eps));
      }
    }
    for (let i = 0; i < n; i++) expect(Math.abs(p[i] - P[i])).toBeLessThanOrEqual(1e-6 * Math.abs(P[i]) + 1e-7);
  });

  it('uses both branches of torch\'s lerp', () => {
    expect(lerpF32(1, 3, 0.25)).toBe(f(1 + f(0.25 * 2)));
    expect(lerpF32(1, 3, 0.75)).toBe(f(3 - f(2 * f(1 - 0.75))));
    const out = run('optim.adamw_step', adamwParams(1, 1e-3, 1, 0, 0.3), { p: Float32Array.of(0), g: Float32Array.of(0.1), m: Float32Array.of(0.2), v: Float32Array.of(0) });
    expect(f32(out.m)[0]).toBe(lerpF32(f(0.2), f(0.1), f(0.7)));
  });
});

/** Params of optim.adamw8bit_step (@kvant/abi's caller contract, bitsandbytes' algebra). */
const adamw8bitParams = (n: number, lr: number, t: number, wd: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): Params =>
  adamw8bitStepParams(n, { lr, betas: [beta1, beta2], eps, weightDecay: wd }, t);

describe('optim.adamw8bit_step', () => {
  const n = 600;
  const blocks = Math.ceil(n / 256);
  const state = () => ({
    m_q: randomBytes(n, 2),
    v_q: randomBytes(n, 3).map((q) => Math.max(q, 128)),
    m_absmax: Float32Array.from({ length: blocks }, (_, b) => 0.01 * (b + 1)),
    v_absmax: Float32Array.from({ length: blocks }, (_, b) => 1e-3 * (b + 1)),
    code_signed: DYNAMIC_MAP_SIGNED,
    code_unsigned: DYNAMIC_MAP_UNSIGNED,
  });

  it('has +0.0 at index 127 of the signed map (the sign fix relies on it)', () => {
    expect(Object.is(DYNAMIC_MAP_SIGNED[127], 0)).toBe(true);
    expect(Object.is(DYNAMIC_MAP_UNSIGNED[0], 0)).toBe(true);
  });

  it('leaves p unchanged and zeroes m and v where the gradient is NaN or Inf', () => {
    const p = randn(n, 1);
    const g = randn(n, 4);
    const bad = [5, 260, 599];
    g[5] = Number.NaN;
    g[260] = Number.POSITIVE_INFINITY;
    g[599] = Number.NEGATIVE_INFINITY;
    const out = run('optim.adamw8bit_step', adamw8bitParams(n, 1e-3, 10, 0.01), { p, g, ...state() });
    const np = f32(out.p);
    for (const i of bad) {
      expect(np[i]).toBe(p[i]);
      expect(DYNAMIC_MAP_SIGNED[out.m_q[i]]).toBe(0);
      expect(DYNAMIC_MAP_UNSIGNED[out.v_q[i]]).toBe(0);
    }
    let changed = 0;
    for (let i = 0; i < n; i++) if (!bad.includes(i) && np[i] !== p[i]) changed++;
    expect(changed).toBeGreaterThan(n - 10);
  });

  it('updates like AdamW on the dequantized states and requantizes with the new block absmax', () => {
    const p = randn(n, 1);
    const g = randn(n, 4);
    const st = state();
    const h = { lr: 1e-3, t: 10, wd: 0.01 };
    const out = run('optim.adamw8bit_step', adamw8bitParams(n, h.lr, h.t, h.wd), { p, g, ...st });
    const np = f32(out.p);
    const am = f32(out.m_absmax);
    const av = f32(out.v_absmax);
    for (let b = 0; b < blocks; b++) {
      let wantM = 0;
      let wantV = 0;
      for (let i = b * 256; i < Math.min(n, (b + 1) * 256); i++) {
        const m1 = 0.9 * DYNAMIC_MAP_SIGNED[st.m_q[i]] * st.m_absmax[b] + 0.1 * g[i];
        const v1 = 0.999 * DYNAMIC_MAP_UNSIGNED[st.v_q[i]] * st.v_absmax[b] + 0.001 * g[i] * g[i];
        wantM = Math.max(wantM, Math.abs(m1));
        wantV = Math.max(wantV, v1);
        const c2 = Math.sqrt(1 - 0.999 ** h.t);
        const wantP = (p[i] - ((h.lr * c2) / (1 - 0.9 ** h.t)) * (m1 / (Math.sqrt(v1) + 1e-8 * c2))) * (1 - h.lr * h.wd);
        expect(Math.abs(np[i] - wantP)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(wantP)));
        // The requantized m is within one code spacing (<= 0.0141 of the absmax) of m1, with its sign.
        const back = DYNAMIC_MAP_SIGNED[out.m_q[i]] * am[b];
        expect(Math.abs(back - m1)).toBeLessThanOrEqual(0.0141 * am[b]);
        if (m1 < 0) expect(back).toBeLessThan(0);
      }
      expect(am[b]).toBeCloseTo(wantM, 6);
      expect(av[b]).toBeCloseTo(wantV, 8);
    }
  });

  it('moves a tiny negative m off the zero code (the sign fix) and handles an all-zero block', () => {
    // Element 0 sets the block absmax; element 1 has m1 = -1e-12, nearest code 0.0 -> index 126.
    const m_q = new Uint8Array(2).fill(127);
    const args = { m_q, v_q: new Uint8Array(2), m_absmax: Float32Array.of(0), v_absmax: Float32Array.of(0), code_signed: DYNAMIC_MAP_SIGNED, code_unsigned: DYNAMIC_MAP_UNSIGNED };
    const out = run('optim.adamw8bit_step', adamw8bitParams(2, 1e-3, 1, 0), { p: new Float32Array(2), g: Float32Array.of(1, -1e-11), ...args });
    expect(out.m_q[1]).toBe(126);
    expect(out.m_q[0]).toBe(255);
    const zero = run('optim.adamw8bit_step', adamw8bitParams(2, 1e-3, 1, 0.01), { p: Float32Array.of(1, 2), g: new Float32Array(2), ...args });
    expect(Array.from(zero.m_q.subarray(0, 2))).toEqual([127, 127]);
    expect(Array.from(zero.v_q.subarray(0, 2))).toEqual([0, 0]);
    expect(f32(zero.m_absmax)[0]).toBe(0);
    expect(Array.from(f32(zero.p).subarray(0, 2))).toEqual([f(1 * f(1 - 1e-5)), f(2 * f(1 - 1e-5))]);
  });
});
