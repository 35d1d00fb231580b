/**
 * The "done when" of the quantizer: on randn(1024 x 1024), NF4 and FP4 at every blocksize stay
 * within the limits bitsandbytes' own test_4bit_quant asserts (mean + 7 sigma over 200 samples,
 * shared/reference/bitsandbytes-formats.md §6.1), on the default runtime.
 */
import { randn } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { describe, expect, it } from 'vitest';
import { dequantize, quantize } from './quantize';
import { errorStats } from './stats';

/** blocksize -> [NF4 err limit, NF4 relerr limit, FP4 err limit, FP4 relerr limit] */
const LIMITS: Record<number, [number, number, number, number]> = {
  32: [0.068229, 0.191854, 0.089562, 0.244753],
  64: [0.073316, 0.205719, 0.09732, 0.262778],
  128: [0.077468, 0.217974, 0.103907, 0.278848],
  256: [0.081051, 0.228891, 0.109958, 0.29331],
  512: [0.084548, 0.239887, 0.115753, 0.306962],
  1024: [0.087919, 0.24957, 0.121573, 0.320299],
  2048: [0.091349, 0.259392, 0.127741, 0.333292],
  4096: [0.095067, 0.269466, 0.13382, 0.345842],
};

describe('error on randn(1024x1024) within bitsandbytes limits', () => {
  const x = randn(1024 * 1024, 20261128);
  for (const [bs, [nf4Err, nf4Rel, fp4Err, fp4Rel]] of Object.entries(LIMITS)) {
    it(`blocksize ${bs}`, async () => {
      const rt = await createRuntime('wasm');
      try {
        for (const [quantType, errLimit, relLimit] of [
          ['nf4', nf4Err, nf4Rel],
          ['fp4', fp4Err, fp4Rel],
        ] as const) {
          const q = await quantize(rt, x, [1024, 1024], { quantType, blocksize: Number(bs) });
          const e = errorStats(x, await dequantize(rt, q));
          expect(e.meanAbsError, `${quantType} err`).toBeLessThan(errLimit);
          expect(e.meanRelError, `${quantType} relerr`).toBeLessThan(relLimit);
          // and not suspiciously small: bitsandbytes' means sit 0.7-3% under these limits
          expect(e.meanAbsError, `${quantType} err`).toBeGreaterThan(errLimit * 0.95);
        }
      } finally {
        rt.dispose();
      }
    });
  }
});
