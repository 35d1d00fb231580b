/**
 * Held-out split and seeded order. The split is made on records, before preparation, so an
 * evaluation example is never packed with a training one. Permutations use xoshiro128** (the
 * example model's generator) with a Fisher-Yates shuffle: the same seed gives the same split and the
 * same order on every machine (they are not the permutations of numpy or torch).
 */
import { Xoshiro128 } from '@kvant/formats';
import { DataConfigError } from './errors';

/** A seeded permutation of 0..n-1 (Fisher-Yates). `stream` separates uses of one seed (split, each epoch). */
export function seededPermutation(n: number, seed: number, stream = 0): number[] {
  const rng = new Xoshiro128((seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Split items into train and eval: eval takes ceil(fraction * n) items (as `datasets`'
 * train_test_split sizes its test split) chosen by a seeded permutation; both keep file order.
 */
export function splitByFraction<T>(items: readonly T[], fraction: number, seed: number): { train: T[]; eval: T[] } {
  if (!(fraction > 0 && fraction < 1)) throw new DataConfigError('eval_fraction', 'a number between 0 and 1 (exclusive)', String(fraction));
  const nEval = Math.ceil(fraction * items.length);
  if (nEval >= items.length) {
    throw new DataConfigError('eval_fraction', `a fraction that leaves training data (${items.length} record(s))`, `${fraction}: ${nEval} for eval, none for training`);
  }
  const evalSet = new Set(seededPermutation(items.length, seed, 0x5eed).slice(0, nEval));
  return { train: items.filter((_, i) => !evalSet.has(i)), eval: items.filter((_, i) => evalSet.has(i)) };
}
