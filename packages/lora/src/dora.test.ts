/**
 * DoRA against an independent host computation (PEFT's formula: base(x) + (k − 1)·W·x̃ + k·s·B·A·x̃,
 * k = m / ‖W + s·B·A‖ per output row, the norm detached) and finite differences for dm and dx (the
 * norm depends on A and B, so PEFT's detached dA, dB are not the derivative FD measures; they are
 * checked against the host formula instead).
 */
import type { Runtime } from '@kvant/abi';
import { quantize, type QuantizedFourBit } from '@kvant/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenseBase } from './dense-base';
import { FourBitBase } from './four-bit-base';
import { LoraLinear } from './layer';
import { data, get, hostDequantize, hostMatmul, put, relError, runtimesUnderTest, sameBits } from './test-support';

const [M, K, N, R] = [4, 16, 10, 2];
const runtimes = await runtimesUnderTest();

function rowNormsHost(w: ArrayLike<number>, n: number, k: number): Float64Array {
  return Float64Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let c = 0; c < k; c++) s += w[j * k + c] ** 2;
    return Math.sqrt(s);
  });
}

for (const { name, make } of runtimes) {
  describe(`DoRA on ${name}`, () => {
    let rt: Runtime;
    beforeAll(async () => {
      rt = await make();
    });
    afterAll(() => rt.dispose());

    for (const kind of ['f32', 'nf4+dq'] as const) {
      it(`forward and backward agree with PEFT's formula on the host (${kind} base, bias)`, async () => {
        const values = data(N * K, 21, 0.4);
        let w = values;
        let base: DenseBase | FourBitBase = DenseBase.fromValues(rt, values, [N, K]);
        if (kind !== 'f32') {
          const q = (await quantize(rt, values, [N, K], { quantType: 'nf4', blocksize: 32, doubleQuant: true })) as QuantizedFourBit;
          base = FourBitBase.fromQuantized(rt, q);
          w = hostDequantize(q);
        }
        const biasV = data(N, 22);
        const layer = new LoraLinear(base, { bias: put(rt, [N], biasV) });
        const a = await layer.addAdapter('default', { r: R, loraAlpha: 4, init: false, useDora: true, seed: 8 });
        const s = 2;
        const [A, B] = [await get(a.A), await get(a.B)];
        const wp = Float64Array.from(hostMatmul(B, A, N, K, R), (v, i) => w[i] + s * v);
        const norms = rowNormsHost(wp, N, K);
        // the magnitude starts at the row norms of W + s·B·A; move it so k ≠ 1
        expect(relError(await get(a.magnitude!), norms)).toBeLessThan(1e-6);
        const mag = Float32Array.from(norms, (v, j) => v * (1 + 0.2 * Math.sin(j + 1)));
        rt.write(a.magnitude!, mag);
        const kk = Float64Array.from(mag, (v, j) => v / norms[j]);
        const xv = data(M * K, 23);
        const x = put(rt, [M, K], xv);
        const { y, saved } = await layer.forward(x);
        const wx = hostMatmul(xv, w, M, N, K, false, true);
        const u = hostMatmul(xv, A, M, R, K, false, true);
        const bax = hostMatmul(u, B, M, N, R, false, true);
        const want = wx.map((v, i) => {
          const j = i % N;
          return v + biasV[j] + (kk[j] - 1) * v + kk[j] * s * bax[i];
        });
        expect(relError(await get(y), want)).toBeLessThan(2e-6);

        const dyv = data(M * N, 24);
        const { dx } = await layer.backward(saved, put(rt, [M, N], dyv));
        const g = a.grads();
        const dB = hostMatmul(dyv, u, N, R, M, true).map((v, i) => s * kk[Math.floor(i / R)] * v);
        const bk = Float64Array.from(B, (v, i) => kk[Math.floor(i / R)] * v);
        const gu = hostMatmul(dyv, bk, M, R, N).map((v) => s * v);
        const dA = hostMatmul(gu, xv, R, K, M, true);
        const wpx = hostMatmul(xv, wp, M, N, K, false, true);
        const dm = Float64Array.from({ length: N }, (_, j) => {
          let t = 0;
          for (let i = 0; i < M; i++) t += dyv[i * N + j] * wpx[i * N + j];
          return t / norms[j];
        });
        const d = Float64Array.from(wp, (v, i) => kk[Math.floor(i / K)] * v - w[i]);
        const dxWant = hostMatmul(dyv, w, M, K, N).map((v, i) => v + hostMatmul(dyv, d, M, K, N)[i]);
        expect(relError(await get(g.B), dB)).toBeLessThan(1e-5);
        expect(relError(await get(g.A), dA)).toBeLessThan(1e-5);
        expect(relError(await get(g.magnitude!), dm)).toBeLessThan(1e-5);
        expect(relError(await get(dx!), dxWant)).toBeLessThan(1e-5);
        layer.free();
      });
    }

    it('dm and dx match central finite differences; a fresh DoRA adapter is bit-identical to the base', async () => {
      const base = DenseBase.fromValues(rt, data(N * K, 31, 0.3), [N, K]);
      const layer = new LoraLinear(base);
      const x = put(rt, [M, K], data(M * K, 32));
      const alone = rt.alloc('f32', [M, N]);
      base.forward(x, alone, M);
      const fresh = await layer.addAdapter('fresh', { r: R, loraAlpha: 8, useDora: true, seed: 1 });
      expect(sameBits(await get((await layer.forward(x)).y), await get(alone))).toBe(true);
      layer.deleteAdapter(fresh.name);
      const a = await layer.addAdapter('default', { r: R, loraAlpha: 8, useDora: true, init: false, seed: 4, loraDropout: 0.3 });
      const mag = (await get(a.magnitude!)).map((v, j) => v * (1 + 0.1 * Math.cos(j)));
      rt.write(a.magnitude!, mag);
      const G = data(M * N, 33);
      const xv = await get(x);
      const run = async (grads: boolean) => {
        const { y, saved } = await layer.forward(x, { training: true, dropoutOffset: 5 });
        const yv = await get(y);
        const r = await layer.backward(saved, put(rt, [M, N], G), { inputGradient: grads });
        return { loss: yv.reduce((q, v, i) => q + v * G[i], 0), dx: r.dx };
      };
      const { dx } = await run(true);
      const dm = await get(a.grads().magnitude!);
      const dxv = await get(dx!);
      const h = 1e-2;
      for (const j of [0, 4, N - 1]) {
        const orig = mag[j];
        mag[j] = orig + h;
        rt.write(a.magnitude!, mag);
        const lp = (await run(false)).loss;
        mag[j] = orig - h;
        rt.write(a.magnitude!, mag);
        const lm = (await run(false)).loss;
        mag[j] = orig;
        rt.write(a.magnitude!, mag);
        expect(Math.abs((lp - lm) / (2 * h) - dm[j])).toBeLessThan(2e-3 * Math.max(1, Math.abs(dm[j])));
      }
      for (const i of [0, 7, M * K - 1]) {
        const orig = xv[i];
        xv[i] = orig + h;
        rt.write(x, xv);
        const lp = (await run(false)).loss;
        xv[i] = orig - h;
        rt.write(x, xv);
        const lm = (await run(false)).loss;
        xv[i] = orig;
        rt.write(x, xv);
        expect(Math.abs((lp - lm) / (2 * h) - dxv[i])).toBeLessThan(2e-3 * Math.max(1, Math.abs(dxv[i])));
      }
      layer.free();
    });
  });
}
