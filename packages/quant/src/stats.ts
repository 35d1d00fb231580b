/** Error statistics of a quantization: how far the dequantized values are from the originals. */
export interface ErrorStats {
  /** Elements compared (non-finite originals are excluded). */
  readonly count: number;
  /** mean |x - x'| */
  readonly meanAbsError: number;
  /** mean |x - x'| / (|x| + 1e-8), as in bitsandbytes' tests */
  readonly meanRelError: number;
  /** max |x - x'| */
  readonly maxAbsError: number;
  /** 10 log10(sum x^2 / sum (x - x')^2), in dB (Infinity when exact) */
  readonly snrDb: number;
  /** sum x^2 and sum (x - x')^2, kept so stats of parts merge exactly */
  readonly signalEnergy: number;
  readonly noiseEnergy: number;
}

function snr(signal: number, noise: number): number {
  return noise === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
}

/** Compare originals with their dequantized values. */
export function errorStats(original: Float32Array, restored: Float32Array): ErrorStats {
  let count = 0;
  let abs = 0;
  let rel = 0;
  let max = 0;
  let signal = 0;
  let noise = 0;
  const n = Math.min(original.length, restored.length);
  for (let i = 0; i < n; i++) {
    const x = original[i];
    if (!Number.isFinite(x)) continue;
    const e = Math.abs(x - restored[i]);
    count++;
    abs += e;
    rel += e / (Math.abs(x) + 1e-8);
    if (e > max) max = e;
    signal += x * x;
    noise += e * e;
  }
  return {
    count,
    meanAbsError: count ? abs / count : 0,
    meanRelError: count ? rel / count : 0,
    maxAbsError: max,
    snrDb: snr(signal, noise),
    signalEnergy: signal,
    noiseEnergy: noise,
  };
}

/** Combine stats of parts (weighted by count) into stats of the whole. */
export function mergeErrorStats(parts: readonly ErrorStats[]): ErrorStats {
  const count = parts.reduce((a, p) => a + p.count, 0);
  const signal = parts.reduce((a, p) => a + p.signalEnergy, 0);
  const noise = parts.reduce((a, p) => a + p.noiseEnergy, 0);
  return {
    count,
    meanAbsError: count ? parts.reduce((a, p) => a + p.meanAbsError * p.count, 0) / count : 0,
    meanRelError: count ? parts.reduce((a, p) => a + p.meanRelError * p.count, 0) / count : 0,
    maxAbsError: parts.reduce((a, p) => Math.max(a, p.maxAbsError), 0),
    snrDb: snr(signal, noise),
    signalEnergy: signal,
    noiseEnergy: noise,
  };
}
