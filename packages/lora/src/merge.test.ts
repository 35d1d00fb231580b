/**
 * Merging written once against BaseWeight: a dense merge gives the unmerged output and unmerge
 * restores W within the rounding of one add and one subtract; a 4-bit merge re-quantizes and warns
 * with the numbers; mergedDenseCopy (the export path) is deq(W) + s·B·A; DoRA merges as PEFT does.
 */
import type { Runtime } from '@kvant/abi';
import { quantize, type QuantizedFourBit } from '@kvant/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenseBase } from './dense-base';
import { FourBitBase } from './four-bit-base';
import { LoraLinear } from './layer';
import { mergedDenseCopy, mergeLayer, unmergeLayer } from './merge';
import { data, get, hostDequantize, hostMatmul, put, relError, runtimesUnderTest } from './test-support';

const [M, K, N, R] = [3, 64, 16, 4];
const runtimes = await runtimesUnderTest();

for (const { name, make } of runtimes) {
  describe(`merging on ${name}`, () => {
    let rt: Runtime;
    beforeAll(async () => {
      rt = await make();
    });
    afterAll(() => rt.dispose());

    for (const useDora of [false, true]) {
      it(`dense base${useDora ? ', DoRA' : ''}: merged output = adapter output; unmerge restores W within rounding`, async () => {
        const w = data(N * K, 41, 0.2);
        const base = DenseBase.fromValues(rt, w, [N, K]);
        const layer = new LoraLinear(base, { name: 'o_proj' });
        const a = await layer.addAdapter('default', { r: R, loraAlpha: 16, init: false, seed: 3, useDora });
        if (useDora) rt.write(a.magnitude!, (await get(a.magnitude!)).map((v, j) => v * (1 + 0.05 * j)));
        const x = put(rt, [M, K], data(M * K, 42));
        const before = await get((await layer.forward(x)).y);
        const warnings: string[] = [];
        const [report] = await mergeLayer(layer, undefined, { onWarning: (s) => warnings.push(s) });
        expect(report.maxAbsError).toBe(0);
        expect(warnings).toEqual([]);
        expect(layer.merged.map((m) => m.name)).toEqual(['default']);
        const merged = await get((await layer.forward(x)).y); // the base alone, now holding W'
        expect(relError(merged, before)).toBeLessThan(2e-6);
        await unmergeLayer(layer);
        const back = await get(base.weight);
        const delta = hostMatmul(await get(a.B), await get(a.A), N, K, R).map((v) => 4 * v);
        for (let i = 0; i < w.length; i++) {
          // one rounding when adding, one when subtracting (DoRA adds a scale and its inverse: a few more)
          const bound = (useDora ? 8 : 1) * 2 ** -23 * (Math.abs(w[i]) + 2 * Math.abs(delta[i]));
          expect(Math.abs(back[i] - w[i]), `element ${i}`).toBeLessThanOrEqual(bound);
        }
        layer.free();
      });
    }

    for (const doubleQuant of [false, true]) {
      it(`4-bit base${doubleQuant ? ' (double quant)' : ''}: merge re-quantizes and warns how far the weight moved; mergedDenseCopy is exact`, async () => {
        const values = data(N * K, 51, 0.2);
        const q = (await quantize(rt, values, [N, K], { quantType: 'nf4', blocksize: 64, doubleQuant })) as QuantizedFourBit;
        const deq = hostDequantize(q);
        const base = FourBitBase.fromQuantized(rt, q);
        const layer = new LoraLinear(base, { name: 'down_proj' });
        const a = await layer.addAdapter('default', { r: R, loraAlpha: 8, init: false, seed: 5 });
        const delta = hostMatmul(await get(a.B), await get(a.A), N, K, R).map((v) => 2 * v);
        const wanted = deq.map((v, i) => v + delta[i]);
        const copy = await mergedDenseCopy(layer);
        expect(relError(await get(copy.weight), wanted)).toBeLessThan(1e-6);
        copy.free();
        const warnings: string[] = [];
        const [report] = await mergeLayer(layer, ['default'], { onWarning: (s) => warnings.push(s) });
        expect(report.maxAbsError).toBeGreaterThan(0);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/4-bit base of down_proj \(nf4 \[16, 64\] blocksize 64.*\) re-quantized the weight: it differs from W \+ s·B·A by up to \d/);
        // the report is the distance of the stored weight from W + ΔW
        const storedNow = await base.toQuantized();
        const stored = hostDequantize(storedNow);
        let maxErr = 0;
        for (let i = 0; i < stored.length; i++) maxErr = Math.max(maxErr, Math.abs(stored[i] - wanted[i]));
        expect(report.maxAbsError).toBeCloseTo(maxErr, 6);
        // a 4-bit step per block bounds it: absmax · (largest NF4 gap / 2)
        expect(report.relMaxError).toBeLessThan(0.2);
        const unreports = await unmergeLayer(layer, { onWarning: (s) => warnings.push(s) });
        expect(unreports[0].direction).toBe('unmerge');
        expect(warnings).toHaveLength(2);
        layer.free();
      });
    }
  });
}
