/**
 * kvant's GGUF writer (version 3, the format llama.cpp and Ollama load), little-endian throughout:
 *
 *   header        "GGUF" (magic), u32 version = 3, u64 tensor count, u64 metadata kv count
 *   metadata kv   key (string), u32 value type, value — a string is u64 byte length + UTF-8 bytes;
 *                 an array is u32 item type, u64 count, items (arrays of arrays are not written)
 *   tensor infos  name (string), u32 n_dims, u64 ne[n_dims] (ne[0] the innermost, contiguous dimension:
 *                 the reverse of a row-major shape), u32 ggml type, u64 offset from the data start
 *   padding       zeros up to the alignment (`general.alignment`, 32 by default)
 *   data          each tensor's bytes at its offset, every offset a multiple of the alignment
 *
 * Tensor types: F32 (0), F16 (1, IEEE half, round to nearest even) and Q8_0 (8): blocks of 32
 * consecutive values along ne[0], each an f16 scale d = max|x| / 127 and 32 int8 codes round(x / d)
 * (half away from zero, as ggml's roundf), 34 bytes per block; a value is d·q. Data may be given as a
 * function, called when the writer reaches the tensor, so a model is converted one tensor at a time.
 * The file is written to a temporary sibling and renamed into place (writeFileAtomic).
 */
import { f16BitsToF32, f32ToF16Bits, FormatError } from '@kvant/abi';
import { type AtomicOutputOptions, writeFileAtomic } from './atomic-dir';

/** Metadata value types and their GGUF codes. */
export const GGUF_VALUE_TYPES = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPES, 'array'>;
type Scalar = number | bigint | boolean | string;

/** One typed metadata value. */
export type GgufValue = { readonly type: GgufScalarType; readonly value: Scalar } | { readonly type: 'array'; readonly itemType: GgufScalarType; readonly values: readonly Scalar[] };

/** Constructors of typed metadata values: `ggufValue.u32(4096)`, `ggufValue.array('string', tokens)`. */
export const ggufValue = {
  u8: (value: number): GgufValue => ({ type: 'u8', value }),
  i8: (value: number): GgufValue => ({ type: 'i8', value }),
  u16: (value: number): GgufValue => ({ type: 'u16', value }),
  i16: (value: number): GgufValue => ({ type: 'i16', value }),
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  u64: (value: number | bigint): GgufValue => ({ type: 'u64', value }),
  i64: (value: number | bigint): GgufValue => ({ type: 'i64', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  f64: (value: number): GgufValue => ({ type: 'f64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  array: (itemType: GgufScalarType, values: readonly Scalar[]): GgufValue => ({ type: 'array', itemType, values }),
};

/** ggml tensor types kvant writes, with their codes. */
export const GGML_TYPES = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlType = keyof typeof GGML_TYPES;

/** Values per Q8_0 block, and bytes per block (f16 scale + 32 int8). */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_NAME is 64 bytes including the terminating zero. */
export const GGUF_MAX_TENSOR_NAME_BYTES = 63;

/** One tensor to write. */
export interface GgufTensor {
  readonly name: string;
  /** Row-major shape, outermost first (as torch and safetensors write it); ne is its reverse. */
  readonly shape: readonly number[];
  readonly type: GgmlType;
  /** The values as f32 (converted to `type` when written), or a function giving them. */
  readonly data: Float32Array | (() => Float32Array | Promise<Float32Array>);
}

/** A whole file: metadata in the order given (general.alignment added when absent), then tensors. */
export interface GgufFile {
  readonly metadata: ReadonlyArray<readonly [string, GgufValue]>;
  readonly tensors: readonly GgufTensor[];
  /** Data alignment in bytes (default 32), a power of two; recorded as general.alignment. */
  readonly alignment?: number;
}

/** Where each tensor went. */
export interface GgufLayout {
  /** Bytes before the data section (header, metadata, tensor infos, padding). */
  readonly dataStart: number;
  readonly tensors: readonly { readonly name: string; readonly ne: readonly number[]; readonly type: GgmlType; readonly offset: number; readonly bytes: number }[];
  readonly totalBytes: number;
}

/** Bytes of `count` values of `type` (Q8_0: count must be a multiple of 32). */
export function ggmlTensorBytes(type: GgmlType, count: number): number {
  if (type === 'F32') return 4 * count;
  if (type === 'F16') return 2 * count;
  return (count / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
}

/** round(x) with halves away from zero (C's roundf, which ggml uses). */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * Q8_0 blocks of `values` (length a multiple of 32): per block d = max|x| / 127 (f32, stored as f16),
 * codes round(x · (1/d)) half away from zero (0 for an all-zero block), as ggml's quantize_row_q8_0_ref.
 */
export function quantizeQ8_0(values: Float32Array, where = 'quantizeQ8_0'): Uint8Array {
  if (values.length % Q8_0_BLOCK !== 0) throw new FormatError(where, `a multiple of ${Q8_0_BLOCK} values (Q8_0 blocks)`, `${values.length} values`);
  const blocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_0_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const x = values[base + i];
      if (!Number.isFinite(x)) throw new FormatError(where, 'finite values', `${x} at index ${base + i}`);
      const a = Math.abs(x);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const at = b * Q8_0_BLOCK_BYTES;
    view.setUint16(at, f32ToF16Bits(d), true);
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const q = Math.max(-128, Math.min(127, roundAway(Math.fround(values[base + i] * id))));
      view.setInt8(at + 2 + i, q);
    }
  }
  return out;
}

/** Values of `count` Q8_0-coded elements: d (f16) · q. */
export function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  if (count % Q8_0_BLOCK !== 0 || bytes.byteLength < (count / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES) {
    throw new FormatError('dequantizeQ8_0', `${(count / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES} bytes for ${count} values (a multiple of ${Q8_0_BLOCK})`, `${bytes.byteLength} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let b = 0; b < count / Q8_0_BLOCK; b++) {
    const at = b * Q8_0_BLOCK_BYTES;
    const d = f16BitsToF32(view.getUint16(at, true));
    for (let i = 0; i < Q8_0_BLOCK; i++) out[b * Q8_0_BLOCK + i] = Math.fround(d * view.getInt8(at + 2 + i));
  }
  return out;
}

/** A tensor's values in its ggml type. */
export function encodeGgmlTensor(type: GgmlType, values: Float32Array, where = 'tensor'): Uint8Array {
  if (type === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  if (type === 'F16') {
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
    return new Uint8Array(out.buffer);
  }
  return quantizeQ8_0(values, where);
}

/** A little-endian byte builder. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.ensure(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  i8(v: number) {
    this.ensure(1);
    this.view.setInt8(this.length, v);
    this.length += 1;
  }
  u16(v: number) {
    this.ensure(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i16(v: number) {
    this.ensure(2);
    this.view.setInt16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number) {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number) {
    this.ensure(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number) {
    this.ensure(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number) {
    this.ensure(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  u64(v: bigint) {
    this.ensure(8);
    this.view.setBigUint64(this.length, v, true);
    this.length += 8;
  }
  i64(v: bigint) {
    this.ensure(8);
    this.view.setBigInt64(this.length, v, true);
    this.length += 8;
  }
  raw(b: Uint8Array) {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(BigInt(b.length));
    this.raw(b);
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.ensure(n);
    this.length += n; // the buffer is zero-filled
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const INT_RANGES: Readonly<Partial<Record<GgufScalarType, readonly [number, number]>>> = {
  u8: [0, 255],
  i8: [-128, 127],
  u16: [0, 65535],
  i16: [-32768, 32767],
  u32: [0, 2 ** 32 - 1],
  i32: [-(2 ** 31), 2 ** 31 - 1],
};

/** Write one scalar of `type`, checking that it is representable. */
function writeScalar(out: Bytes, type: GgufScalarType, v: Scalar, where: string): void {
  const fail = (expected: string): never => {
    throw new FormatError(where, expected, typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : `${typeof v} ${String(v)}`);
  };
  switch (type) {
    case 'string':
      if (typeof v !== 'string') fail('a string');
      out.string(v as string);
      break;
    case 'bool':
      if (typeof v !== 'boolean') fail('a boolean');
      out.u8(v ? 1 : 0);
      break;
    case 'f32':
    case 'f64':
      if (typeof v !== 'number') fail(`a number (${type})`);
      if (type === 'f32') out.f32(v as number);
      else out.f64(v as number);
      break;
    case 'u64':
    case 'i64': {
      const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : fail(`an integer (${type})`);
      const inRange = type === 'u64' ? big >= 0n && big < 1n << 64n : big >= -(1n << 63n) && big < 1n << 63n;
      if (!inRange) fail(`an integer in the range of ${type}`);
      if (type === 'u64') out.u64(big);
      else out.i64(big);
      break;
    }
    default: {
      const [lo, hi] = INT_RANGES[type]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(`an integer from ${lo} to ${hi} (${type})`);
      out[type](v as number);
    }
  }
}

function writeValue(out: Bytes, value: GgufValue, where: string): void {
  if (!value || typeof value !== 'object' || !(value.type in GGUF_VALUE_TYPES)) throw new FormatError(where, `a typed value (${Object.keys(GGUF_VALUE_TYPES).join(', ')})`, JSON.stringify(value));
  out.u32(GGUF_VALUE_TYPES[value.type]);
  if (value.type !== 'array') {
    writeScalar(out, value.type, value.value, where);
    return;
  }
  if (!(value.itemType in GGUF_VALUE_TYPES) || (value.itemType as string) === 'array') throw new FormatError(`${where} item type`, 'a scalar type (arrays of arrays are not written)', String(value.itemType));
  out.u32(GGUF_VALUE_TYPES[value.itemType]);
  out.u64(BigInt(value.values.length));
  for (let i = 0; i < value.values.length; i++) writeScalar(out, value.itemType, value.values[i], `${where}[${i}]`);
}

/** Validate `file` and encode everything before the data; returns the bytes and where each tensor goes. */
export function encodeGgufHeader(file: GgufFile): { header: Uint8Array; layout: GgufLayout } {
  const alignment = file.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!(Number.isInteger(alignment) && alignment > 0 && (alignment & (alignment - 1)) === 0)) throw new FormatError('gguf general.alignment', 'a power of two', String(alignment));
  const keys = new Set<string>();
  const metadata: [string, GgufValue][] = [];
  for (const [k, v] of file.metadata) {
    if (typeof k !== 'string' || k === '') throw new FormatError('gguf metadata key', 'a non-empty string', JSON.stringify(k));
    if (keys.has(k)) throw new FormatError(`gguf metadata "${k}"`, 'each key once', 'a repeated key');
    keys.add(k);
    metadata.push([k, v]);
  }
  const given = metadata.find(([k]) => k === 'general.alignment');
  if (given && !(given[1].type === 'u32' && given[1].value === alignment)) throw new FormatError('gguf metadata "general.alignment"', `u32 ${alignment} (the alignment the writer uses)`, JSON.stringify(given[1]));
  if (!given) metadata.push(['general.alignment', ggufValue.u32(alignment)]);

  const out = new Bytes();
  out.raw(new TextEncoder().encode(GGUF_MAGIC));
  out.u32(GGUF_VERSION);
  out.u64(BigInt(file.tensors.length));
  out.u64(BigInt(metadata.length));
  for (const [k, v] of metadata) {
    out.string(k);
    writeValue(out, v, `gguf metadata "${k}"`);
  }
  const names = new Set<string>();
  const tensors: { name: string; ne: number[]; type: GgmlType; offset: number; bytes: number }[] = [];
  let offset = 0;
  for (const t of file.tensors) {
    const where = `gguf tensor "${t.name}"`;
    const nameBytes = new TextEncoder().encode(t.name).length;
    if (nameBytes === 0 || nameBytes > GGUF_MAX_TENSOR_NAME_BYTES) throw new FormatError(where, `a name of 1 to ${GGUF_MAX_TENSOR_NAME_BYTES} bytes (ggml's GGML_MAX_NAME)`, `${nameBytes} bytes`);
    if (names.has(t.name)) throw new FormatError(where, 'each tensor name once', 'a repeated name');
    names.add(t.name);
    if (!(t.type in GGML_TYPES)) throw new FormatError(where, `a type in ${Object.keys(GGML_TYPES).join(', ')}`, String(t.type));
    if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isSafeInteger(d) && d > 0)) throw new FormatError(where, '1 to 4 positive dimensions', `[${t.shape.join(', ')}]`);
    const ne = [...t.shape].reverse();
    if (t.type === 'Q8_0' && ne[0] % Q8_0_BLOCK !== 0) throw new FormatError(where, `an innermost dimension that is a multiple of ${Q8_0_BLOCK} for Q8_0`, `${ne[0]} (shape [${t.shape.join(', ')}])`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    const bytes = ggmlTensorBytes(t.type, count);
    out.string(t.name);
    out.u32(ne.length);
    for (const d of ne) out.u64(BigInt(d));
    out.u32(GGML_TYPES[t.type]);
    out.u64(BigInt(offset));
    tensors.push({ name: t.name, ne, type: t.type, offset, bytes });
    offset += Math.ceil(bytes / alignment) * alignment;
  }
  out.pad(alignment);
  const dataStart = out.length;
  const last = tensors[tensors.length - 1];
  return { header: out.bytes(), layout: { dataStart, tensors, totalBytes: dataStart + (last ? last.offset + last.bytes : 0) } };
}

async function tensorBytes(t: GgufTensor, expectedBytes: number): Promise<Uint8Array> {
  const where = `gguf tensor "${t.name}"`;
  const values = typeof t.data === 'function' ? await t.data() : t.data;
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (!(values instanceof Float32Array) || values.length !== count) {
    throw new FormatError(where, `${count} f32 values (shape [${t.shape.join(', ')}])`, values instanceof Float32Array ? `${values.length} values` : typeof values);
  }
  const bytes = encodeGgmlTensor(t.type, values, where);
  if (bytes.byteLength !== expectedBytes) throw new Error(`internal: ${where} encoded to ${bytes.byteLength} bytes, planned ${expectedBytes}`);
  return bytes;
}

/** Encode a whole GGUF file in memory (small files and tests). */
export async function encodeGguf(file: GgufFile): Promise<Uint8Array> {
  const { header, layout } = encodeGgufHeader(file);
  const out = new Uint8Array(layout.totalBytes);
  out.set(header, 0);
  for (let i = 0; i < file.tensors.length; i++) out.set(await tensorBytes(file.tensors[i], layout.tensors[i].bytes), layout.dataStart + layout.tensors[i].offset);
  return out;
}

export interface WriteGgufOptions extends AtomicOutputOptions {
  /** fsync before the rename (default true). */
  readonly fsync?: boolean;
}

/**
 * Write `file` to `path` atomically, one tensor at a time: everything is validated (and the output
 * checked against `inputs` and for existence unless `force`) before the first byte is written.
 */
export async function writeGguf(path: string, file: GgufFile, options: WriteGgufOptions = {}): Promise<GgufLayout> {
  const { header, layout } = encodeGgufHeader(file);
  await writeFileAtomic(
    path,
    async (handle) => {
      let position = 0;
      const write = async (bytes: Uint8Array) => {
        let done = 0;
        while (done < bytes.byteLength) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      };
      await write(header);
      for (let i = 0; i < file.tensors.length; i++) {
        const info = layout.tensors[i];
        const pad = layout.dataStart + info.offset - position;
        if (pad > 0) await write(new Uint8Array(pad));
        await write(await tensorBytes(file.tensors[i], info.bytes));
      }
    },
    { checkOutput: true, force: options.force, inputs: options.inputs, fsync: options.fsync },
  );
  return layout;
}
