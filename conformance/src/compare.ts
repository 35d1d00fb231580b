/**
 * Output comparison under a spec's tolerance. Returns counts, not booleans, so a report can say
 * how far off a runtime is and how many ambiguous elements moved.
 */
import { type DType, type Tolerance, viewAs } from '@kvant/abi';

export interface Comparison {
  /** Elements compared. */
  readonly elements: number;
  /** Elements outside tolerance (ambiguous elements that moved by one code are not counted). */
  readonly mismatches: number;
  /** Ambiguous elements (within eps of a threshold) that differ by one code. */
  readonly ambiguousDiffs: number;
  /** Largest |got - want| (floats) or code distance (codes). */
  readonly maxError: number;
  /** First mismatching element, for the report. */
  readonly first?: { readonly index: number; readonly got: number; readonly want: number };
}

function codesOf(bytes: Uint8Array, dtype: DType, count: number, packing: 'byte' | 'nibble'): ArrayLike<number> {
  if (packing === 'nibble') {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = i & 1 ? bytes[i >> 1] & 15 : bytes[i >> 1] >> 4;
    return out;
  }
  return viewAs(dtype, bytes, count);
}

/**
 * Compare `got` with `want` (both raw bytes of `count` elements of `dtype`). `ambiguous` marks
 * elements that may differ by one code when `allowAmbiguous` is set (a runtime with inexact
 * division); `elements` for nibble packing is the number of 4-bit codes.
 */
export function compareOutput(
  tol: Tolerance,
  dtype: DType,
  count: number,
  got: Uint8Array,
  want: Uint8Array,
  ambiguous: Uint8Array | undefined,
  allowAmbiguous: boolean,
): Comparison {
  let mismatches = 0;
  let ambiguousDiffs = 0;
  let maxError = 0;
  let first: Comparison['first'];
  const note = (index: number, g: number, w: number) => {
    mismatches++;
    if (!first) first = { index, got: g, want: w };
  };
  if (tol.kind === 'exact') {
    const nbytes = count * (dtype === 'f32' || dtype === 'u32' || dtype === 'i32' ? 4 : dtype === 'u8' || dtype === 'i8' ? 1 : 2);
    for (let i = 0; i < nbytes; i++) if (got[i] !== want[i]) note(i, got[i], want[i]);
    return { elements: count, mismatches, ambiguousDiffs, maxError: mismatches ? 1 : 0, first };
  }
  if (tol.kind === 'codes') {
    const n = tol.packing === 'nibble' ? count : count;
    const g = codesOf(got, dtype, n, tol.packing);
    const w = codesOf(want, dtype, n, tol.packing);
    for (let i = 0; i < n; i++) {
      if (g[i] === w[i]) continue;
      const d = Math.abs(g[i] - w[i]);
      if (allowAmbiguous && ambiguous?.[i]) {
        ambiguousDiffs++;
        continue;
      }
      maxError = Math.max(maxError, d);
      note(i, g[i], w[i]);
    }
    return { elements: n, mismatches, ambiguousDiffs, maxError, first };
  }
  const g = viewAs('f32', got, count) as Float32Array;
  const w = viewAs('f32', want, count) as Float32Array;
  if (tol.kind === 'close') {
    for (let i = 0; i < count; i++) {
      const a = g[i];
      const b = w[i];
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      if (a === b) continue;
      const err = Math.abs(a - b);
      if (!(err <= tol.maxAbs + tol.maxRel * Math.abs(b))) note(i, a, b);
      if (Number.isFinite(err)) maxError = Math.max(maxError, err);
      else maxError = Number.POSITIVE_INFINITY;
    }
    return { elements: count, mismatches, ambiguousDiffs, maxError, first };
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < count; i++) {
    num += (g[i] - w[i]) ** 2;
    den += w[i] ** 2;
  }
  const nmse = den === 0 ? num : num / den;
  return { elements: count, mismatches: nmse <= tol.max ? 0 : count, ambiguousDiffs, maxError: nmse, first: undefined };
}
