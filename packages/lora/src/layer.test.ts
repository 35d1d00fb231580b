/**
 * LoraLinear on a dense and a 4-bit base: forward and backward against an independent host (f64)
 * computation and against central finite differences; a fresh adapter is bit-identical to the base
 * alone; dropout regenerated in backward; every runtime that runs the kernels.
 */
import type { Runtime, Tensor } from '@kvant/abi';
import { quantize, type QuantizedFourBit } from '@kvant/quant';
import { dropoutDraws } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaseWeight } from './base';
import { DenseBase } from './dense-base';
import { FourBitBase } from './four-bit-base';
import { LoraLinear } from './layer';
import { addBias, dropoutParams } from './ops';
import { loraScaling } from './scaling';
import { data, get, hostDequantize, hostMatmul, put, relError, runtimesUnderTest, sameBits } from './test-support';

const [M, K, N, R] = [5, 16, 12, 3];
const runtimes = await runtimesUnderTest();
const BASES = ['f32', 'nf4', 'fp4+dq'] as const;
type BaseKind = (typeof BASES)[number];

/** A base of each kind, and W as the host sees it (dequantized independently for 4-bit). */
async function makeBase(rt: Runtime, kind: BaseKind, seed = 1): Promise<{ base: BaseWeight; w: Float32Array }> {
  const values = data(N * K, seed, 0.5);
  if (kind === 'f32') return { base: DenseBase.fromValues(rt, values, [N, K]), w: values };
  const q = (await quantize(rt, values, [N, K], { quantType: kind === 'nf4' ? 'nf4' : 'fp4', blocksize: 32, doubleQuant: kind === 'fp4+dq' })) as QuantizedFourBit;
  return { base: FourBitBase.fromQuantized(rt, q), w: hostDequantize(q) };
}

/** The dropout keep-scale of each element as linalg.dropout's spec defines it (host Philox from the reference). */
function hostMask(n: number, p: number, seed: number, offset: number): Float64Array {
  const { threshold, scale } = dropoutParams(p);
  const draws = dropoutDraws(n, { seed_lo: seed, seed_hi: 0, offset_lo: offset, offset_hi: 0 });
  return Float64Array.from(draws, (d) => (d >= threshold ? scale : 0));
}

for (const { name, make } of runtimes) {
  describe(`LoraLinear on ${name}`, () => {
    let rt: Runtime;
    beforeAll(async () => {
      rt = await make();
    });
    afterAll(() => rt.dispose());

    for (const kind of BASES) {
      it(`forward and backward agree with the host math (${kind} base, bias, dropout 0.25, training)`, async () => {
        const { base, w } = await makeBase(rt, kind);
        const biasValues = data(N, 3);
        const bias = put(rt, [N], biasValues);
        const layer = new LoraLinear(base, { bias, biasTrainable: true, name: 'q_proj' });
        const p = 0.25;
        const a = await layer.addAdapter('default', { r: R, loraAlpha: 6, loraDropout: p, init: false, seed: 11 });
        const s = loraScaling(R, 6, false);
        const xv = data(M * K, 4);
        const x = put(rt, [M, K], xv);
        const offset = 7;
        const { y, saved } = await layer.forward(x, { training: true, dropoutOffset: offset });
        const [A, B] = [await get(a.A), await get(a.B)];
        const mask = hostMask(M * K, p, a.seed, offset);
        const xt = Float64Array.from(xv, (v, i) => v * mask[i]);
        const u = hostMatmul(xt, A, M, R, K, false, true);
        const base0 = hostMatmul(xv, w, M, N, K, false, true);
        const lora = hostMatmul(u, B, M, N, R, false, true);
        const want = base0.map((v, i) => v + biasValues[i % N] + s * lora[i]);
        expect(relError(await get(y), want)).toBeLessThan(1e-6);

        const dyv = data(M * N, 5);
        const dy = put(rt, [M, N], dyv);
        const { dx } = await layer.backward(saved, dy);
        const g = a.grads();
        const dB = hostMatmul(dyv, u, N, R, M, true).map((v) => s * v);
        const gu = hostMatmul(dyv, B, M, R, N).map((v) => s * v);
        const dA = hostMatmul(gu, xt, R, K, M, true);
        const dxt = hostMatmul(gu, A, M, K, R);
        const dxWant = hostMatmul(dyv, w, M, K, N).map((v, i) => v + mask[i] * dxt[i]);
        const dBias = Array.from({ length: N }, (_, j) => dyv.filter((_, i) => i % N === j).reduce((q, v) => q + v, 0));
        expect(relError(await get(g.B), dB)).toBeLessThan(1e-6);
        expect(relError(await get(g.A), dA)).toBeLessThan(1e-6);
        expect(relError(await get(dx!), dxWant)).toBeLessThan(1e-6);
        expect(relError(await get(layer.biasGrad()!), dBias)).toBeLessThan(1e-6);
        // The base weight has no gradient tensor at all: only A, B and the bias do.
        expect(Object.keys(g).sort()).toEqual(['A', 'B']);
        layer.free();
        rt.free(bias);
      });
    }

    it('gradients match central finite differences of L = Σ y·G (dA, dB, dx; dropout mask fixed by its offset)', async () => {
      const { base } = await makeBase(rt, 'f32', 2);
      const layer = new LoraLinear(base, { name: 'v_proj' });
      const a = await layer.addAdapter('default', { r: R, loraAlpha: 16, loraDropout: 0.2, init: false, seed: 3, useRslora: true });
      const xv = data(M * K, 6);
      const x = put(rt, [M, K], xv);
      const G = data(M * N, 7);
      const loss = async (): Promise<number> => {
        const { y, saved } = await layer.forward(x, { training: true, dropoutOffset: 42 });
        const yv = await get(y);
        rt.free(y);
        (await layer.backward(saved, put(rt, [M, N], G), { inputGradient: false })).dx;
        return yv.reduce((q, v, i) => q + v * G[i], 0);
      };
      const { y, saved } = await layer.forward(x, { training: true, dropoutOffset: 42 });
      rt.free(y);
      const { dx } = await layer.backward(saved, put(rt, [M, N], G));
      const analytic = { A: await get(a.grads().A), B: await get(a.grads().B), x: await get(dx!) };
      const h = 1e-2;
      const check = async (t: Tensor, values: Float32Array, grad: Float32Array, label: string) => {
        for (const i of [0, 3, Math.floor(values.length / 2), values.length - 1]) {
          const orig = values[i];
          values[i] = orig + h;
          rt.write(t, values);
          const lp = await loss();
          values[i] = orig - h;
          rt.write(t, values);
          const lm = await loss();
          values[i] = orig;
          rt.write(t, values);
          const fd = (lp - lm) / (2 * h);
          expect(Math.abs(fd - grad[i]), `${label}[${i}]: fd ${fd} vs ${grad[i]}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(grad[i])));
        }
      };
      await check(a.A, await get(a.A), analytic.A, 'dA');
      await check(a.B, await get(a.B), analytic.B, 'dB');
      await check(x, xv.slice(), analytic.x, 'dx');
      layer.free();
    });

    for (const kind of BASES) {
      for (const init of [true, 'gaussian'] as const) {
        it(`a fresh adapter (init ${init}) leaves the output bit-identical to the base alone (${kind})`, async () => {
          const { base } = await makeBase(rt, kind, 9);
          const bias = put(rt, [N], data(N, 10));
          const x = put(rt, [M, K], data(M * K, 12));
          const alone = rt.alloc('f32', [M, N]);
          base.forward(x, alone, M);
          addBias(rt, put(rt, [M], new Float32Array(M).fill(1)), bias, alone, M, N);
          const layer = new LoraLinear(base, { bias });
          await layer.addAdapter('default', { r: 4, loraAlpha: 32, init, seed: 5 });
          const { y } = await layer.forward(x, { training: false });
          expect(sameBits(await get(y), await get(alone))).toBe(true);
          expect((await get(layer.adapter('default').B)).every((v) => v === 0)).toBe(true);
          layer.free();
        });
      }
    }

    it('initializes A as PEFT: kaiming-uniform within ±1/sqrt(in_features), gaussian with std 1/r, seeded', async () => {
      const { base } = await makeBase(rt, 'f32');
      const layer = new LoraLinear(base);
      const k = 256;
      const wide = new LoraLinear(DenseBase.fromValues(rt, data(4 * k, 1), [4, k]));
      const a = await wide.addAdapter('u', { r: 8, loraAlpha: 8, seed: 1 });
      const A = await get(a.A);
      const bound = 1 / Math.sqrt(k);
      expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.95 * bound);
      const g = await wide.addAdapter('g', { r: 8, loraAlpha: 8, init: 'gaussian', seed: 1 });
      const G = await get(g.A);
      const std = Math.sqrt(G.reduce((q, v) => q + v * v, 0) / G.length);
      expect(std).toBeGreaterThan(0.9 / 8);
      expect(std).toBeLessThan(1.1 / 8);
      const again = await wide.addAdapter('u2', { r: 8, loraAlpha: 8, seed: 1 });
      expect(sameBits(await get(again.A), A)).toBe(true);
      wide.free();
      layer.free();
    });

    for (const kind of BASES) {
      it(`forwardInto and backward({ dx }) give forward's and backward's bits, allocating nothing in steady state (${kind})`, async () => {
        const { base } = await makeBase(rt, kind, 14);
        const bias = put(rt, [N], data(N, 15));
        const layer = new LoraLinear(base, { bias, biasTrainable: true });
        await layer.addAdapter('default', { r: R, loraAlpha: 6, init: false, seed: 16 });
        const x = put(rt, [M, K], data(M * K, 17));
        const dy = put(rt, [M, N], data(M * N, 18));
        // The allocating API: a new y and a new dx, the latter then added to a given one (as the decoder did).
        const f0 = await layer.forward(x, { training: true });
        const { dx: dx0 } = await layer.backward(f0.saved, dy);
        const prior = data(M * K, 19);
        const sum = put(rt, [M, K], prior);
        rt.dispatch('linalg.axpy', { x: dx0!, y: sum }, { n: M * K, alpha: 1 });
        const [yWant, dxWant, sumWant] = [await get(f0.y), await get(dx0!), await get(sum)];
        const y = rt.alloc('f32', [M, N]);
        const dx = rt.alloc('f32', [M, K]);
        const into = put(rt, [M, K], prior);
        // Warm the workspace, then count allocations over a second forward + backward.
        await layer.backward(await layer.forwardInto(x, y, { training: true }), dy, { dx });
        const alloc = rt.alloc.bind(rt);
        let allocations = 0;
        rt.alloc = (...args: Parameters<Runtime['alloc']>) => {
          allocations++;
          return alloc(...args);
        };
        try {
          const saved = await layer.forwardInto(x, y, { training: true });
          const { dx: got } = await layer.backward(saved, dy, { dx });
          expect(got).toBe(dx);
          expect(allocations).toBe(0);
        } finally {
          rt.alloc = alloc;
        }
        expect(sameBits(await get(y), yWant)).toBe(true);
        expect(sameBits(await get(dx), dxWant)).toBe(true);
        await layer.backward(await layer.forwardInto(x, y, { training: true }), dy, { dx: into, dxBeta: 1 });
        expect(sameBits(await get(into), sumWant)).toBe(true);
        // A wrong output tensor is refused before anything runs.
        await expect(layer.forwardInto(x, rt.alloc('f32', [M, N + 1]))).rejects.toThrow(/forward output/);
        await expect(layer.forwardInto(x, x)).rejects.toThrow(/forward output/);
        layer.free();
        rt.free(bias);
      });
    }

    it('runs the base alone when disabled, and evaluation ignores dropout', async () => {
      const { base } = await makeBase(rt, 'f32');
      const layer = new LoraLinear(base);
      await layer.addAdapter('default', { r: R, loraAlpha: 8, loraDropout: 0.5, init: false, seed: 2 });
      const x = put(rt, [M, K], data(M * K, 13));
      const alone = rt.alloc('f32', [M, N]);
      base.forward(x, alone, M);
      layer.disabled = true;
      expect(sameBits(await get((await layer.forward(x, { training: true })).y), await get(alone))).toBe(true);
      layer.disabled = false;
      const e1 = await get((await layer.forward(x)).y);
      const e2 = await get((await layer.forward(x)).y);
      expect(sameBits(e1, e2)).toBe(true);
      const t1 = await get((await layer.forward(x, { training: true })).y);
      const t2 = await get((await layer.forward(x, { training: true })).y);
      expect(sameBits(t1, t2)).toBe(false); // a fresh mask per training forward
      layer.free();
    });
  });
}
