/**
 * The safetensors format, independent of where the bytes live: dtypes, header parsing with strict
 * validation, and header building in the reference library's layout.
 *
 * File layout (https://huggingface.co/docs/safetensors): 8 bytes little-endian u64 N, then N bytes
 * of UTF-8 JSON (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}`,
 * padded with spaces), then the data section. Offsets are relative to the data section, which the
 * tensors must cover entirely, with no overlap and no hole.
 */
import { SafetensorsError } from './errors';
import { isJsonObject, parseStrictJson, StrictJsonError } from './strict-json';

/** Element dtypes kvant reads and writes, with their typed arrays. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'U64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

/** The typed array each dtype reads back as (F16 and BF16 as raw u16 bits, I64 as BigInt64Array). */
export type SafetensorsArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

interface DtypeInfo {
  /** Bytes per element. */
  readonly bytes: number;
  /**
   * Position in the reference library's `Dtype` enum; files list tensors by this, descending
   * (largest alignment first), then by name, so an aligned reader can map them.
   */
  readonly rank: number;
  readonly array: new (buffer: ArrayBuffer, byteOffset: number, length: number) => SafetensorsArray;
}

/** Byte size, ordering rank and typed array of every dtype kvant knows. */
export const SAFETENSORS_DTYPES: Readonly<Record<SafetensorsDtype, DtypeInfo>> = {
  BOOL: { bytes: 1, rank: 0, array: Uint8Array },
  U8: { bytes: 1, rank: 1, array: Uint8Array },
  I8: { bytes: 1, rank: 2, array: Int8Array },
  I16: { bytes: 2, rank: 6, array: Int16Array },
  U16: { bytes: 2, rank: 7, array: Uint16Array },
  F16: { bytes: 2, rank: 8, array: Uint16Array },
  BF16: { bytes: 2, rank: 9, array: Uint16Array },
  I32: { bytes: 4, rank: 10, array: Int32Array },
  U32: { bytes: 4, rank: 11, array: Uint32Array },
  F32: { bytes: 4, rank: 12, array: Float32Array },
  F64: { bytes: 8, rank: 14, array: Float64Array },
  I64: { bytes: 8, rank: 15, array: BigInt64Array },
  U64: { bytes: 8, rank: 16, array: BigUint64Array },
};

const DTYPE_NAMES = Object.keys(SAFETENSORS_DTYPES) as SafetensorsDtype[];

/** True when `s` names a dtype kvant knows. */
export function isSafetensorsDtype(s: string): s is SafetensorsDtype {
  return Object.hasOwn(SAFETENSORS_DTYPES, s);
}

/** One tensor's header entry. `begin`/`end` are byte offsets into the data section. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A parsed, validated header. */
export interface SafetensorsHeader {
  /** Entries in data order (by offset). */
  readonly entries: readonly TensorEntry[];
  /** `__metadata__`, or an empty map when absent. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The reference library refuses headers above 100 MB; so does kvant by default. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Number of elements of `shape`, or undefined when it exceeds 2^53. */
export function elementCount(shape: readonly number[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

/**
 * Check the 8-byte header length against the file size; returns N.
 * `prefix` is the first 8 bytes (or fewer when the file is shorter).
 */
export function checkHeaderLength(prefix: Uint8Array, fileSize: number, file: string, maxHeaderBytes = MAX_HEADER_BYTES): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new SafetensorsError('header-length', file, undefined, 'at least 8 bytes (the u64 header length)', `a file of ${fileSize} bytes`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) throw new SafetensorsError('header-length', file, undefined, 'a header length > 0', 'a header length of 0');
  if (n > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError('header-length', file, undefined, `a header length <= ${maxHeaderBytes} bytes`, `${n} bytes`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw new SafetensorsError(
      'header-length',
      file,
      undefined,
      `a header length <= ${fileSize - 8} bytes (file size ${fileSize} minus 8)`,
      `${n} bytes (the file is truncated or the length is wrong)`,
    );
  }
  return Number(n);
}

const describe = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parse and validate the header bytes (after the 8-byte length) of a file whose data section has
 * `dataLength` bytes. Every rule of the format is checked; the first broken one throws a
 * SafetensorsError naming the file and tensor.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataLength: number, file: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('header-utf8', file, undefined, 'a UTF-8 JSON header', 'bytes that are not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    throw new SafetensorsError('header-json', file, undefined, "a JSON object starting with '{'", `header text starting with ${describe(text.slice(0, 16))}`);
  }
  let root: ReturnType<typeof parseStrictJson>;
  try {
    root = parseStrictJson(text, { integersOnly: true });
  } catch (e) {
    if (e instanceof StrictJsonError) {
      if (e.kind === 'duplicate-key') throw new SafetensorsError('duplicate-key', file, undefined, 'each key once in the header', `${e.detail} (character ${e.position})`);
      if (e.kind === 'non-integer') throw new SafetensorsError('entry', file, e.keyPath[0], 'integer shapes and data_offsets (the format has no floats)', `${e.detail} (character ${e.position})`);
      throw new SafetensorsError('header-json', file, undefined, 'a valid JSON header', `${e.detail} at character ${e.position} of ${text.length}`);
    }
    throw e;
  }
  if (!isJsonObject(root)) throw new SafetensorsError('header-json', file, undefined, 'a JSON object', describe(root));

  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!isJsonObject(value)) throw new SafetensorsError('metadata', file, undefined, '__metadata__ to be an object of strings', describe(value));
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') {
          throw new SafetensorsError('metadata', file, undefined, `__metadata__ values to be strings`, `${JSON.stringify(k)}: ${describe(v)}`);
        }
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    if (!isJsonObject(value)) {
      throw new SafetensorsError('entry', file, name, 'an object {dtype, shape, data_offsets}', describe(value));
    }
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') throw new SafetensorsError('entry', file, name, 'a string dtype', describe(dtype));
    if (!isSafetensorsDtype(dtype)) throw new SafetensorsError('dtype', file, name, `a dtype in ${DTYPE_NAMES.join(', ')}`, JSON.stringify(dtype));
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new SafetensorsError('entry', file, name, 'a shape of non-negative integers', describe(shape));
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw new SafetensorsError('entry', file, name, 'data_offsets [begin, end] of two non-negative integers', describe(offsets));
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new SafetensorsError('offsets', file, name, 'data_offsets with begin <= end', `[${begin}, ${end}]`);
    if (end > dataLength) {
      throw new SafetensorsError('offsets', file, name, `data_offsets within the data section of ${dataLength} bytes`, `[${begin}, ${end}]`);
    }
    const count = elementCount(shape as number[]);
    const bytes = count === undefined ? undefined : count * SAFETENSORS_DTYPES[dtype].bytes;
    if (bytes === undefined || bytes !== end - begin) {
      throw new SafetensorsError(
        'size',
        file,
        name,
        `${bytes ?? 'more than 2^53'} bytes (shape [${shape.join(', ')}] of ${dtype}, ${SAFETENSORS_DTYPES[dtype].bytes} bytes each)`,
        `${end - begin} bytes (data_offsets [${begin}, ${end}])`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The data section must be covered exactly: sorted by offset, each tensor starts where the
  // previous one ended, and the last one ends at the end of the file.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: string | undefined;
  for (const e of entries) {
    if (e.begin < position) {
      throw new SafetensorsError('overlap', file, e.name, `data_offsets starting at or after byte ${position}, where "${previous}" ends`, `[${e.begin}, ${e.end}], which overlaps "${previous}"`);
    }
    if (e.begin > position) {
      throw new SafetensorsError(
        'hole',
        file,
        e.name,
        `data_offsets starting at byte ${position} (${previous === undefined ? 'the start of the data section' : `where "${previous}" ends`})`,
        `[${e.begin}, ${e.end}], leaving ${e.begin - position} bytes that no tensor covers`,
      );
    }
    position = e.end;
    previous = e.name;
  }
  if (position !== dataLength) {
    throw new SafetensorsError('hole', file, undefined, `a data section of ${position} bytes (where the last tensor ends)`, `${dataLength} bytes (${dataLength - position} bytes that no tensor covers)`);
  }
  return { entries, metadata };
}

/** What the header builder needs of each tensor. */
export interface HeaderTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

const utf8 = new TextEncoder();

/** Compare names as the reference library does (UTF-8 bytes). */
function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** The order the reference library writes tensors in: dtype rank descending, then name. */
export function referenceOrder<T extends HeaderTensor>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => SAFETENSORS_DTYPES[b.dtype].rank - SAFETENSORS_DTYPES[a.dtype].rank || compareNames(a.name, b.name));
}

/**
 * Build the header for tensors already in write order: compact JSON with `__metadata__` first (when
 * non-empty), then each tensor with consecutive offsets, padded with spaces to a multiple of 8 bytes,
 * as the reference library does. Returns the 8-byte length plus header, and each tensor's entry.
 */
export function buildSafetensorsHeader(ordered: readonly HeaderTensor[], metadata?: Readonly<Record<string, string>>): { bytes: Uint8Array; entries: TensorEntry[] } {
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const t of ordered) {
    const bytes = (elementCount(t.shape) ?? Number.NaN) * SAFETENSORS_DTYPES[t.dtype].bytes;
    const entry: TensorEntry = { name: t.name, dtype: t.dtype, shape: [...t.shape], begin: offset, end: offset + bytes };
    entries.push(entry);
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${entry.begin},${entry.end}]}`);
    offset += bytes;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return { bytes: out, entries };
}
