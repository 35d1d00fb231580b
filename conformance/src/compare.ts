/**
 * Output comparison under a spec's tolerance. Returns counts, not booleans, so a report can say
 * how far off a runtime is and how many ambiguous elements it was allowed to move.
 */
import { type DType, DTYPE_BYTES, type Tolerance, viewAs } from '@kvant/abi';

export interface Comparison {
  /** Elements compared (for nibble packing: 4-bit codes, the pad nibble of an odd count included). */
  readonly elements: number;
  /** Elements outside tolerance. */
  readonly mismatches: number;
  /** Ambiguous elements one code away that the budget allowed. */
  readonly exempt: number;
  /** How many exemptions this comparison allowed (0 where the runtime is exact for the kernel). */
  readonly budget: number;
  /** Largest |got - want| (floats), code distance (codes), or 1 for a differing exact element. */
  readonly maxError: number;
  /** First mismatching element, for the report. */
  readonly first?: { readonly index: number; readonly got: number; readonly want: number };
}

/** The 4-bit codes of `count` nibbles (even element in the high nibble), or one code per element. */
function codesOf(bytes: Uint8Array, dtype: DType, count: number, packing: 'byte' | 'nibble'): ArrayLike<number> {
  if (packing === 'nibble') {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = i & 1 ? bytes[i >> 1] & 15 : bytes[i >> 1] >> 4;
    return out;
  }
  return viewAs(dtype, bytes, count);
}

/** Bits of element i as an unsigned integer (exact comparison per element, not per byte). */
function elementBits(bytes: Uint8Array, dtype: DType, i: number): number {
  const w = DTYPE_BYTES[dtype];
  let v = 0;
  for (let b = w - 1; b >= 0; b--) v = v * 256 + bytes[i * w + b];
  return v;
}

/**
 * How far a flushed subnormal can move an element: a subnormal operand (below 2^-126) zeroed, times
 * a factor of at most 256 (a code, a 4-bit or 8-bit table value, q - zero of 8-bit codes): 2^-118.
 */
const FLT_MIN = 2 ** -118;
const f32OfBits = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];
/** got and want differ only by a flushed subnormal: both finite, one of them below 2^-118 in magnitude, |got - want| <= 2^-118. */
function flushedSubnormal(g: number, w: number): boolean {
  const a = f32OfBits(g);
  const b = f32OfBits(w);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const tiny = (x: number) => Math.abs(x) < FLT_MIN;
  return (tiny(a) || tiny(b)) && Math.abs(a - b) <= FLT_MIN;
}

const isNaNBits = (dtype: DType, bits: number) =>
  dtype === 'f32' ? (bits & 0x7fffffff) > 0x7f800000 : dtype === 'f16' ? (bits & 0x7fff) > 0x7c00 : dtype === 'bf16' ? (bits & 0x7fff) > 0x7f80 : false;

/**
 * Compare `got` with `want` (both the raw bytes of `count` elements of `dtype`).
 *
 * `ambiguous` marks the elements the reference proves ambiguous for the runtime's declared
 * arithmetic; pass it only when the runtime declares the kernel approximate. Such an element may
 * be exactly one code away, for at most `tol.ambiguousBudget` elements; the rest are mismatches.
 * `nanPayloads: 'any'` lets any NaN stand for any NaN in an exact comparison of floats (only
 * where the spec leaves NaN payloads open: arithmetic on a NaN).
 */
export function compareOutput(
  tol: Tolerance,
  dtype: DType,
  count: number,
  got: Uint8Array,
  want: Uint8Array,
  ambiguous?: Uint8Array,
  flushesSubnormals = false,
): Comparison {
  let mismatches = 0;
  let maxError = 0;
  let first: Comparison['first'];
  const note = (index: number, g: number, w: number) => {
    mismatches++;
    if (!first) first = { index, got: g, want: w };
  };
  if (tol.kind === 'exact') {
    const anyNaN = tol.nan === 'any';
    let exempt = 0;
    for (let i = 0; i < count; i++) {
      const g = elementBits(got, dtype, i);
      const w = elementBits(want, dtype, i);
      if (g === w || (anyNaN && isNaNBits(dtype, g) && isNaNBits(dtype, w))) continue;
      if (flushesSubnormals && dtype === 'f32' && flushedSubnormal(g, w)) {
        exempt++;
        continue;
      }
      maxError = 1;
      note(i, g, w);
    }
    return { elements: count, mismatches, exempt, budget: flushesSubnormals ? count : 0, maxError, first };
  }
  if (tol.kind === 'codes') {
    const g = codesOf(got, dtype, count, tol.packing);
    const w = codesOf(want, dtype, count, tol.packing);
    const budget = ambiguous ? tol.ambiguousBudget : 0;
    let exempt = 0;
    for (let i = 0; i < count; i++) {
      if (g[i] === w[i]) continue;
      const d = Math.abs(g[i] - w[i]);
      if (d === 1 && ambiguous?.[i] && exempt < budget) {
        exempt++;
        continue;
      }
      maxError = Math.max(maxError, d);
      note(i, g[i], w[i]);
    }
    return { elements: count, mismatches, exempt, budget, maxError, first };
  }
  const g = viewAs('f32', got, count) as Float32Array;
  const w = viewAs('f32', want, count) as Float32Array;
  if (tol.kind === 'close') {
    let exempt = 0;
    for (let i = 0; i < count; i++) {
      const a = g[i];
      const b = w[i];
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      if (a === b) continue;
      if (flushesSubnormals && (Math.abs(a) < FLT_MIN || Math.abs(b) < FLT_MIN) && Math.abs(a - b) <= FLT_MIN) {
        exempt++;
        continue;
      }
      const err = Math.abs(a - b);
      if (!(err <= tol.maxAbs + tol.maxRel * Math.abs(b))) note(i, a, b);
      maxError = Number.isFinite(err) ? Math.max(maxError, err) : Number.POSITIVE_INFINITY;
    }
    return { elements: count, mismatches, exempt, budget: flushesSubnormals ? count : 0, maxError, first };
  }
  let num = 0;
  let den = 0;
  let nanMismatch = -1;
  for (let i = 0; i < count; i++) {
    if (Number.isNaN(g[i]) !== Number.isNaN(w[i]) && nanMismatch < 0) nanMismatch = i;
    if (Number.isNaN(g[i]) && Number.isNaN(w[i])) continue;
    num += (g[i] - w[i]) ** 2;
    den += w[i] ** 2;
  }
  const nmse = den === 0 ? num : num / den;
  const bad = !(nmse <= tol.max) || nanMismatch >= 0;
  const at = Math.max(nanMismatch, 0);
  return { elements: count, mismatches: bad ? count : 0, exempt: 0, budget: 0, maxError: nmse, first: bad ? { index: at, got: g[at], want: w[at] } : undefined };
}
