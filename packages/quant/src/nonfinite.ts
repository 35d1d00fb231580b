/**
 * Non-finite weights never pass silently. The 4-bit quantizers have no code for NaN or Inf (NaN
 * would become the most negative level, and an Inf absmax turns its whole block into NaN), so
 * `kvant quantize` refuses them by default, and with `--allow-nonfinite` maps them first:
 * NaN -> 0, +Inf -> +M, -Inf -> -M, where M is the largest finite |value| of the tensor (0 if none).
 */
import { NonFiniteError } from '@kvant/abi';

/** Where the non-finite values of an array are. */
export interface NonFiniteCount {
  /** Number of NaN and ±Inf elements. */
  readonly count: number;
  /** Index of the first one (-1 when none). */
  readonly firstIndex: number;
  /** Its value (NaN, Infinity or -Infinity). */
  readonly firstValue: number;
}

/** Count the NaN and ±Inf elements of `data`. */
export function countNonFinite(data: Float32Array): NonFiniteCount {
  let count = 0;
  let firstIndex = -1;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      if (firstIndex < 0) firstIndex = i;
      count++;
    }
  }
  return { count, firstIndex, firstValue: firstIndex < 0 ? 0 : data[firstIndex] };
}

/** A weight holds NaN or Inf: names the tensor, the first index and the count. */
export class NonFiniteWeightError extends NonFiniteError {
  constructor(
    where: string,
    readonly found: NonFiniteCount,
  ) {
    super(`${where} (${found.count} non-finite element${found.count === 1 ? '' : 's'}; --allow-nonfinite maps NaN to 0 and ±Inf to ±max|finite|)`, found.firstIndex, found.firstValue);
  }
}

/** Replace NaN with 0 and ±Inf with ±(largest finite |value|), in place; returns how many were replaced. */
export function replaceNonFinite(data: Float32Array): number {
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (Number.isFinite(a) && a > max) max = a;
  }
  let replaced = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isFinite(v)) continue;
    data[i] = Number.isNaN(v) ? 0 : v > 0 ? max : -max;
    replaced++;
  }
  return replaced;
}
