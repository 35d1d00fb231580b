/**
 * AdamW8bit: the kernel it dispatches is bitsandbytes' step, so the tests check that the optimizer
 * drives it exactly as the reference kernel run by hand does (bit for bit over several steps),
 * and its host-side bookkeeping: the 32-bit fallback under 4096 elements, the block layout, and a
 * non-finite gradient (that element's states zeroed, its parameter left as it was).
 */
import { ADAMW8BIT_BLOCK, bytesOf, DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, downloadF32, type Params } from '@kvant/abi';
import { randn, referenceKernels } from '@kvant/reference';
import { describe, expect, it } from 'vitest';
import { AdamW } from './adamw';
import { AdamW8bit } from './adamw8bit';
import { makeParams, readParams, runtimesUnderTest, sameBits, setGrads } from './test-support';

const f = Math.fround;
const runtimes = await runtimesUnderTest();

/** The kernel's params written out from the spec's caller contract (independent of adamw8bitStepParams). */
function specParams(n: number, lr: number, wd: number, t: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): Params {
  const c1 = 1 - beta1 ** t;
  const c2 = Math.sqrt(1 - beta2 ** t);
  return { n, beta1: f(beta1), beta2: f(beta2), one_minus_beta1: f(1 - beta1), one_minus_beta2: f(1 - beta2), eps_hat: f(eps * c2), decay: f(1 - lr * wd), step_size: f((lr * c2) / c1) };
}

/** The reference kernel on host buffers, step after step. */
class HostAdam8bit {
  readonly b: Record<string, Uint8Array>;
  constructor(p: Float32Array) {
    const n = p.length;
    const blocks = Math.ceil(n / ADAMW8BIT_BLOCK);
    const pad = (bytes: number) => new Uint8Array(Math.ceil(bytes / 4) * 4);
    this.b = { p: pad(4 * n), g: pad(4 * n), m_q: pad(n), v_q: pad(n), m_absmax: pad(4 * blocks), v_absmax: pad(4 * blocks), code_signed: pad(1024), code_unsigned: pad(1024) };
    this.b.p.set(bytesOf(p));
    this.b.code_signed.set(bytesOf(DYNAMIC_MAP_SIGNED));
    this.b.code_unsigned.set(bytesOf(DYNAMIC_MAP_UNSIGNED));
  }
  step(g: Float32Array, params: Params): void {
    this.b.g.set(bytesOf(g));
    referenceKernels['optim.adamw8bit_step'].run(params, this.b);
  }
  f32(name: string, n: number): Float32Array {
    return new Float32Array(this.b[name].buffer, 0, n);
  }
}

describe.each(runtimes)('AdamW8bit on $name', ({ make }) => {
  it('matches the reference kernel bit for bit over 6 steps (params, codes, absmax)', async () => {
    const rt = await make();
    const shapes = { big: [4099], square: [64, 80] };
    const init = { big: randn(4099, 1), square: randn(5120, 2, 0.02) };
    const params = makeParams(rt, shapes, init);
    const lr = 3e-3;
    const wd = 0.05;
    const opt = new AdamW8bit(rt, params, { lr, weightDecay: wd });
    const hosts = { big: new HostAdam8bit(init.big), square: new HostAdam8bit(init.square) };
    for (let t = 1; t <= 6; t++) {
      const grads = { big: randn(4099, 10 + t, 0.1), square: randn(5120, 20 + t, 1e-3) };
      grads.big[t * 300] = 40; // an outlier that owns its block's absmax this step
      setGrads(rt, params, grads);
      opt.step();
      for (const [name, h] of Object.entries(hosts)) h.step(grads[name as keyof typeof grads], specParams(h.b.p.byteLength / 4, lr, wd, t));
    }
    const got = await readParams(params);
    for (const [name, h] of Object.entries(hosts)) {
      const n = got[name].length;
      const s = opt.stateTensors(name);
      expect(sameBits(got[name], h.f32('p', n)), `${name}: params`).toBe(true);
      expect(await rt.read(s.get('state1')!)).toEqual(h.b.m_q.slice(0, s.get('state1')!.byteLength));
      expect(await rt.read(s.get('state2')!)).toEqual(h.b.v_q.slice(0, s.get('state2')!.byteLength));
      expect(sameBits(await downloadF32(s.get('absmax1')!), h.f32('m_absmax', Math.ceil(n / 256))), `${name}: absmax1`).toBe(true);
      expect(sameBits(await downloadF32(s.get('absmax2')!), h.f32('v_absmax', Math.ceil(n / 256))), `${name}: absmax2`).toBe(true);
    }
    opt.dispose();
    rt.dispose();
  });

  it('keeps 32-bit states below 4096 elements and then steps exactly like AdamW', async () => {
    const rt = await make();
    const shapes = { small: [4095], edge: [64, 64], bias: [3] };
    const init = { small: randn(4095, 3), edge: randn(4096, 4), bias: randn(3, 5) };
    const p8 = makeParams(rt, shapes, init);
    const p32 = makeParams(rt, shapes, init);
    const opt8 = new AdamW8bit(rt, p8, { lr: 1e-2 });
    const opt32 = new AdamW(rt, p32, { lr: 1e-2 });
    expect(opt8.isEightBit('small')).toBe(false);
    expect(opt8.isEightBit('bias')).toBe(false);
    expect(opt8.isEightBit('edge')).toBe(true);
    expect(opt8.stateTensors('small').get('state1')!.dtype).toBe('f32');
    expect([...opt8.stateTensors('small').keys()]).toEqual(['state1', 'state2']);
    expect([...opt8.stateTensors('edge').keys()]).toEqual(['state1', 'state2', 'absmax1', 'absmax2']);
    expect(opt8.stateTensors('edge').get('state1')!.dtype).toBe('u8');
    for (let t = 1; t <= 4; t++) {
      const grads = { small: randn(4095, 30 + t, 0.1), edge: randn(4096, 40 + t, 0.1), bias: randn(3, 50 + t) };
      setGrads(rt, p8, grads);
      setGrads(rt, p32, grads);
      opt8.step();
      opt32.step();
    }
    const a = await readParams(p8);
    const b = await readParams(p32);
    expect(sameBits(a.small, b.small)).toBe(true);
    expect(sameBits(a.bias, b.bias)).toBe(true);
    expect(sameBits(a.edge, b.edge)).toBe(false); // 8-bit states: close to AdamW, not equal
    expect(Math.max(...a.edge.map((x, i) => Math.abs(x - b.edge[i])))).toBeLessThan(5e-3);
    // Bytes: 8 per element for the 32-bit tensors; 2 + 8/256 per element for the 8-bit one, plus the two 1 KiB maps.
    const bytes = opt8.stateBytes();
    expect(bytes.byParam).toEqual({ small: 8 * 4095, edge: 2 * 4096 + 2 * 4 * 16, bias: 8 * 3 });
    expect(bytes.shared).toBe(2048);
    expect(opt32.stateBytes().bytesPerParameter).toBe(8);
    opt8.dispose();
    opt32.dispose();
    rt.dispose();
  });

  it('lays the states out in blocks of 256: absmax per block, the short last block included', async () => {
    const rt = await make();
    const n = 4099; // 16 full blocks and one of 3
    const params = makeParams(rt, { w: [n] }, { w: randn(n, 6) });
    const opt = new AdamW8bit(rt, params);
    const g = randn(n, 7, 0.1);
    g[4097] = -9; // the short block's maximum
    setGrads(rt, params, { w: g });
    opt.step();
    const s = opt.stateTensors('w');
    expect(s.get('absmax1')!.shape).toEqual([17]);
    const am = await downloadF32(s.get('absmax1')!);
    const av = await downloadF32(s.get('absmax2')!);
    // First step from zero states: m1 = f((1 - beta1)·g), v1 = f(f((1 - beta2)·g)·g).
    const w1 = f(1 - 0.9);
    const w2 = f(1 - 0.999);
    for (let b = 0; b < 17; b++) {
      const block = Array.from(g.subarray(b * 256, Math.min(n, b * 256 + 256)));
      expect(am[b]).toBe(Math.max(...block.map((x) => Math.abs(f(w1 * x)))));
      expect(av[b]).toBe(Math.max(...block.map((x) => f(f(w2 * x) * x))));
    }
    expect(am[16]).toBe(f(w1 * 9));
    // The element at its block's absmax takes the map's end: the signed map's lowest code (it has +1.0 but no -1.0).
    const { m } = await opt.moments('w');
    expect(m[4097]).toBe(f(DYNAMIC_MAP_SIGNED[0] * am[16]));
    expect(await rt.read(s.get('state1')!).then((q) => q[4097])).toBe(0);
    opt.dispose();
    rt.dispose();
  });

  it('follows bitsandbytes on a non-finite gradient: states zeroed, parameter unchanged', async () => {
    const rt = await make();
    const n = 5000;
    const params = makeParams(rt, { w: [n] }, { w: randn(n, 8) });
    const opt = new AdamW8bit(rt, params, { lr: 1e-2, weightDecay: 0.1 });
    for (let t = 1; t <= 3; t++) {
      setGrads(rt, params, { w: randn(n, 60 + t, 0.1) });
      opt.step();
    }
    const before = (await readParams(params)).w;
    const momentsBefore = await opt.moments('w');
    const g = randn(n, 70, 0.1);
    const bad = { nan: 17, inf: 300, negInf: 4999 };
    g[bad.nan] = Number.NaN;
    g[bad.inf] = Number.POSITIVE_INFINITY;
    g[bad.negInf] = Number.NEGATIVE_INFINITY;
    setGrads(rt, params, { w: g });
    opt.step();
    const after = (await readParams(params)).w;
    const { m, v } = await opt.moments('w');
    for (const i of Object.values(bad)) {
      expect(Object.is(after[i], before[i]), `param ${i} unchanged (no decay either)`).toBe(true);
      expect(m[i]).toBe(0);
      expect(v[i]).toBe(0);
      expect(momentsBefore.v[i]).toBeGreaterThan(0);
    }
    // Every other element stepped, and stayed finite.
    let moved = 0;
    for (let i = 0; i < n; i++) {
      expect(Number.isFinite(after[i])).toBe(true);
      if (!Object.values(bad).includes(i) && after[i] !== before[i]) moved++;
    }
    expect(moved).toBeGreaterThan(n - 10);
    const absmax = await downloadF32(opt.stateTensors('w').get('absmax1')!);
    expect(absmax.every(Number.isFinite)).toBe(true);
    opt.dispose();
    rt.dispose();
  });
});
