/**
 * What bitsandbytes' own test expects of 4-bit quantization on randn(1024 x 1024)
 * (tests/test_functional.py::test_4bit_quant; docs/formats.md, "Expected error"):
 * the mean over 200 samples of mean |A - A'| (`abs`) and mean |A - A'| / (|A| + 1e-8) (`rel`),
 * and the asserted limits (mean + 7 sigma).
 */
export interface BnbErrorExpectation {
  readonly abs: number;
  readonly absLimit: number;
  readonly rel: number;
  readonly relLimit: number;
}

export const BNB_4BIT_ERRORS: Readonly<Record<'nf4' | 'fp4', Readonly<Record<number, BnbErrorExpectation>>>> = {
  nf4: {
    32: { abs: 0.067746, absLimit: 0.068229, rel: 0.189726, relLimit: 0.191854 },
    64: { abs: 0.072798, absLimit: 0.073316, rel: 0.203339, relLimit: 0.205719 },
    128: { abs: 0.076831, absLimit: 0.077468, rel: 0.215237, relLimit: 0.217974 },
    256: { abs: 0.080337, absLimit: 0.081051, rel: 0.226105, relLimit: 0.228891 },
    512: { abs: 0.083547, absLimit: 0.084548, rel: 0.236079, relLimit: 0.239887 },
    1024: { abs: 0.08661, absLimit: 0.087919, rel: 0.24537, relLimit: 0.24957 },
    2048: { abs: 0.089592, absLimit: 0.091349, rel: 0.254163, relLimit: 0.259392 },
    4096: { abs: 0.092547, absLimit: 0.095067, rel: 0.262473, relLimit: 0.269466 },
  },
  fp4: {
    32: { abs: 0.088925, absLimit: 0.089562, rel: 0.242443, relLimit: 0.244753 },
    64: { abs: 0.096543, absLimit: 0.09732, rel: 0.260125, relLimit: 0.262778 },
    128: { abs: 0.102969, absLimit: 0.103907, rel: 0.275817, relLimit: 0.278848 },
    256: { abs: 0.108684, absLimit: 0.109958, rel: 0.289831, relLimit: 0.29331 },
    512: { abs: 0.114115, absLimit: 0.115753, rel: 0.302881, relLimit: 0.306962 },
    1024: { abs: 0.119333, absLimit: 0.121573, rel: 0.315, relLimit: 0.320299 },
    2048: { abs: 0.124556, absLimit: 0.127741, rel: 0.326607, relLimit: 0.333292 },
    4096: { abs: 0.129536, absLimit: 0.13382, rel: 0.337169, relLimit: 0.345842 },
  },
};
