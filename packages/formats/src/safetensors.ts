/**
 * safetensors files: lazy reading (the header is parsed and validated on open; a tensor's bytes are
 * read when asked for), atomic writing in the reference library's layout, in-memory encode/decode,
 * and sharded models (`model.safetensors.index.json` with a `weight_map`).
 *
 * Little-endian hosts only (every platform Node runs on in practice); typed arrays view the bytes
 * as they are stored.
 */
import { endianness } from 'node:os';
import { type FileHandle, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { UnsupportedError } from '@kvant/abi';
import { writeFileAtomic } from './atomic-dir';
import { SafetensorsError } from './errors';
import { FileSystemError } from './fs-errors';
import { openRegularFile, readRegularFile } from './regular-file';
import {
  buildSafetensorsHeader,
  checkHeaderLength,
  elementCount,
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  referenceOrder,
  SAFETENSORS_DTYPES,
  type SafetensorsArray,
  type SafetensorsDtype,
  type TensorEntry,
} from './safetensors-format';
import { isJsonObject, parseStrictJson, StrictJsonError } from './strict-json';

export * from './safetensors-format';

/** A tensor in host memory: row-major, contiguous. */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: SafetensorsArray;
}

/** A tensor's description without its data. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /** The file that holds it. */
  readonly file: string;
}

/** Read access to named tensors, from one file or from the shards of an index. */
export interface TensorStore {
  /** The file or index this store was opened from. */
  readonly path: string;
  /** Tensor names, in data order (single file) or index order (sharded). */
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  list(): TensorInfo[];
  /** The raw bytes of one tensor (a fresh, 8-byte aligned buffer). */
  readBytes(name: string): Promise<Uint8Array>;
  /** One tensor as its typed array. */
  read(name: string): Promise<SafetensorsTensor>;
  /** Release the file handles. */
  close(): Promise<void>;
}

function checkLittleEndian(): void {
  if (endianness() !== 'LE') throw new UnsupportedError('@kvant/formats', 'safetensors on a big-endian host', 'the format stores little-endian data');
}

/** The typed array of `dtype` over a fresh aligned buffer holding `bytes` (already aligned: no copy). */
function arrayOf(dtype: SafetensorsDtype, bytes: Uint8Array): SafetensorsArray {
  const info = SAFETENSORS_DTYPES[dtype];
  if (bytes.byteOffset % info.bytes !== 0) bytes = bytes.slice();
  return new info.array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / info.bytes);
}

const CHUNK = 1 << 30; // one read or write call moves at most 1 GiB (Node's limit is 2 GiB - 1)

async function readFully(handle: FileHandle, into: Uint8Array, position: number, file: string, tensor: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const length = Math.min(CHUNK, into.byteLength - done);
    const { bytesRead } = await handle.read(into, done, length, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError('truncated', file, tensor, `${into.byteLength} bytes at file offset ${position}`, `end of file after ${done} bytes (was the file changed after it was opened?)`);
    }
    done += bytesRead;
  }
}

export interface OpenOptions {
  /** Largest header accepted (default 100 MB, as the reference library). */
  readonly maxHeaderBytes?: number;
}

/** One safetensors file, opened lazily: the header is validated now, tensors are read on demand. */
export class SafetensorsFile implements TensorStore {
  private readonly byName: Map<string, TensorEntry>;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** Byte offset of the data section in the file (8 + header length). */
    readonly dataOffset: number,
    /** Entries in data order. */
    readonly entries: readonly TensorEntry[],
    /** `__metadata__` (empty when absent). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  /** Open `path` and validate its header; throws SafetensorsError for any broken rule. */
  static async open(path: string, options: OpenOptions = {}): Promise<SafetensorsFile> {
    checkLittleEndian();
    let handle: FileHandle;
    try {
      handle = await openRegularFile(path, 'a readable safetensors file (a regular file)');
    } catch (e) {
      if (e instanceof FileSystemError) throw new SafetensorsError('file', path, undefined, e.expected, e.found);
      throw e;
    }
    try {
      const { size } = await handle.stat();
      const prefix = new Uint8Array(8);
      if (size >= 8) await readFully(handle, prefix, 0, path, '<header length>');
      const n = checkHeaderLength(prefix, size, path, options.maxHeaderBytes ?? MAX_HEADER_BYTES);
      const headerBytes = new Uint8Array(n);
      await readFully(handle, headerBytes, 8, path, '<header>');
      const header = parseSafetensorsHeader(headerBytes, size - 8 - n, path);
      return new SafetensorsFile(path, handle, 8 + n, header.entries, header.metadata);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The header entry of `name` (offsets relative to the data section). */
  entry(name: string): TensorEntry {
    const e = this.byName.get(name);
    if (!e) throw new SafetensorsError('entry', this.path, name, 'a tensor of that name', `no such tensor among ${this.entries.length}`);
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { name, dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin, file: this.path };
  }

  list(): TensorInfo[] {
    return this.entries.map((e) => this.info(e.name));
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    const bytes = new Uint8Array(e.end - e.begin);
    await readFully(this.handle, bytes, this.dataOffset + e.begin, this.path, name);
    return bytes;
  }

  async read(name: string): Promise<SafetensorsTensor> {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: e.shape, data: arrayOf(e.dtype, await this.readBytes(name)) };
  }

  /** Every tensor, read in data order. */
  async readAll(): Promise<Map<string, SafetensorsTensor>> {
    const out = new Map<string, SafetensorsTensor>();
    for (const e of this.entries) out.set(e.name, await this.read(e.name));
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** A tensor to write; `data` may be a function, called when the writer reaches it (large models). */
export interface TensorToWrite {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** The dtype's typed array (see SafetensorsArray), or a Uint8Array of raw little-endian bytes. */
  readonly data: SafetensorsArray | (() => SafetensorsArray | Promise<SafetensorsArray>);
}

/** Named tensors: an object, a Map, or [name, tensor] pairs (kept in the given order). */
export type TensorsToWrite = Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite> | Iterable<readonly [string, TensorToWrite]>;

interface PlannedTensor extends TensorToWrite {
  readonly name: string;
  readonly byteLength: number;
}

function planTensors(tensors: TensorsToWrite, file: string): PlannedTensor[] {
  const pairs: Iterable<readonly [string, TensorToWrite]> =
    Symbol.iterator in tensors ? (tensors as Iterable<readonly [string, TensorToWrite]>) : Object.entries(tensors as Record<string, TensorToWrite>);
  const seen = new Set<string>();
  const out: PlannedTensor[] = [];
  for (const [name, t] of pairs) {
    if (name === '__metadata__') throw new SafetensorsError('write', file, name, 'a tensor name other than __metadata__', JSON.stringify(name));
    if (seen.has(name)) throw new SafetensorsError('write', file, name, 'each tensor name once', 'a repeated name');
    seen.add(name);
    if (!Object.hasOwn(SAFETENSORS_DTYPES, t.dtype)) throw new SafetensorsError('write', file, name, `a dtype in ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`, String(t.dtype));
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError('write', file, name, 'a shape of non-negative integers', JSON.stringify(t.shape));
    const count = elementCount(t.shape);
    if (count === undefined) throw new SafetensorsError('write', file, name, 'fewer than 2^53 elements', `shape [${t.shape.join(', ')}]`);
    const planned = { name, dtype: t.dtype, shape: [...t.shape], data: t.data, byteLength: count * SAFETENSORS_DTYPES[t.dtype].bytes };
    if (typeof t.data !== 'function') checkData(planned, t.data, file);
    out.push(planned);
  }
  return out;
}

function checkData(t: PlannedTensor, data: SafetensorsArray, file: string): Uint8Array {
  const Expected = SAFETENSORS_DTYPES[t.dtype].array;
  if (!(data instanceof Expected) && !(data instanceof Uint8Array)) {
    throw new SafetensorsError('write', file, t.name, `a ${Expected.name} (or a Uint8Array of raw bytes) for ${t.dtype}`, `a ${data?.constructor?.name ?? typeof data}`);
  }
  if (data.byteLength !== t.byteLength) {
    throw new SafetensorsError('write', file, t.name, `${t.byteLength} bytes (shape [${t.shape.join(', ')}] of ${t.dtype})`, `${data.byteLength} bytes of data`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export interface WriteOptions {
  /** `__metadata__` (string -> string), e.g. `{format: 'pt'}` as transformers writes. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** fsync before the atomic rename (default true). */
  readonly fsync?: boolean;
}

function checkMetadata(metadata: Readonly<Record<string, string>> | undefined, file: string): void {
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw new SafetensorsError('metadata', file, undefined, 'metadata values to be strings', `${JSON.stringify(k)}: ${typeof v}`);
  }
}

/** Writes in file order, coalescing small tensors into one write call. */
class FileWriter {
  private position = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  constructor(private readonly handle: FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength < 1 << 20) {
      this.pending.push(bytes);
      this.pendingBytes += bytes.byteLength;
      if (this.pendingBytes >= 8 << 20) await this.flush();
      return;
    }
    await this.flush();
    await this.writeNow(bytes);
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const joined = new Uint8Array(this.pendingBytes);
    let at = 0;
    for (const p of this.pending) {
      joined.set(p, at);
      at += p.byteLength;
    }
    this.pending = [];
    this.pendingBytes = 0;
    await this.writeNow(joined);
  }

  private async writeNow(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.handle.write(bytes, done, Math.min(CHUNK, bytes.byteLength - done), this.position);
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }
}

/**
 * Write one safetensors file atomically (temporary sibling + rename), tensors ordered as the
 * reference library orders them (dtype alignment descending, then name) and the header padded
 * with spaces to a multiple of 8. Data given as functions is fetched one tensor at a time.
 */
export async function writeSafetensors(path: string, tensors: TensorsToWrite, options: WriteOptions = {}): Promise<TensorEntry[]> {
  checkLittleEndian();
  checkMetadata(options.metadata, path);
  const ordered = referenceOrder(planTensors(tensors, path));
  const header = buildSafetensorsHeader(ordered, options.metadata);
  await writeFileAtomic(
    path,
    async (handle) => {
      const out = new FileWriter(handle);
      await out.write(header.bytes);
      for (const t of ordered) {
        const data = typeof t.data === 'function' ? await t.data() : t.data;
        await out.write(checkData(t, data, path));
      }
      await out.flush();
    },
    { fsync: options.fsync },
  );
  return header.entries;
}

/** Encode tensors (data given as arrays) into the bytes of one safetensors file, in memory. */
export function encodeSafetensors(tensors: TensorsToWrite, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const file = '<encodeSafetensors>';
  checkMetadata(metadata, file);
  const ordered = referenceOrder(planTensors(tensors, file));
  const header = buildSafetensorsHeader(ordered, metadata);
  const total = header.entries.reduce((n, e) => n + e.end - e.begin, header.bytes.byteLength);
  const out = new Uint8Array(total);
  out.set(header.bytes, 0);
  ordered.forEach((t, i) => {
    if (typeof t.data === 'function') throw new SafetensorsError('write', file, t.name, 'data as a typed array (use writeSafetensors for lazy data)', 'a function');
    out.set(checkData(t, t.data, file), header.bytes.byteLength + header.entries[i].begin);
  });
  return out;
}

/** Decode (and validate) the bytes of one safetensors file held in memory. */
export function decodeSafetensors(bytes: Uint8Array, file = '<buffer>'): { metadata: Record<string, string>; tensors: Map<string, SafetensorsTensor> } {
  checkLittleEndian();
  const n = checkHeaderLength(bytes.subarray(0, 8), bytes.byteLength, file);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.byteLength - 8 - n, file);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of header.entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: arrayOf(e.dtype, bytes.slice(8 + n + e.begin, 8 + n + e.end)) });
  }
  return { metadata: { ...header.metadata }, tensors };
}

// ---------------------------------------------------------------------------------------------
// Sharded models

/** A shard name relative to its index's folder: no absolute path, no `.` or `..` segment (`..weird.safetensors` is fine). */
function isRelativeInside(file: string): boolean {
  if (file === '' || isAbsolute(file) || file.includes('\\') || file.includes('\0')) return false;
  return file.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** The file name transformers gives shard `i` (1-based) of `count`: `model-00001-of-00003.safetensors`. */
export function shardFileName(prefix: string, i: number, count: number): string {
  return `${prefix}-${String(i).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

/** The tensors of an index, each opened lazily from its shard. */
export class ShardedSafetensors implements TensorStore {
  private constructor(
    readonly path: string,
    /** The index's `metadata` object (e.g. `{total_size}`), as read. */
    readonly indexMetadata: Readonly<Record<string, unknown>>,
    /** Tensor name -> shard file name, in index order. */
    readonly weightMap: ReadonlyMap<string, string>,
    /** Shard file name -> open file. */
    readonly shards: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  /**
   * Open `model.safetensors.index.json` and every shard it names; checks that each tensor of the
   * weight map is in its shard. Throws SafetensorsError (kind 'index') naming the index or shard.
   */
  static async open(indexPath: string, options: OpenOptions = {}): Promise<ShardedSafetensors> {
    let text: string;
    try {
      text = (await readRegularFile(indexPath, 'a readable index file (a regular file)')).toString('utf8');
    } catch (e) {
      if (e instanceof FileSystemError) throw new SafetensorsError('file', indexPath, undefined, e.expected, e.found);
      throw e;
    }
    let root: ReturnType<typeof parseStrictJson>;
    try {
      root = parseStrictJson(text);
    } catch (e) {
      if (e instanceof StrictJsonError) throw new SafetensorsError(e.kind === 'duplicate-key' ? 'duplicate-key' : 'index', indexPath, undefined, 'a valid JSON index', e.message);
      throw e;
    }
    if (!isJsonObject(root) || !isJsonObject(root.weight_map)) {
      throw new SafetensorsError('index', indexPath, undefined, 'a JSON object with a "weight_map" object', text.slice(0, 80));
    }
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(root.weight_map)) {
      if (typeof file !== 'string' || !isRelativeInside(file)) {
        throw new SafetensorsError('index', indexPath, name, 'a shard file name relative to the index folder', JSON.stringify(file));
      }
      weightMap.set(name, file);
    }
    const shards = new Map<string, SafetensorsFile>();
    const store = new ShardedSafetensors(indexPath, isJsonObject(root.metadata) ? { ...root.metadata } : {}, weightMap, shards);
    try {
      for (const file of [...new Set(weightMap.values())].sort()) shards.set(file, await SafetensorsFile.open(join(dirname(indexPath), file), options));
      for (const [name, file] of weightMap) {
        if (!shards.get(file)!.has(name)) {
          throw new SafetensorsError('index', indexPath, name, `the tensor in shard ${file} (as weight_map says)`, `no such tensor in ${file}`);
        }
      }
      // transformers loads every tensor of a shard, listed or not; a reader that followed weight_map
      // alone would silently drop the others, so the disagreement is refused.
      for (const [file, shard] of shards) {
        for (const name of shard.names()) {
          if (weightMap.get(name) !== file) {
            const listed = weightMap.get(name);
            throw new SafetensorsError(
              'index',
              indexPath,
              name,
              `every tensor of shard ${file} listed in weight_map with that shard (transformers loads whole shards)`,
              listed === undefined ? `a tensor of ${file} that weight_map does not list` : `a tensor of ${file} that weight_map puts in ${listed}`,
            );
          }
        }
      }
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  names(): string[] {
    return [...this.weightMap.keys()];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  private shardOf(name: string): SafetensorsFile {
    const file = this.weightMap.get(name);
    if (file === undefined) throw new SafetensorsError('entry', this.path, name, 'a tensor of that name in weight_map', `no such tensor among ${this.weightMap.size}`);
    return this.shards.get(file)!;
  }

  info(name: string): TensorInfo {
    return this.shardOf(name).info(name);
  }

  list(): TensorInfo[] {
    return this.names().map((n) => this.info(n));
  }

  readBytes(name: string): Promise<Uint8Array> {
    return this.shardOf(name).readBytes(name);
  }

  read(name: string): Promise<SafetensorsTensor> {
    return this.shardOf(name).read(name);
  }

  async close(): Promise<void> {
    for (const s of this.shards.values()) await s.close();
  }
}

/**
 * Open a safetensors file, a sharded index (`*.index.json`), or a folder holding
 * `model.safetensors.index.json` or `model.safetensors`.
 */
export async function openSafetensors(path: string, options: OpenOptions = {}): Promise<TensorStore> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw new SafetensorsError('file', path, undefined, 'a safetensors file, index or folder', (e as Error).message);
  }
  if (isDir) {
    const index = join(path, 'model.safetensors.index.json');
    if (await stat(index).then(() => true, () => false)) return ShardedSafetensors.open(index, options);
    const single = join(path, 'model.safetensors');
    if (await stat(single).then(() => true, () => false)) return SafetensorsFile.open(single, options);
    throw new SafetensorsError('file', path, undefined, 'a folder with model.safetensors or model.safetensors.index.json', 'neither file');
  }
  if (basename(path).endsWith('.index.json')) return ShardedSafetensors.open(path, options);
  return SafetensorsFile.open(path, options);
}

export interface ShardedWriteOptions extends WriteOptions {
  /** Largest shard in bytes of tensor data; a tensor larger than this gets a shard of its own. */
  readonly maxShardBytes: number;
  /** File name prefix (default `model`): `model-00001-of-00002.safetensors`, `model.safetensors.index.json`. */
  readonly prefix?: string;
}

export interface ShardedWriteResult {
  /** Shard file names, in order. */
  readonly files: string[];
  /** The index file name, when there is more than one shard. */
  readonly indexFile?: string;
  /** Tensor name -> shard file name. */
  readonly weightMap: Record<string, string>;
  /** Bytes of tensor data in all shards (the index's `metadata.total_size`). */
  readonly totalSize: number;
}

/**
 * Write tensors into `dir` split into shards of at most `maxShardBytes`, as transformers'
 * `save_pretrained` does: tensors are taken in the given order and a new shard starts when the next
 * tensor would overflow the current one. One shard is written as `<prefix>.safetensors` with no
 * index; more as `<prefix>-0000i-of-0000N.safetensors` plus `<prefix>.safetensors.index.json`
 * (sorted keys, 2-space indent). Each file is written atomically; use writeDirAtomic around this
 * to make the whole folder atomic.
 */
export async function writeSafetensorsSharded(dir: string, tensors: TensorsToWrite, options: ShardedWriteOptions): Promise<ShardedWriteResult> {
  const prefix = options.prefix ?? 'model';
  const indexPath = join(dir, `${prefix}.safetensors.index.json`);
  if (!(options.maxShardBytes > 0)) throw new SafetensorsError('write', indexPath, undefined, 'maxShardBytes > 0', String(options.maxShardBytes));
  const planned = planTensors(tensors, indexPath);
  const shards: PlannedTensor[][] = [];
  let current: PlannedTensor[] = [];
  let currentBytes = 0;
  for (const t of planned) {
    if (t.byteLength > options.maxShardBytes) {
      shards.push([t]);
      continue;
    }
    if (currentBytes + t.byteLength > options.maxShardBytes && current.length > 0) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += t.byteLength;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);

  const files = shards.length === 1 ? [`${prefix}.safetensors`] : shards.map((_, i) => shardFileName(prefix, i + 1, shards.length));
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let i = 0; i < shards.length; i++) {
    await writeSafetensors(join(dir, files[i]), shards[i].map((t) => [t.name, t] as const), options);
    for (const t of shards[i]) {
      weightMap[t.name] = files[i];
      totalSize += t.byteLength;
    }
  }
  if (shards.length === 1) return { files, weightMap, totalSize };
  const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
  const index = { metadata: { total_size: totalSize }, weight_map: sortedMap };
  await writeFileAtomic(indexPath, `${JSON.stringify(index, null, 2)}\n`, { fsync: options.fsync });
  return { files, indexFile: basename(indexPath), weightMap, totalSize };
}
