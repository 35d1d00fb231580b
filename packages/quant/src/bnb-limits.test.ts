/**
 * The "done when" of the quantizer: on randn(1024 x 1024), NF4 and FP4 at every blocksize stay
 * within the limits bitsandbytes' own test_4bit_quant asserts (mean + 7 sigma over 200 samples,
 * docs/formats.md, "Expected error"), on the default runtime.
 */
import { randn } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { describe, expect, it } from 'vitest';
import { BNB_4BIT_ERRORS } from './bnb-expected';
import { dequantize, quantize } from './quantize';
import { errorStats } from './stats';

describe('error on randn(1024x1024) within bitsandbytes limits', () => {
  const x = randn(1024 * 1024, 20261128);
  for (const bs of Object.keys(BNB_4BIT_ERRORS.nf4)) {
    it(`blocksize ${bs}`, async () => {
      const rt = await createRuntime('wasm');
      try {
        for (const quantType of ['nf4', 'fp4'] as const) {
          const { absLimit: errLimit, relLimit } = BNB_4BIT_ERRORS[quantType][Number(bs)];
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
