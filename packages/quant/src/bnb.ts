/**
 * bitsandbytes 4-bit serialization (docs/formats.md, "bitsandbytes 4-bit safetensors keys"): the keys,
 * dtypes, shapes and the JSON `quant_state` that `Linear4bit` writes and transformers loads.
 *
 *   <module>.weight                               u8   [(n+1)/2, 1]
 *   <module>.weight.absmax                        f32  [blocks]      (u8 with double quantization)
 *   <module>.weight.quant_map                     f32  [16]
 *   <module>.weight.nested_absmax                 f32  [ceil(blocks/256)]   (double quantization)
 *   <module>.weight.nested_quant_map              f32  [256]                 (double quantization)
 *   <module>.weight.quant_state.bitsandbytes__nf4 u8   [len(json)]
 */
import { FormatError } from '@kvant/abi';
import type { FloatDType } from './config';
import { PyFloat, type PyValue, pythonJsonDumps } from './pyjson';
import type { FourBitStats, QuantizedFourBit } from './quantize';

/** A tensor as stored in a safetensors file. */
export interface StoredTensor {
  readonly dtype: 'F32' | 'F16' | 'BF16' | 'U8' | 'I8' | 'I32' | 'I64';
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The JSON quant_state, keys in bitsandbytes' order, as Python's json.dumps writes it. */
export function quantStateJson(q: QuantizedFourBit): string {
  const state: Record<string, PyValue> = {
    quant_type: q.format,
    blocksize: q.blocksize,
    dtype: q.dtype,
    shape: [...q.shape],
  };
  if (q.stats.kind === 'double') {
    state.nested_blocksize = q.stats.nestedBlocksize;
    state.nested_dtype = 'float32';
    state.nested_offset = new PyFloat(q.stats.offset);
  }
  return pythonJsonDumps(state);
}

/** The tensors bitsandbytes writes for `<prefix>.weight` (prefix = module name, e.g. `model.layers.0.mlp.up_proj`). */
export function toBnbTensors(prefix: string, q: QuantizedFourBit): Record<string, StoredTensor> {
  const w = `${prefix}.weight`;
  const out: Record<string, StoredTensor> = {
    [w]: { dtype: 'U8', shape: [q.packed.length, 1], data: q.packed },
  };
  const s = q.stats;
  if (s.kind === 'absmax') {
    out[`${w}.absmax`] = { dtype: 'F32', shape: [s.absmax.length], data: f32Bytes(s.absmax) };
    out[`${w}.quant_map`] = { dtype: 'F32', shape: [16], data: f32Bytes(q.code) };
  } else {
    out[`${w}.absmax`] = { dtype: 'U8', shape: [s.qabsmax.length], data: s.qabsmax };
    out[`${w}.quant_map`] = { dtype: 'F32', shape: [16], data: f32Bytes(q.code) };
    out[`${w}.nested_absmax`] = { dtype: 'F32', shape: [s.nestedAbsmax.length], data: f32Bytes(s.nestedAbsmax) };
    out[`${w}.nested_quant_map`] = { dtype: 'F32', shape: [s.nestedCode.length], data: f32Bytes(s.nestedCode) };
  }
  const json = new TextEncoder().encode(quantStateJson(q));
  out[`${w}.quant_state.bitsandbytes__${q.format}`] = { dtype: 'U8', shape: [json.length], data: json };
  return out;
}

function f32Of(t: StoredTensor, where: string, count?: number): Float32Array {
  if (t.dtype !== 'F32') throw new FormatError(where, 'dtype F32', `dtype ${t.dtype}`);
  const a = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  if (count !== undefined && a.length !== count) throw new FormatError(where, `${count} values`, `${a.length}`);
  return a;
}

function u8Of(t: StoredTensor, where: string, count?: number): Uint8Array {
  if (t.dtype !== 'U8') throw new FormatError(where, 'dtype U8', `dtype ${t.dtype}`);
  if (count !== undefined && t.data.length !== count) throw new FormatError(where, `${count} bytes`, `${t.data.length}`);
  return t.data;
}

/** Keys under `<prefix>.weight.` that bitsandbytes recognizes (besides the quant_state). */
export const BNB_STAT_KEYS = ['absmax', 'quant_map', 'nested_absmax', 'nested_quant_map'] as const;

/** Is `<prefix>.weight` stored as a bitsandbytes 4-bit tensor? */
export function isBnb4bit(prefix: string, has: (key: string) => boolean): boolean {
  return has(`${prefix}.weight.quant_state.bitsandbytes__nf4`) || has(`${prefix}.weight.quant_state.bitsandbytes__fp4`);
}

/** Read `<prefix>.weight` and its statistics back into a quantized tensor, validating every key. */
export function fromBnbTensors(prefix: string, get: (key: string) => StoredTensor | undefined): QuantizedFourBit {
  const w = `${prefix}.weight`;
  const stateNf4 = get(`${w}.quant_state.bitsandbytes__nf4`);
  const stateFp4 = get(`${w}.quant_state.bitsandbytes__fp4`);
  if (!stateNf4 === !stateFp4) {
    throw new FormatError(w, 'exactly one of quant_state.bitsandbytes__nf4 / __fp4', stateNf4 ? 'both' : 'neither');
  }
  const stateKey = stateNf4 ? `${w}.quant_state.bitsandbytes__nf4` : `${w}.quant_state.bitsandbytes__fp4`;
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(new TextDecoder().decode(u8Of((stateNf4 ?? stateFp4)!, stateKey)));
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(stateKey, 'UTF-8 JSON', `unparseable bytes (${(e as Error).message})`);
  }
  const format = stateNf4 ? 'nf4' : 'fp4';
  if (state.quant_type !== format) throw new FormatError(`${stateKey} quant_type`, JSON.stringify(format), JSON.stringify(state.quant_type));
  const shape = state.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new FormatError(`${stateKey} shape`, 'a list of non-negative integers', JSON.stringify(shape));
  }
  const blocksize = state.blocksize;
  if (typeof blocksize !== 'number' || !Number.isInteger(blocksize) || blocksize < 1) {
    throw new FormatError(`${stateKey} blocksize`, 'a positive integer', JSON.stringify(blocksize));
  }
  const dtype = state.dtype as FloatDType;
  if (!['float32', 'float16', 'bfloat16'].includes(dtype)) throw new FormatError(`${stateKey} dtype`, 'float32, float16 or bfloat16', JSON.stringify(dtype));
  const n = (shape as number[]).reduce((a, d) => a * d, 1);
  const blocks = Math.ceil(n / blocksize);
  const need = (key: string) => {
    const t = get(key);
    if (!t) throw new FormatError(key, 'a tensor', 'no such key');
    return t;
  };
  const packed = u8Of(need(w), w, Math.ceil(n / 2));
  const code = f32Of(need(`${w}.quant_map`), `${w}.quant_map`, 16);
  let stats: FourBitStats;
  const nestedAbsmax = get(`${w}.nested_absmax`);
  if (nestedAbsmax) {
    const nestedBlocksize = state.nested_blocksize;
    if (typeof nestedBlocksize !== 'number' || !Number.isInteger(nestedBlocksize) || nestedBlocksize < 1) {
      throw new FormatError(`${stateKey} nested_blocksize`, 'a positive integer', JSON.stringify(nestedBlocksize));
    }
    const offset = state.nested_offset;
    if (typeof offset !== 'number') throw new FormatError(`${stateKey} nested_offset`, 'a number', JSON.stringify(offset));
    stats = {
      kind: 'double',
      qabsmax: u8Of(need(`${w}.absmax`), `${w}.absmax`, blocks),
      nestedAbsmax: f32Of(nestedAbsmax, `${w}.nested_absmax`, Math.ceil(blocks / nestedBlocksize)),
      nestedCode: f32Of(need(`${w}.nested_quant_map`), `${w}.nested_quant_map`, 256),
      offset: Math.fround(offset),
      nestedBlocksize,
    };
  } else {
    stats = { kind: 'absmax', absmax: f32Of(need(`${w}.absmax`), `${w}.absmax`, blocks) };
  }
  return { format, shape: shape as number[], dtype, blocksize, packed, code, stats };
}
