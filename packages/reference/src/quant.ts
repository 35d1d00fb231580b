/**
 * Reference implementations of the `quant` family: readable, one element at a time, f32
 * arithmetic made explicit with Math.fround. They define the kernels (packages/abi/src/kernels/quant.ts).
 */
import { FP4_CODE, FP4_MAGNITUDE_CODES, FP4_THRESHOLDS, NF4_CODE, NF4_THRESHOLDS, type Params } from '@kvant/abi';
import { type Buffers, f32View, i32View, type ReferenceKernels, u32View } from './buffers';

const f = Math.fround;

/** Round half to even (f32 in, integer-valued f64 out). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** max |x| over x[start, end) ignoring NaN (fmaxf semantics); 0 for an empty or all-NaN range. */
export function absmaxOf(x: Float32Array, start: number, end: number, offset = 0): number {
  let m = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(f(x[i] - offset));
    if (a > m) m = a;
  }
  return m;
}

/** Number of thresholds t with s > t (the code of the nearest value, ties to the lower code). */
function countAbove(s: number, thresholds: Float32Array | readonly number[]): number {
  let c = 0;
  for (let i = 0; i < thresholds.length; i++) if (s > thresholds[i]) c++;
  return c;
}

/** NF4 code of a scaled value s (NaN -> 0). */
export function nf4Code(s: number): number {
  return countAbove(s, NF4_THRESHOLDS);
}

/** FP4 code of a scaled value s: sign bit 8 for s < 0, magnitude code in the low 3 bits (NaN -> 0). */
export function fp4Code(s: number): number {
  if (Number.isNaN(s)) return 0;
  const sign = s < 0 ? 8 : 0;
  return sign | FP4_MAGNITUDE_CODES[countAbove(Math.abs(s), FP4_THRESHOLDS)];
}

/** Write 4-bit code `c` of element i into packed bytes (even element in the high nibble). */
export function setNibble(packed: Uint8Array, i: number, c: number): void {
  const j = i >> 1;
  packed[j] = i & 1 ? (packed[j] & 0xf0) | c : (packed[j] & 0x0f) | (c << 4);
}

export function getNibble(packed: Uint8Array, i: number): number {
  const byte = packed[i >> 1];
  return i & 1 ? byte & 15 : byte >> 4;
}

/**
 * The scaled values (x - offset) * (1 / absmax) of a blockwise quantization, for ambiguity checks.
 * A block whose absmax is a power of two has an exact reciprocal, so its scaled values are exact
 * on every runtime: they come back as NaN, which is near no threshold (never ambiguous).
 */
function scaledBlockwise(p: Params, b: Buffers, offset = 0): Float32Array {
  const x = f32View(b.x);
  const out = new Float32Array(p.n);
  for (let blk = 0; blk * p.blocksize < p.n; blk++) {
    const start = blk * p.blocksize;
    const end = Math.min(p.n, start + p.blocksize);
    const amax = absmaxOf(x, start, end, offset);
    const inv = f(1 / amax);
    for (let i = start; i < end; i++) out[i] = isPowerOfTwo(amax) ? Number.NaN : f(f(x[i] - offset) * inv);
  }
  return out;
}

/**
 * Mask of elements whose value lies within eps of a threshold, relative to the spacing of the two
 * codes that threshold separates (`spacing[k]`): near 0 the dynamic map's codes are far closer
 * together than near 1, so an absolute epsilon would be too wide there and too narrow elsewhere.
 */
function nearThresholds(values: Float32Array, thresholds: ArrayLike<number>, spacing: ArrayLike<number>, eps: number, abs = false): Uint8Array {
  const mask = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = abs ? Math.abs(values[i]) : values[i];
    for (let k = 0; k < thresholds.length; k++) {
      if (Math.abs(v - thresholds[k]) <= eps * spacing[k]) {
        mask[i] = 1;
        break;
      }
    }
  }
  return mask;
}

/** Gaps between consecutive sorted codes: the spacing around each midpoint between them. */
function gaps(sorted: ArrayLike<number>): Float64Array {
  const g = new Float64Array(sorted.length - 1);
  for (let i = 0; i + 1 < sorted.length; i++) g[i] = sorted[i + 1] - sorted[i];
  return g;
}

const NF4_SPACING = gaps(NF4_CODE);
const FP4_SPACING = gaps([...new Set(Array.from(FP4_CODE, Math.abs))].sort((a, b) => a - b));

/** A positive power of two (x / scale is then exact, so no runtime can round it the other way). */
function isPowerOfTwo(x: number): boolean {
  if (!(x > 0) || !Number.isFinite(x)) return false;
  const e = Math.floor(Math.log2(x));
  return x === 2 ** e || x === 2 ** (e + 1);
}

function quantize4bit(codeOf: (s: number) => number) {
  return (p: Params, b: Buffers) => {
    const x = f32View(b.x);
    const absmax = f32View(b.absmax);
    const packed = b.packed;
    packed.fill(0, 0, Math.ceil(p.n / 2));
    for (let blk = 0; blk * p.blocksize < p.n; blk++) {
      const start = blk * p.blocksize;
      const end = Math.min(p.n, start + p.blocksize);
      const amax = absmaxOf(x, start, end);
      absmax[blk] = amax;
      const inv = f(1 / amax); // bitsandbytes multiplies by the reciprocal; 1/0 = inf, 0*inf = NaN -> code 0
      for (let i = start; i < end; i++) setNibble(packed, i, codeOf(f(x[i] * inv)));
    }
    // An odd n leaves the last low nibble: the code of 0.
    if (p.n & 1) setNibble(packed, p.n, codeOf(0));
  };
}

function dequant4bitWith(absmaxOfBlock: (p: Params, b: Buffers) => (blk: number) => number) {
  return (p: Params, b: Buffers) => {
    const code = f32View(b.code);
    const out = f32View(b.out);
    const absmaxAt = absmaxOfBlock(p, b);
    for (let i = 0; i < p.n; i++) out[i] = f(code[getNibble(b.packed, i)] * absmaxAt(Math.floor(i / p.blocksize)));
  };
}

/** Index of the nearest of 256 sorted code values, ties to the lower index (NaN -> 0). */
export function nearestCode(code: Float32Array, s: number): number {
  if (Number.isNaN(s)) return 0;
  // Binary search for the number of midpoints strictly below s.
  let lo = 0;
  let hi = code.length - 1; // answer in [0, 255]
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const m = f(f(code[mid] + code[mid + 1]) * 0.5);
    if (s > m) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function midpointsOf(code: Float32Array): Float32Array {
  const m = new Float32Array(code.length - 1);
  for (let i = 0; i + 1 < code.length; i++) m[i] = f(f(code[i] + code[i + 1]) * 0.5);
  return m;
}

function linearStats(x: Float32Array, start: number, end: number, bits: number, symmetric: boolean) {
  let lo = 0;
  let hi = 0;
  let amax = 0;
  for (let i = start; i < end; i++) {
    const v = x[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.abs(v) > amax) amax = Math.abs(v);
  }
  if (symmetric) {
    const qmax = 2 ** (bits - 1) - 1;
    return { scale: f(amax / qmax), zero: 0, qmin: -qmax, qmax };
  }
  const qmax = 2 ** bits - 1;
  const scale = f(f(hi - lo) / qmax);
  const zero = scale === 0 ? 0 : Math.min(qmax, Math.max(0, roundHalfEven(f(-lo / scale))));
  return { scale, zero, qmin: 0, qmax };
}

const wideScratch = new Float32Array(1);
const wideBits = new Uint32Array(wideScratch.buffer);

/**
 * The f32 bits of a bf16 (format 0) or f16 (format 1) value h, exactly (the spec's wide(h)):
 * bf16 is h << 16; f16 moves sign, exponent and mantissa into place, an f16 subnormal mt * 2^-24
 * becomes a normal f32, and inf/NaN keep their mantissa (a NaN's payload) shifted up.
 */
export function halfToF32Bits(h: number, format: number): number {
  if (format === 0) return (h << 16) >>> 0;
  const sign = (h & 0x8000) << 16;
  const ex = (h >>> 10) & 31;
  const mt = h & 1023;
  if (ex === 0) {
    wideScratch[0] = mt * 2 ** -24;
    return (sign | wideBits[0]) >>> 0;
  }
  if (ex === 31) return (sign | 0x7f800000 | (mt << 13)) >>> 0;
  return (sign | ((ex + 112) << 23) | (mt << 13)) >>> 0;
}

/** Element e of a 16-bit buffer viewed as u32 words (little-endian halves). */
export function halfAt(words: Uint32Array, e: number): number {
  return (words[e >>> 1] >>> (16 * (e & 1))) & 0xffff;
}

/** n 16-bit elements widened to f32 (their bits written through a u32 view, so NaN payloads survive). */
export function widenHalves(words: Uint32Array, n: number, format: number): Float32Array {
  const out = new Uint32Array(n);
  for (let e = 0; e < n; e++) out[e] = halfToF32Bits(halfAt(words, e), format);
  return new Float32Array(out.buffer);
}

export const quantKernels: ReferenceKernels = {
  'quant.linear_quantize': {
    run: (p, b) => {
      const x = f32View(b.x);
      const scales = f32View(b.scale);
      const zeros = i32View(b.zero);
      const symmetric = p.symmetric === 1;
      for (let g = 0; g * p.group < p.n; g++) {
        const start = g * p.group;
        const end = Math.min(p.n, start + p.group);
        const { scale, zero, qmin, qmax } = linearStats(x, start, end, p.bits, symmetric);
        scales[g] = scale;
        zeros[g] = zero;
        for (let i = start; i < end; i++) {
          let q: number;
          if (scale === 0 || Number.isNaN(x[i])) q = zero;
          else q = Math.min(qmax, Math.max(qmin, roundHalfEven(f(x[i] / scale)) + zero));
          b.codes[i] = q & 0xff;
        }
      }
    },
    ambiguous: (p, b, output, eps) => {
      // x / scale (and -lo / scale for the zero point) within eps of a half-integer.
      const x = f32View(b.x);
      const mask = new Uint8Array(output === 'zero' ? Math.ceil(p.n / p.group) : p.n);
      for (let g = 0; g * p.group < p.n; g++) {
        const start = g * p.group;
        const end = Math.min(p.n, start + p.group);
        const { scale } = linearStats(x, start, end, p.bits, p.symmetric === 1);
        // No nonzero element, or an exact scale: every quotient is exact, nothing is ambiguous.
        if (scale === 0 || isPowerOfTwo(scale)) continue;
        const nearHalf = (v: number) => Math.abs(Math.abs(v % 1) - 0.5) <= eps * Math.max(1, Math.abs(v));
        if (output === 'zero') {
          let lo = 0;
          for (let i = start; i < end; i++) if (Number.isFinite(x[i]) && x[i] < lo) lo = x[i];
          if (nearHalf(-lo / scale)) mask[g] = 1;
          continue;
        }
        let lo = 0;
        for (let i = start; i < end; i++) if (Number.isFinite(x[i]) && x[i] < lo) lo = x[i];
        const zeroAmbiguous = p.symmetric === 0 && nearHalf(-lo / scale);
        for (let i = start; i < end; i++) if (zeroAmbiguous || nearHalf(x[i] / scale)) mask[i] = 1;
      }
      return mask;
    },
  },

  'quant.linear_dequantize': {
    run: (p, b) => {
      const scales = f32View(b.scale);
      const zeros = i32View(b.zero);
      const out = f32View(b.out);
      for (let i = 0; i < p.n; i++) {
        const g = Math.floor(i / p.group);
        const raw = b.codes[i];
        const q = p.symmetric === 1 ? (raw << 24) >> 24 : raw;
        out[i] = f(f((q - zeros[g]) | 0) * scales[g]); // q - zero in wrapping i32, to f32, then an f32 multiply
      }
    },
  },

  'quant.nf4_quantize': {
    run: quantize4bit(nf4Code),
    ambiguous: (p, b, _output, eps) => nearThresholds(scaledBlockwise(p, b), NF4_THRESHOLDS, NF4_SPACING, eps),
  },

  'quant.fp4_quantize': {
    run: quantize4bit(fp4Code),
    ambiguous: (p, b, _output, eps) => {
      const s = scaledBlockwise(p, b);
      const mask = nearThresholds(s, FP4_THRESHOLDS, FP4_SPACING, eps, true);
      for (let i = 0; i < s.length; i++) if (Math.abs(s[i]) <= eps * FP4_SPACING[0]) mask[i] = 1; // the sign of a tiny value
      return mask;
    },
  },

  'quant.dequantize_4bit': {
    run: dequant4bitWith((_p, b) => {
      const absmax = f32View(b.absmax);
      return (blk) => absmax[blk];
    }),
  },

  'quant.dequantize_4bit_dq': {
    run: dequant4bitWith((p, b) => {
      const nestedAbsmax = f32View(b.nested_absmax);
      const nestedCode = f32View(b.nested_code);
      return (blk) => f(f(nestedCode[b.qabsmax[blk]] * nestedAbsmax[Math.floor(blk / p.nested_blocksize)]) + f(p.offset));
    }),
  },

  'quant.blockwise8_quantize': {
    run: (p, b) => {
      const x = f32View(b.x);
      const code = f32View(b.code).subarray(0, 256);
      const absmax = f32View(b.absmax);
      const offset = f(p.offset);
      for (let blk = 0; blk * p.blocksize < p.n; blk++) {
        const start = blk * p.blocksize;
        const end = Math.min(p.n, start + p.blocksize);
        const amax = absmaxOf(x, start, end, offset);
        absmax[blk] = amax;
        const inv = f(1 / amax);
        for (let i = start; i < end; i++) b.q[i] = nearestCode(code, f(f(x[i] - offset) * inv));
      }
    },
    ambiguous: (p, b, _output, eps) => {
      const code = f32View(b.code).subarray(0, 256);
      const s = scaledBlockwise(p, b, f(p.offset));
      return nearThresholds(s, midpointsOf(code), gaps(code), eps);
    },
  },

  'quant.blockwise8_dequantize': {
    run: (p, b) => {
      const code = f32View(b.code);
      const absmax = f32View(b.absmax);
      const out = f32View(b.out);
      const offset = f(p.offset);
      for (let i = 0; i < p.n; i++) out[i] = f(f(code[b.q[i]] * absmax[Math.floor(i / p.blocksize)]) + offset);
    },
  },
  'quant.dequantize_16bit': {
    run: (p, b) => {
      const words = u32View(b.w);
      const out = u32View(b.out);
      for (let e = 0; e < p.n; e++) out[e] = halfToF32Bits(halfAt(words, e), p.format);
    },
  },
};
