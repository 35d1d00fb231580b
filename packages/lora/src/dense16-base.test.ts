/**
 * Dense16Base (a bf16/f16 base through linalg.matmul_16bit): a LoRA layer over it — forward with
 * dropout, backward, DoRA — gives the same bits as the layer over an f32 DenseBase holding the
 * widened values; W takes half the bytes; dequantizeInto is the exact widening; a merge rounds to
 * the format and says so, as a 4-bit merge does. On reference and wasm.
 */
import { bf16BitsToF32, f16BitsToF32, type HalfFormat, type Runtime, TensorError } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaseWeight } from './base';
import { DenseBase } from './dense-base';
import { Dense16Base, roundTo } from './dense16-base';
import { LoraLinear } from './layer';
import { mergeLayer, unmergeLayer } from './merge';
import { data, get, put, runtimesUnderTest, sameBits } from './test-support';

const [M, K, N, R] = [7, 37, 13, 4]; // N·K = 481 is odd: the last word holds one half
const FORMATS: readonly HalfFormat[] = ['bf16', 'f16'];
const runtimes = (await runtimesUnderTest()).filter((r) => r.name === 'reference' || r.name === 'wasm');

const widen = (bits: Uint16Array, format: HalfFormat) => Float32Array.from(bits, format === 'bf16' ? bf16BitsToF32 : f16BitsToF32);

/** y, dx, dA, dB of one training step of a layer over `base` (dropout 0.2, fixed offset). */
async function step(rt: Runtime, base: BaseWeight, useDora: boolean) {
  const layer = new LoraLinear(base, { name: 'q_proj' });
  const a = await layer.addAdapter('default', { r: R, loraAlpha: 8, loraDropout: 0.2, init: false, seed: 5, useDora });
  const x = put(rt, [M, K], data(M * K, 2));
  const dy = put(rt, [M, N], data(M * N, 3));
  const { y, saved } = await layer.forward(x, { training: true, dropoutOffset: 3 });
  const { dx } = await layer.backward(saved, dy);
  const g = a.grads();
  const out = { y: await get(y), dx: await get(dx!), dA: await get(g.A), dB: await get(g.B) };
  rt.free(x);
  rt.free(dy);
  layer.free();
  return out;
}

for (const { name, make } of runtimes) {
  describe(`Dense16Base on ${name}`, () => {
    let rt: Runtime;
    beforeAll(async () => {
      rt = await make();
    });
    afterAll(() => rt.dispose());

    for (const format of FORMATS) {
      for (const useDora of [false, true]) {
        it(`a LoRA${useDora ? ' (DoRA)' : ''} layer over a ${format} base equals the layer over the f32 base of the same values, bit for bit`, async () => {
          const values = data(N * K, 1, 0.5);
          values[5] = format === 'f16' ? 3e-6 : 1e-39; // a subnormal of the format
          const bits = roundTo(values, format);
          const got = await step(rt, Dense16Base.fromBits(rt, bits, [N, K], format), useDora);
          const want = await step(rt, DenseBase.fromValues(rt, widen(bits, format), [N, K]), useDora);
          for (const key of ['y', 'dx', 'dA', 'dB'] as const) expect(sameBits(got[key], want[key]), key).toBe(true);
        });
      }

      it(`holds half the bytes of f32 and widens exactly (${format})`, async () => {
        const values = data(N * K, 4);
        const b16 = Dense16Base.fromValues(rt, values, [N, K], format);
        const f32 = DenseBase.fromValues(rt, values, [N, K]);
        expect(b16.byteLength).toBe(2 * Math.ceil((N * K) / 2) * 2);
        expect(f32.byteLength).toBe(4 * N * K);
        expect(b16.storage).toBe(format);
        expect(b16.describe()).toBe(`${format} [${N}, ${K}]`);
        const out = rt.alloc('f32', [N, K]);
        b16.dequantizeInto(out);
        expect(sameBits(await get(out), widen(roundTo(values, format), format))).toBe(true);
        expect(await b16.toBits()).toEqual(roundTo(values, format));
        rt.free(out);
        b16.free();
        f32.free();
      });

      it(`merging into a ${format} base rounds to ${format} and reports it; unmerge rounds again`, async () => {
        const values = data(N * K, 6, 0.5);
        const layer = new LoraLinear(Dense16Base.fromValues(rt, values, [N, K], format), { name: 'v_proj' });
        await layer.addAdapter('default', { r: R, loraAlpha: 8, init: false, seed: 9 });
        const warnings: string[] = [];
        const [merged] = await mergeLayer(layer, undefined, { onWarning: (s) => warnings.push(s) });
        // One rounding to the format: at most half an ulp of the format, relative to max |W + ΔW|.
        const halfUlp = format === 'bf16' ? 2 ** -8 : 2 ** -11;
        expect(merged.maxAbsError).toBeGreaterThan(0);
        expect(merged.relMaxError).toBeLessThanOrEqual(halfUlp);
        expect(merged.base).toBe(`${format} [${N}, ${K}]`);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain(`the ${format} base of v_proj`);
        expect(warnings[0]).toContain(`rounded the weight to ${format}`);
        const [back] = await unmergeLayer(layer, { onWarning: () => {} });
        expect(back.relMaxError).toBeLessThanOrEqual(halfUlp);
        const w = rt.alloc('f32', [N, K]);
        layer.base.dequantizeInto(w);
        const restored = await get(w);
        const original = widen(roundTo(values, format), format);
        // W + ΔW − ΔW, rounded twice: within a few ulps of the format of the largest |W + ΔW|.
        const maxW = original.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let i = 0; i < original.length; i++) expect(Math.abs(restored[i] - original[i])).toBeLessThanOrEqual(8 * halfUlp * maxW);
        rt.free(w);
        layer.free();
      });
    }

    it('refuses a wrong count, shape or format with a TensorError naming them', () => {
      expect(() => Dense16Base.fromBits(rt, new Uint16Array(5), [2, 3], 'bf16')).toThrow(TensorError);
      expect(() => Dense16Base.fromBits(rt, new Uint16Array(6), [2, 3], 'bf16')).not.toThrow();
      expect(() => Dense16Base.fromValues(rt, new Float32Array(0), [0, 3], 'f16')).toThrow(/both positive/);
      expect(() => Dense16Base.fromValues(rt, new Float32Array(6), [2, 3], 'f8' as HalfFormat)).toThrow(/bf16 or f16/);
    });
  });
}
