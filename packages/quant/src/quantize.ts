/**
 * quantize / dequantize on any runtime. The heavy lifting is the `quant.*` kernels; this file
 * chunks large tensors (whole blocks per chunk, so results do not depend on the chunking),
 * computes the double-quantization offset on the host, and assembles the quantized tensor.
 */
import {
  DYNAMIC_MAP_SIGNED,
  FP4_CODE,
  NF4_CODE,
  type Runtime,
  runOnce,
  TensorError,
} from '@kvant/abi';
import { type FloatDType, NESTED_BLOCKSIZE, type QuantConfig, resolveQuantConfig } from './config';

/** absmax per block, plain (f32) or double-quantized (8-bit codes + nested absmax + offset). */
export type FourBitStats =
  | { readonly kind: 'absmax'; readonly absmax: Float32Array }
  | {
      readonly kind: 'double';
      /** 8-bit code of absmax - offset, one per block */
      readonly qabsmax: Uint8Array;
      /** max |absmax - offset| per nested block */
      readonly nestedAbsmax: Float32Array;
      /** the signed dynamic map */
      readonly nestedCode: Float32Array;
      /** mean of the absmax (f32) */
      readonly offset: number;
      readonly nestedBlocksize: number;
    };

/** A 4-bit (NF4 or FP4) tensor in bitsandbytes' layout. */
export interface QuantizedFourBit {
  readonly format: 'nf4' | 'fp4';
  /** Original shape, e.g. [out_features, in_features]. */
  readonly shape: readonly number[];
  /** Original dtype (what dequantization is meant to give back). */
  readonly dtype: FloatDType;
  readonly blocksize: number;
  /** ceil(n/2) bytes, even element in the high nibble. */
  readonly packed: Uint8Array;
  /** The 16 values of the type (bitsandbytes' quant_map). */
  readonly code: Float32Array;
  readonly stats: FourBitStats;
}

/** An affine-quantized tensor: one code per byte, scale and zero point per group. */
export interface QuantizedLinear {
  readonly format: 'linear';
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly bits: number;
  /** Elements per group (the element count for one scale per tensor). */
  readonly group: number;
  readonly symmetric: boolean;
  readonly codes: Uint8Array;
  readonly scale: Float32Array;
  readonly zero: Int32Array;
}

export type QuantizedTensor = QuantizedFourBit | QuantizedLinear;

/** Elements per dispatch for large tensors: a whole number of blocks, at most 16 MiB of f32. */
const CHUNK_ELEMENTS = 1 << 22;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/** Progress callback: elements done of total. */
export type Progress = (done: number, total: number) => void;

export interface QuantizeOptions {
  /** The dtype the values came from (recorded in the format; default float32). */
  readonly dtype?: FloatDType;
  readonly onProgress?: Progress;
}

/**
 * Quantize `values` (row-major, `shape`) on runtime `rt`. The result holds host arrays in the
 * layout bitsandbytes writes, ready for `dequantize` or serialization.
 */
export async function quantize(
  rt: Runtime,
  values: Float32Array,
  shape: readonly number[],
  config: QuantConfig = {},
  options: QuantizeOptions = {},
): Promise<QuantizedTensor> {
  const c = resolveQuantConfig(config);
  const n = elementCount(shape);
  if (values.length !== n) throw new TensorError('quantize', `${n} values for shape [${shape.join(', ')}]`, `${values.length} values`);
  if (n === 0) throw new TensorError('quantize', 'at least one element', 'an empty tensor');
  const dtype = options.dtype ?? 'float32';
  if (c.quantType === 'linear') {
    const group = c.group ?? n;
    const out = await runOnce(rt, 'quant.linear_quantize', { n, group, bits: c.bits, symmetric: c.symmetric ? 1 : 0 }, { x: values }, {
      codes: { dtype: 'u8', count: n },
      scale: { dtype: 'f32', count: Math.ceil(n / group) },
      zero: { dtype: 'i32', count: Math.ceil(n / group) },
    });
    options.onProgress?.(n, n);
    const groups = Math.ceil(n / group);
    return {
      format: 'linear',
      shape: [...shape],
      dtype,
      bits: c.bits,
      group,
      symmetric: c.symmetric,
      codes: out.codes.slice(0, n),
      scale: new Float32Array(out.scale.buffer, 0, groups).slice(),
      zero: new Int32Array(out.zero.buffer, 0, groups).slice(),
    };
  }

  const bs = c.blocksize;
  const blocks = Math.ceil(n / bs);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const absmax = new Float32Array(blocks);
  const chunk = Math.max(bs, Math.floor(CHUNK_ELEMENTS / bs) * bs);
  for (let start = 0; start < n; start += chunk) {
    const len = Math.min(chunk, n - start);
    const out = await runOnce(rt, `quant.${c.quantType}_quantize`, { n: len, blocksize: bs }, { x: values.subarray(start, start + len) }, {
      packed: { dtype: 'u8', count: Math.ceil(len / 2) },
      absmax: { dtype: 'f32', count: Math.ceil(len / bs) },
    });
    packed.set(out.packed.subarray(0, Math.ceil(len / 2)), start / 2);
    absmax.set(new Float32Array(out.absmax.buffer, 0, Math.ceil(len / bs)), start / bs);
    options.onProgress?.(start + len, n);
  }
  const code = (c.quantType === 'nf4' ? NF4_CODE : FP4_CODE).slice();
  const stats: FourBitStats = c.doubleQuant ? await doubleQuantize(rt, absmax) : { kind: 'absmax', absmax };
  return { format: c.quantType, shape: [...shape], dtype, blocksize: bs, packed, code, stats };
}

/** Mean of f32 values, summed in f64 and rounded to f32 (deterministic across runtimes). */
function meanF32(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return Math.fround(s / x.length);
}

/** Double quantization of absmax: offset = mean, then 8-bit blockwise (256) with the signed dynamic map. */
export async function doubleQuantize(rt: Runtime, absmax: Float32Array): Promise<FourBitStats> {
  const m = absmax.length;
  const offset = meanF32(absmax);
  const nestedBlocks = Math.ceil(m / NESTED_BLOCKSIZE);
  const out = await runOnce(
    rt,
    'quant.blockwise8_quantize',
    { n: m, blocksize: NESTED_BLOCKSIZE, offset },
    { x: absmax, code: DYNAMIC_MAP_SIGNED },
    { q: { dtype: 'u8', count: m }, absmax: { dtype: 'f32', count: nestedBlocks } },
  );
  return {
    kind: 'double',
    qabsmax: out.q.slice(0, m),
    nestedAbsmax: new Float32Array(out.absmax.buffer, 0, nestedBlocks).slice(),
    nestedCode: DYNAMIC_MAP_SIGNED.slice(),
    offset,
    nestedBlocksize: NESTED_BLOCKSIZE,
  };
}

/** The first-level absmax of a 4-bit tensor (reconstructed on `rt` when double-quantized). */
export async function absmaxOf(rt: Runtime, q: QuantizedFourBit): Promise<Float32Array> {
  const s = q.stats;
  if (s.kind === 'absmax') return s.absmax;
  const m = s.qabsmax.length;
  const out = await runOnce(
    rt,
    'quant.blockwise8_dequantize',
    { n: m, blocksize: s.nestedBlocksize, offset: s.offset },
    { q: s.qabsmax, absmax: s.nestedAbsmax, code: s.nestedCode },
    { out: { dtype: 'f32', count: m } },
  );
  return new Float32Array(out.out.buffer, 0, m).slice();
}

/** Dequantize to f32 values (row-major, the original shape) on runtime `rt`. */
export async function dequantize(rt: Runtime, q: QuantizedTensor, options: { onProgress?: Progress } = {}): Promise<Float32Array> {
  const n = elementCount(q.shape);
  if (q.format === 'linear') {
    const out = await runOnce(
      rt,
      'quant.linear_dequantize',
      { n, group: q.group, bits: q.bits, symmetric: q.symmetric ? 1 : 0 },
      { codes: q.codes, scale: q.scale, zero: q.zero },
      { out: { dtype: 'f32', count: n } },
    );
    options.onProgress?.(n, n);
    return new Float32Array(out.out.buffer, 0, n).slice();
  }
  const bs = q.blocksize;
  const result = new Float32Array(n);
  const chunk = Math.max(bs, Math.floor(CHUNK_ELEMENTS / bs) * bs);
  const s = q.stats;
  for (let start = 0; start < n; start += chunk) {
    const len = Math.min(chunk, n - start);
    const b0 = start / bs;
    const b1 = Math.ceil((start + len) / bs);
    const packed = q.packed.subarray(start / 2, start / 2 + Math.ceil(len / 2));
    let out: Record<string, Uint8Array>;
    if (s.kind === 'absmax') {
      out = await runOnce(rt, 'quant.dequantize_4bit', { n: len, blocksize: bs }, { packed, absmax: s.absmax.subarray(b0, b1), code: q.code }, { out: { dtype: 'f32', count: len } });
    } else {
      // Chunks hold whole nested blocks, so the nested absmax slices line up.
      const nb0 = Math.floor(b0 / s.nestedBlocksize);
      if (b0 % s.nestedBlocksize !== 0) throw new Error('internal: chunk does not start on a nested block');
      out = await runOnce(
        rt,
        'quant.dequantize_4bit_dq',
        { n: len, blocksize: bs, nested_blocksize: s.nestedBlocksize, offset: s.offset },
        {
          packed,
          qabsmax: s.qabsmax.subarray(b0, b1),
          nested_absmax: s.nestedAbsmax.subarray(nb0, Math.ceil(b1 / s.nestedBlocksize)),
          nested_code: s.nestedCode,
          code: q.code,
        },
        { out: { dtype: 'f32', count: len } },
      );
    }
    result.set(new Float32Array(out.out.buffer, 0, len), start);
    options.onProgress?.(start + len, n);
  }
  return result;
}
