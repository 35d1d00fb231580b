/**
 * Every wasm kernel against the reference runtime: same inputs, byte-identical outputs (codes,
 * absmax and dequantized values alike), nothing written past the outputs, inputs untouched.
 * Sizes are awkward on purpose: 1, 7, 63, primes, tails that are not a multiple of the block.
 */
import {
  type AnyTypedArray,
  DYNAMIC_MAP_SIGNED,
  DYNAMIC_MAP_UNSIGNED,
  FP4_CODE,
  FP4_THRESHOLDS,
  getKernel,
  NF4_CODE,
  NF4_THRESHOLDS,
  type Params,
} from '@kvant/abi';
// @kvant/reference is not a dependency of this package (the lead owns package.json deps), so the
// oracle is imported by path.
import { ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmRuntime, type WasmRuntime } from './index';
import { firstDifference, GUARD_ELEMENTS, guardStart, randn, randomBytes, rng, runKernel, SENTINEL } from './test-support';

let wasm: WasmRuntime;
const ref = new ReferenceRuntime();

beforeAll(async () => {
  wasm = await createWasmRuntime();
});
afterAll(() => {
  wasm.dispose();
});

/** Run on both runtimes and require every binding's bytes to be equal, and the guards intact. */
async function expectSameAsReference(kernelId: string, params: Params, inputs: Record<string, AnyTypedArray>): Promise<void> {
  const got = await runKernel(wasm, kernelId, params, inputs);
  const want = await runKernel(ref, kernelId, params, inputs);
  const spec = getKernel(kernelId);
  const where = `${kernelId} ${JSON.stringify(params)}`;
  for (const b of spec.bindings) {
    const diff = firstDifference(got.bytes[b.name], want.bytes[b.name]);
    expect(diff, `${where}: binding ${b.name}`).toBeUndefined();
    if (b.access !== 'read') {
      const guard = got.bytes[b.name].subarray(guardStart(kernelId, b.name, params));
      expect(guard.length).toBeGreaterThanOrEqual(GUARD_ELEMENTS);
      expect(guard.every((x) => x === SENTINEL), `${where}: ${b.name} written past its end`).toBe(true);
    }
  }
  expect(wasm.bytesInUse, 'tensors leaked').toBe(0);
}

const SIZES = [1, 2, 7, 31, 63, 64, 65, 127, 4097, 10007];

/** f32 values with every awkward kind mixed in (by index pattern). */
function awkward(n: number, seed: number): Float32Array {
  const x = randn(n, seed);
  const u = rng(seed + 1);
  for (let i = 0; i < n; i++) {
    const r = u();
    if (r < 0.01) x[i] = Number.NaN;
    else if (r < 0.015) x[i] = Number.POSITIVE_INFINITY;
    else if (r < 0.02) x[i] = Number.NEGATIVE_INFINITY;
    else if (r < 0.03) x[i] = 0;
    else if (r < 0.035) x[i] = -0;
  }
  return x;
}

/** Inputs for the blockwise quantizers: several flavours per size. */
function quantInputs(n: number, blocksize: number, seed: number): Float32Array[] {
  const plain = randn(n, seed);
  const huge = randn(n, seed + 1, 1e30);
  const tiny = randn(n, seed + 2, 1e-40); // subnormal f32
  const mixed = awkward(n, seed + 3);
  const zeroBlocks = randn(n, seed + 4);
  for (let start = 0; start < n; start += 2 * blocksize) zeroBlocks.fill(0, start, Math.min(n, start + blocksize));
  const allNaN = new Float32Array(n).fill(Number.NaN);
  return [plain, huge, tiny, mixed, zeroBlocks, allNaN];
}

describe('mem.copy', () => {
  it.each([1, 2, 7, 63, 4097, 100003])('words = %i', async (words) => {
    await expectSameAsReference('mem.copy', { words }, { src: new Uint32Array(randomBytes(words * 4, words).buffer) });
  });
});

describe.each(['quant.nf4_quantize', 'quant.fp4_quantize'])('%s', (kernelId) => {
  it.each(SIZES)('n = %i over blocksizes and value kinds', async (n) => {
    for (const blocksize of [32, 64, 128, 4096]) {
      for (const x of quantInputs(n, blocksize, n * 7 + blocksize)) {
        await expectSameAsReference(kernelId, { n, blocksize }, { x });
      }
    }
  });

  it('sends a value exactly on a decision threshold to the lower code', async () => {
    // absmax = 1, so s = x exactly; each threshold (and its negation) sits on a midpoint.
    const thresholds = kernelId === 'quant.nf4_quantize' ? Array.from(NF4_THRESHOLDS) : Array.from(FP4_THRESHOLDS).flatMap((t) => [t, -t]);
    const x = Float32Array.from([1, ...thresholds, ...thresholds.map((t) => Math.fround(t + 2 ** -24))]);
    await expectSameAsReference(kernelId, { n: x.length, blocksize: 64 }, { x });
  });
});

describe('quant.dequantize_4bit', () => {
  it.each(SIZES)('n = %i', async (n) => {
    for (const blocksize of [32, 64, 4096]) {
      const blocks = Math.ceil(n / blocksize);
      const absmax = randn(blocks, n + 1, 3).map(Math.abs);
      if (blocks > 2) {
        absmax[1] = 0;
        absmax[2] = Number.POSITIVE_INFINITY;
      }
      for (const code of [NF4_CODE, FP4_CODE, randn(16, n + 2)]) {
        await expectSameAsReference('quant.dequantize_4bit', { n, blocksize }, { packed: randomBytes(Math.ceil(n / 2), n), absmax, code });
      }
    }
  });

  it('a NaN absmax and a NaN code entry give NaN like the reference', async () => {
    const n = 96;
    const code = Float32Array.from(NF4_CODE);
    code[3] = Number.NaN;
    await expectSameAsReference('quant.dequantize_4bit', { n, blocksize: 32 }, {
      packed: randomBytes(48, 5),
      absmax: Float32Array.from([1, Number.NaN, 1e-38]),
      code,
    });
  });
});

describe('quant.dequantize_4bit_dq', () => {
  it.each(SIZES)('n = %i', async (n) => {
    for (const [blocksize, nested] of [
      [32, 64],
      [64, 256],
      [4096, 256],
    ]) {
      const blocks = Math.ceil(n / blocksize);
      await expectSameAsReference(
        'quant.dequantize_4bit_dq',
        { n, blocksize, nested_blocksize: nested, offset: Math.fround(0.0371) },
        {
          packed: randomBytes(Math.ceil(n / 2), n + 3),
          qabsmax: randomBytes(blocks, n + 4),
          nested_absmax: randn(Math.ceil(blocks / nested), n + 5).map(Math.abs),
          nested_code: DYNAMIC_MAP_SIGNED,
          code: NF4_CODE,
        },
      );
    }
  });
});

describe('quant.blockwise8_quantize', () => {
  it.each(SIZES)('n = %i', async (n) => {
    for (const blocksize of [64, 256, 4096]) {
      for (const [code, offset] of [
        [DYNAMIC_MAP_SIGNED, 0],
        [DYNAMIC_MAP_SIGNED, Math.fround(0.37)],
        [DYNAMIC_MAP_UNSIGNED, 0],
      ] as const) {
        for (const x of quantInputs(n, blocksize, n + blocksize)) {
          const input = code === DYNAMIC_MAP_UNSIGNED ? x.map(Math.abs) : x;
          await expectSameAsReference('quant.blockwise8_quantize', { n, blocksize, offset }, { x: input, code });
        }
      }
    }
  });

  it('midpoints go to the lower code, and an unsorted code gives the same search result', async () => {
    const code = DYNAMIC_MAP_SIGNED;
    const mids = Array.from({ length: 255 }, (_, i) => Math.fround(Math.fround(code[i] + code[i + 1]) * 0.5));
    const x = Float32Array.from([1, ...mids]);
    await expectSameAsReference('quant.blockwise8_quantize', { n: x.length, blocksize: 256, offset: 0 }, { x, code });
    await expectSameAsReference('quant.blockwise8_quantize', { n: 300, blocksize: 64, offset: 0 }, { x: randn(300, 9), code: randn(256, 10) });
  });
});

describe('quant.blockwise8_dequantize', () => {
  it.each(SIZES)('n = %i', async (n) => {
    for (const blocksize of [64, 4096]) {
      for (const offset of [0, Math.fround(-1.25)]) {
        await expectSameAsReference(
          'quant.blockwise8_dequantize',
          { n, blocksize, offset },
          { q: randomBytes(n, n), absmax: randn(Math.ceil(n / blocksize), n + 1).map(Math.abs), code: DYNAMIC_MAP_SIGNED },
        );
      }
    }
  });
});

describe('quant.linear_quantize', () => {
  it.each(SIZES)('n = %i over bits, groups, symmetric and asymmetric', async (n) => {
    for (const bits of [2, 4, 8]) {
      for (const symmetric of [0, 1]) {
        for (const group of [1, 7, 32, 100, n]) {
          for (const x of [randn(n, n + bits), awkward(n, n + bits + 1), randn(n, n + 2, 1e30).map(Math.abs), new Float32Array(n)]) {
            await expectSameAsReference('quant.linear_quantize', { n, group, bits, symmetric }, { x });
          }
        }
      }
    }
  });

  it('rounds halves to even and handles a scale that overflows to Inf', async () => {
    // symmetric 8-bit with amax 127: scale = 1, so x = k + 0.5 is an exact tie.
    const halves = Float32Array.from([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 126.5, -126.5]);
    for (const bits of [3, 5, 8]) await expectSameAsReference('quant.linear_quantize', { n: halves.length, group: halves.length, bits, symmetric: 1 }, { x: halves });
    const overflow = Float32Array.from([3e38, -3e38, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1, -1]);
    for (const symmetric of [0, 1]) {
      await expectSameAsReference('quant.linear_quantize', { n: overflow.length, group: 7, bits: 8, symmetric }, { x: overflow });
    }
  });
});

describe('quant.linear_dequantize', () => {
  it.each(SIZES)('n = %i', async (n) => {
    for (const symmetric of [0, 1]) {
      for (const group of [1, 7, 64, n]) {
        const groups = Math.ceil(n / group);
        const zero = Int32Array.from({ length: groups }, (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 17 : 2 ** 30 + 1));
        await expectSameAsReference('quant.linear_dequantize', { n, group, bits: 8, symmetric }, {
          codes: randomBytes(n, n),
          scale: randn(groups, n + 1).map((v) => Math.abs(v) * 1e-3),
          zero,
        });
      }
    }
  });
});
