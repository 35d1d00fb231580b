/**
 * Seeded input generators. A case names a generator and its options (data), never an array, so
 * every runtime and every run sees the same inputs.
 */
import { randn, rng } from '@kvant/reference';
import { type AnyTypedArray, DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, FP4_CODE, FP4_THRESHOLDS, NF4_CODE, NF4_THRESHOLDS } from '@kvant/abi';

/** The exact midpoints between sorted FP4 magnitudes (x 12: 0.03125, 1.03125, 2.5, 3.5, 5, 7, 10). */
const FP4_EXACT_MIDPOINTS = [0.03125, 1.03125, 2.5, 3.5, 5, 7, 10].map((v) => Math.fround(v / 12));

export { randn, rng };

/** An input generator, as data. */
export type Gen =
  | { readonly gen: 'randn'; readonly std?: number }
  | { readonly gen: 'uniform'; readonly lo: number; readonly hi: number }
  /** randn with every `every`-th block of `blocksize` elements set to zero. */
  | { readonly gen: 'zero_blocks'; readonly blocksize: number; readonly every: number }
  /** A mixture of huge (1e30), tiny (1e-30), subnormal and ordinary magnitudes of both signs. */
  | { readonly gen: 'extremes' }
  /** randn with NaN, +Inf and -Inf sprinkled in (about 1 in 17 each). */
  | { readonly gen: 'nonfinite' }
  /** Values exactly on the NF4 decision thresholds (with a 1.0 per block so absmax is 1). */
  | { readonly gen: 'nf4_thresholds'; readonly blocksize: number }
  /**
   * Values exactly on the FP4 decision thresholds of bitsandbytes' CUDA tree and on the f32 nearest
   * the exact midpoints (which differ for some), both signs, with a 1.0 per block.
   */
  | { readonly gen: 'fp4_thresholds'; readonly blocksize: number }
  /** Uniform random bytes (codes), as u8. */
  | { readonly gen: 'bytes' }
  /** Random integers in [lo, hi] as i32. */
  | { readonly gen: 'ints'; readonly lo: number; readonly hi: number }
  /** Random 32-bit words. */
  | { readonly gen: 'words' }
  /** A fixed code table. */
  | { readonly gen: 'table'; readonly table: 'nf4' | 'fp4' | 'dynamic_signed' | 'dynamic_unsigned' };

const TABLES = { nf4: NF4_CODE, fp4: FP4_CODE, dynamic_signed: DYNAMIC_MAP_SIGNED, dynamic_unsigned: DYNAMIC_MAP_UNSIGNED };

/** Produce `n` elements of a generator's data with a seed. */
export function generate(g: Gen, n: number, seed: number): AnyTypedArray {
  const r = rng(seed ^ 0x9e3779b9);
  switch (g.gen) {
    case 'randn':
      return randn(n, seed, g.std ?? 1);
    case 'uniform':
      return Float32Array.from({ length: n }, () => g.lo + (g.hi - g.lo) * r());
    case 'zero_blocks': {
      const x = randn(n, seed);
      for (let b = 0; b * g.blocksize < n; b += g.every) x.fill(0, b * g.blocksize, Math.min(n, (b + 1) * g.blocksize));
      return x;
    }
    case 'extremes': {
      const mags = [1e30, 3e38, 1e-30, 1e-40, 1.5e-45, 1, 0.5, 7, 0];
      return Float32Array.from({ length: n }, () => mags[Math.floor(r() * mags.length)] * (r() < 0.5 ? -1 : 1) * (0.5 + r()));
    }
    case 'nonfinite': {
      const x = randn(n, seed);
      for (let i = 0; i < n; i++) {
        const u = r();
        if (u < 1 / 17) x[i] = Number.NaN;
        else if (u < 2 / 17) x[i] = Number.POSITIVE_INFINITY;
        else if (u < 3 / 17) x[i] = Number.NEGATIVE_INFINITY;
      }
      return x;
    }
    case 'nf4_thresholds': {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = i % g.blocksize === 0 ? 1 : NF4_THRESHOLDS[Math.floor(r() * NF4_THRESHOLDS.length)];
      return x;
    }
    case 'fp4_thresholds': {
      const x = new Float32Array(n);
      const pool = [...FP4_THRESHOLDS, ...FP4_EXACT_MIDPOINTS];
      for (let i = 0; i < n; i++) x[i] = i % g.blocksize === 0 ? 1 : pool[Math.floor(r() * pool.length)] * (r() < 0.5 ? -1 : 1);
      return x;
    }
    case 'bytes':
      return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    case 'ints':
      return Int32Array.from({ length: n }, () => g.lo + Math.floor(r() * (g.hi - g.lo + 1)));
    case 'words':
      return Uint32Array.from({ length: n }, () => Math.floor(r() * 2 ** 32));
    case 'table': {
      const t = TABLES[g.table];
      if (n > t.length) throw new Error(`table ${g.table} has ${t.length} values, ${n} requested`);
      return t.slice(0, n);
    }
  }
}
