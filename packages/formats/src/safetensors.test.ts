import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError, type SafetensorsErrorKind } from './errors';
import {
  decodeSafetensors,
  encodeSafetensors,
  openSafetensors,
  SafetensorsFile,
  type SafetensorsArray,
  type SafetensorsDtype,
  ShardedSafetensors,
  type TensorToWrite,
  writeSafetensors,
  writeSafetensorsSharded,
} from './safetensors';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvant-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One tensor of every dtype, with edge values (NaN payloads, -0, extremes of each integer type). */
function everyDtype(): Record<string, TensorToWrite> {
  return {
    f64: { dtype: 'F64', shape: [2, 2], data: new Float64Array([1.5, -0, Number.NaN, Number.MAX_VALUE]) },
    f32: { dtype: 'F32', shape: [3], data: new Float32Array([Math.fround(0.1), Number.NEGATIVE_INFINITY, 1e-45]) },
    f16: { dtype: 'F16', shape: [2, 3], data: new Uint16Array([0x3c00, 0x8000, 0x7c00, 0x7e01, 0x0001, 0x7bff]) },
    bf16: { dtype: 'BF16', shape: [4], data: new Uint16Array([0x3f80, 0xbf80, 0x7fc1, 0x0001]) },
    i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]) },
    u64: { dtype: 'U64', shape: [2], data: new BigUint64Array([0n, 2n ** 64n - 1n]) },
    i32: { dtype: 'I32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
    u32: { dtype: 'U32', shape: [2], data: new Uint32Array([0, 2 ** 32 - 1]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    i8: { dtype: 'I8', shape: [2, 1], data: new Int8Array([-128, 127]) },
    u8: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
    bool: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([2.5]) },
    empty: { dtype: 'F16', shape: [0, 7], data: new Uint16Array(0) },
  };
}

const bytesOf = (a: SafetensorsArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('safetensors round trips', () => {
  it('writes and lazily reads back every dtype bit for bit, with metadata', async () => {
    const path = join(dir, 'every.safetensors');
    const tensors = everyDtype();
    await writeSafetensors(path, tensors, { metadata: { format: 'pt', note: 'kvant' } });
    const file = await SafetensorsFile.open(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt', note: 'kvant' });
      expect(new Set(file.names())).toEqual(new Set(Object.keys(tensors)));
      for (const [name, t] of Object.entries(tensors)) {
        const back = await file.read(name);
        expect(back.dtype, name).toBe(t.dtype);
        expect(back.shape, name).toEqual(t.shape);
        expect(back.data.constructor, name).toBe((t.data as SafetensorsArray).constructor);
        expect(bytesOf(back.data), name).toEqual(bytesOf(t.data as SafetensorsArray));
      }
      expect((await file.read('i64')).data).toEqual(new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]));
    } finally {
      await file.close();
    }
  });

  it('encodes in memory to the same bytes it writes to disk, and decodes them', async () => {
    const path = join(dir, 'same.safetensors');
    await writeSafetensors(path, everyDtype(), { metadata: { format: 'pt' } });
    const encoded = encodeSafetensors(everyDtype(), { format: 'pt' });
    expect(new Uint8Array(await readFile(path))).toEqual(encoded);
    const { metadata, tensors } = decodeSafetensors(encoded);
    expect(metadata).toEqual({ format: 'pt' });
    for (const [name, t] of Object.entries(everyDtype())) expect(bytesOf(tensors.get(name)!.data), name).toEqual(bytesOf(t.data as SafetensorsArray));
  });

  it('lays the file out as the reference library does: dtype rank then name, header padded to 8 with spaces', () => {
    const bytes = encodeSafetensors({
      b: { dtype: 'BF16', shape: [3], data: new Uint16Array(3) },
      a: { dtype: 'F32', shape: [2], data: new Float32Array(2) },
      c: { dtype: 'I64', shape: [1], data: new BigInt64Array(1) },
      d: { dtype: 'U8', shape: [5], data: new Uint8Array(5) },
      s: { dtype: 'F32', shape: [], data: new Float32Array(1) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe(
      '{"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
        '"s":{"dtype":"F32","shape":[],"data_offsets":[16,20]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[20,26]},' +
        '"d":{"dtype":"U8","shape":[5],"data_offsets":[26,31]}}',
    );
    expect(header.slice(header.trimEnd().length)).toMatch(/^ *$/);
  });

  it('accepts raw bytes for any dtype and lazy data providers', async () => {
    const path = join(dir, 'lazy.safetensors');
    let calls = 0;
    await writeSafetensors(path, [
      ['raw', { dtype: 'F32', shape: [2], data: bytesOf(new Float32Array([1, 2])) }],
      [
        'lazy',
        {
          dtype: 'I32',
          shape: [3],
          data: async () => {
            calls++;
            return new Int32Array([7, 8, 9]);
          },
        },
      ],
    ]);
    expect(calls).toBe(1);
    const store = await openSafetensors(path);
    expect(Array.from((await store.read('raw')).data as Float32Array)).toEqual([1, 2]);
    expect(Array.from((await store.read('lazy')).data as Int32Array)).toEqual([7, 8, 9]);
    await store.close();
  });

  it('refuses writes whose data disagrees with dtype or shape, naming the tensor', async () => {
    const cases: [string, Record<string, TensorToWrite>][] = [
      ['Float32Array', { w: { dtype: 'BF16', shape: [2], data: new Float32Array(2) } }],
      ['8 bytes', { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }],
      ['__metadata__', { __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } }],
      ['NOPE', { w: { dtype: 'NOPE' as SafetensorsDtype, shape: [1], data: new Uint8Array(1) } }],
    ];
    for (const [found, tensors] of cases) {
      const path = join(dir, 'bad-write.safetensors');
      const err = await writeSafetensors(path, tensors).catch((e) => e);
      expect(err, found).toBeInstanceOf(SafetensorsError);
      expect(err.kind).toBe('write');
      expect(err.message).toContain(found);
      await expect(readFile(path)).rejects.toThrow(/ENOENT/);
    }
    expect(() => encodeSafetensors({ w: { dtype: 'U8', shape: [1], data: () => new Uint8Array(1) } })).toThrow(SafetensorsError);
  });

  it('leaves no file, not even a temporary one, when a lazy tensor fails mid-write', async () => {
    const sub = join(dir, 'fail');
    await rm(sub, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(sub);
    const path = join(sub, 'model.safetensors');
    const failing = writeSafetensors(path, {
      a: { dtype: 'F32', shape: [1 << 18], data: new Float32Array(1 << 18) },
      b: {
        dtype: 'F32',
        shape: [4],
        data: () => {
          throw new Error('simulated failure while producing b');
        },
      },
    });
    await expect(failing).rejects.toThrow('simulated failure');
    expect(await readdir(sub)).toEqual([]);
  });
});

describe('sharded safetensors', () => {
  const tensors = (): [string, TensorToWrite][] =>
    Array.from({ length: 7 }, (_, i) => [`layer.${i}.weight`, { dtype: 'F32', shape: [i + 1, 100], data: new Float32Array((i + 1) * 100).fill(i) }] as [string, TensorToWrite]);

  it('splits in order at the max shard size (a large tensor alone), names shards -0000i-of-0000N, and reads back', async () => {
    const out = join(dir, 'sharded');
    await (await import('node:fs/promises')).mkdir(out, { recursive: true });
    // sizes: 400, 800, 1200, 1600, 2000, 2400, 2800 bytes; max 2000. As in huggingface_hub, a tensor
    // above the max gets its own shard at once, while the open shard stays open: [0,1] [2] [3] [5] [6] [4]
    const result = await writeSafetensorsSharded(out, tensors(), { maxShardBytes: 2000 });
    expect(result.files).toEqual([1, 2, 3, 4, 5, 6].map((i) => `model-0000${i}-of-00006.safetensors`));
    const shardOf = (i: number) => Number(result.weightMap[`layer.${i}.weight`].slice(6, 11));
    expect([0, 1, 2, 3, 4, 5, 6].map(shardOf)).toEqual([1, 1, 2, 3, 6, 4, 5]);
    expect(result.totalSize).toBe(11200);
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata).toEqual({ total_size: 11200 });
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());

    const store = await openSafetensors(out);
    expect(store).toBeInstanceOf(ShardedSafetensors);
    expect(store.names().sort()).toEqual(tensors().map(([n]) => n).sort());
    for (const [name, t] of tensors()) {
      const back = await store.read(name);
      expect(back.shape).toEqual(t.shape);
      expect(back.data).toEqual(t.data);
      expect(store.info(name).file).toContain(result.weightMap[name]);
    }
    await store.close();
  });

  it('writes a single model.safetensors and no index when everything fits', async () => {
    const out = join(dir, 'single');
    await (await import('node:fs/promises')).mkdir(out, { recursive: true });
    const result = await writeSafetensorsSharded(out, tensors(), { maxShardBytes: 1e9 });
    expect(result.files).toEqual(['model.safetensors']);
    expect(result.indexFile).toBeUndefined();
    expect((await readdir(out)).sort()).toEqual(['model.safetensors']);
    const store = await openSafetensors(out);
    expect(store).toBeInstanceOf(SafetensorsFile);
    await store.close();
  });

  it('rejects an index whose weight_map disagrees with its shards', async () => {
    const out = join(dir, 'bad-index');
    await (await import('node:fs/promises')).mkdir(out, { recursive: true });
    await writeSafetensorsSharded(out, tensors(), { maxShardBytes: 2000 });
    const indexPath = join(out, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    index.weight_map['layer.0.weight'] = 'model-00002-of-00006.safetensors';
    await writeFile(indexPath, JSON.stringify(index));
    const err = await ShardedSafetensors.open(indexPath).catch((e) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err.kind).toBe('index');
    expect(err.message).toContain('layer.0.weight');
    expect(err.message).toContain('model-00002-of-00006.safetensors');

    index.weight_map['layer.0.weight'] = '../outside.safetensors';
    await writeFile(indexPath, JSON.stringify(index));
    await expect(ShardedSafetensors.open(indexPath)).rejects.toMatchObject({ kind: 'index' });

    index.weight_map['layer.0.weight'] = 'missing.safetensors';
    await writeFile(indexPath, JSON.stringify(index));
    await expect(ShardedSafetensors.open(indexPath)).rejects.toMatchObject({ kind: 'file', file: join(out, 'missing.safetensors') });
  });
});

// ---------------------------------------------------------------------------------------------
// Corrupted files

const enc = new TextEncoder();

/** A file from a header (object or raw text), `dataBytes` of data, and optionally a lying length. */
function craft(header: unknown, dataBytes: number, options: { length?: bigint; raw?: Uint8Array } = {}): Uint8Array {
  const text = options.raw ?? enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, options.length ?? BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

const e = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });

interface Corruption {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly kind: SafetensorsErrorKind;
  /** Fragments the message must contain. */
  readonly says: string[];
  readonly tensor?: string;
}

const corruptions: Corruption[] = [
  { name: 'file shorter than the length prefix', bytes: new Uint8Array([1, 2, 3, 4, 5]), kind: 'header-length', says: ['at least 8 bytes', '5 bytes'] },
  { name: 'header length larger than the file', bytes: craft({}, 0, { length: 1000n }), kind: 'header-length', says: ['<= 2 bytes', '1000 bytes'] },
  { name: 'header length above 100 MB', bytes: craft({}, 0, { length: 2n ** 40n }), kind: 'header-length', says: ['<= 100000000', String(2n ** 40n)] },
  { name: 'header length zero', bytes: craft({}, 0, { length: 0n }), kind: 'header-length', says: ['> 0'] },
  { name: 'truncated header (JSON cut short)', bytes: craft('{"w":{"dtype":"F32","sha', 0), kind: 'header-json', says: ['valid JSON', 'at character'] },
  { name: 'bad JSON', bytes: craft('{"w": [1, 2,, 3]}', 0), kind: 'header-json', says: ['valid JSON'] },
  { name: 'header not an object', bytes: craft('[1, 2]', 0), kind: 'header-json', says: ["starting with '{'", '[1, 2]'] },
  { name: 'header not UTF-8', bytes: craft('', 0, { raw: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }), kind: 'header-utf8', says: ['UTF-8'] },
  {
    name: 'offsets out of bounds',
    bytes: craft({ w: e('F32', [4], [0, 16]) }, 8),
    kind: 'offsets',
    tensor: 'w',
    says: ['within the data section of 8 bytes', '[0, 16]'],
  },
  { name: 'begin after end', bytes: craft({ w: e('U8', [0], [8, 4]) }, 8), kind: 'offsets', tensor: 'w', says: ['begin <= end', '[8, 4]'] },
  {
    name: 'overlapping tensors',
    bytes: craft({ a: e('F32', [2], [0, 8]), b: e('F32', [2], [4, 12]) }, 12),
    kind: 'overlap',
    tensor: 'b',
    says: ['overlaps "a"', '[4, 12]'],
  },
  {
    name: 'two tensors on the same bytes',
    bytes: craft({ a: e('F32', [2], [0, 8]), b: e('I32', [2], [0, 8]) }, 8),
    kind: 'overlap',
    tensor: 'b',
    says: ['overlaps "a"'],
  },
  {
    name: 'shape disagrees with byte length',
    bytes: craft({ w: e('F32', [3, 3], [0, 32]) }, 32),
    kind: 'size',
    tensor: 'w',
    says: ['36 bytes (shape [3, 3] of F32', 'found 32 bytes'],
  },
  { name: 'unknown dtype', bytes: craft({ w: e('F8_E4M3', [4], [0, 4]) }, 4), kind: 'dtype', tensor: 'w', says: ['"F8_E4M3"', 'BF16'] },
  {
    name: 'hole between tensors',
    bytes: craft({ a: e('U8', [4], [0, 4]), b: e('U8', [4], [8, 12]) }, 12),
    kind: 'hole',
    tensor: 'b',
    says: ['starting at byte 4', '4 bytes that no tensor covers'],
  },
  { name: 'hole at the start', bytes: craft({ a: e('U8', [4], [4, 8]) }, 8), kind: 'hole', tensor: 'a', says: ['start of the data section'] },
  { name: 'trailing bytes after the last tensor', bytes: craft({ a: e('U8', [4], [0, 4]) }, 10), kind: 'hole', says: ['4 bytes', '10 bytes', '6 bytes that no tensor covers'] },
  { name: 'data section truncated', bytes: craft({ a: e('F32', [4], [0, 16]) }, 10), kind: 'offsets', tensor: 'a', says: ['10 bytes', '[0, 16]'] },
  {
    name: 'duplicate keys',
    bytes: craft('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2),
    kind: 'duplicate-key',
    says: ['duplicate key "w"'],
  },
  {
    name: 'duplicate keys inside an entry',
    bytes: craft('{"w":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}', 1),
    kind: 'duplicate-key',
    says: ['duplicate key "dtype"'],
  },
  { name: 'metadata value not a string', bytes: craft({ __metadata__: { step: 3 }, a: e('U8', [1], [0, 1]) }, 1), kind: 'metadata', says: ['"step": 3'] },
  { name: 'metadata not an object', bytes: craft({ __metadata__: 'x' }, 0), kind: 'metadata', says: ['"x"'] },
  { name: 'entry missing data_offsets', bytes: craft({ w: { dtype: 'U8', shape: [1] } }, 1), kind: 'entry', tensor: 'w', says: ['data_offsets', 'undefined'] },
  { name: 'negative dimension', bytes: craft({ w: e('U8', [-1], [0, 1]) }, 1), kind: 'entry', tensor: 'w', says: ['non-negative', '[-1]'] },
  { name: 'fractional offset', bytes: craft({ w: e('U8', [1], [0, 1.5]) }, 1), kind: 'entry', tensor: 'w', says: ['1.5', 'data_offsets'] },
  // issue 8 item 8: the reference library refuses float literals even when their value is whole.
  { name: 'float dimension 2.0 (issue 8.8)', bytes: craft('{"w":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}', 2), kind: 'entry', tensor: 'w', says: ['2.0', 'shape', 'integer'] },
  { name: 'float offset 1e0 (issue 8.8)', bytes: craft('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1e0]}}', 1), kind: 'entry', tensor: 'w', says: ['1e0', 'data_offsets'] },
  { name: 'offset past 2^53', bytes: craft('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551617]}}', 1), kind: 'entry', tensor: 'w', says: ['data_offsets'] },
  { name: 'entry not an object', bytes: craft({ w: [1, 2] }, 0), kind: 'entry', tensor: 'w', says: ['{dtype, shape, data_offsets}', '[1,2]'] },
  {
    name: 'shape overflowing 2^53 elements',
    bytes: craft({ w: e('U8', [2 ** 30, 2 ** 30, 2 ** 30], [0, 1]) }, 1),
    kind: 'size',
    tensor: 'w',
    says: ['more than 2^53'],
  },
];

describe('corrupted safetensors files get a typed error that names the problem', () => {
  for (const c of corruptions) {
    it(c.name, async () => {
      const path = join(dir, `corrupt-${c.name.replace(/\W+/g, '-')}.safetensors`);
      await writeFile(path, c.bytes);
      for (const attempt of [() => SafetensorsFile.open(path), async () => decodeSafetensors(c.bytes, path)]) {
        const err = await attempt().catch((x: unknown) => x);
        expect(err).toBeInstanceOf(SafetensorsError);
        expect(err).toBeInstanceOf(FormatError);
        expect((err as SafetensorsError).kind).toBe(c.kind);
        expect((err as SafetensorsError).file).toBe(path);
        expect((err as SafetensorsError).tensor).toBe(c.tensor);
        const message = (err as Error).message;
        expect(message).toContain(path);
        expect(message).toMatch(/expected .*, found /);
        if (c.tensor) expect(message).toContain(`tensor "${c.tensor}"`);
        for (const fragment of c.says) expect(message).toContain(fragment);
      }
    });
  }

  it('a missing file is a typed error too', async () => {
    await expect(SafetensorsFile.open(join(dir, 'nope.safetensors'))).rejects.toMatchObject({ kind: 'file' });
    await expect(SafetensorsFile.open(dir)).rejects.toMatchObject({ kind: 'file', found: 'a folder' });
  });

  it('a file truncated after it was opened gives a typed error on read, not a short tensor', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeSafetensors(path, { a: { dtype: 'F32', shape: [64], data: new Float32Array(64).fill(1) } });
    const file = await SafetensorsFile.open(path);
    await truncate(path, file.dataOffset + 100);
    const err = await file.read('a').catch((x: unknown) => x);
    await file.close();
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err).toMatchObject({ kind: 'truncated', tensor: 'a' });
    expect((err as Error).message).toContain('256 bytes');
  });

  it('reading a tensor that is not there names it', async () => {
    const file = await SafetensorsFile.open(join(dir, 'every.safetensors'));
    const err = await file.read('nope').catch((x: unknown) => x);
    await file.close();
    expect(err).toMatchObject({ kind: 'entry', tensor: 'nope' });
  });

  it('random truncations and byte flips of a valid file never escape as anything but SafetensorsError', () => {
    const valid = encodeSafetensors(everyDtype(), { format: 'pt' });
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let rejected = 0;
    for (let trial = 0; trial < 400; trial++) {
      let bytes = valid.slice();
      if (trial % 4 === 0) bytes = bytes.slice(0, rand(bytes.length));
      else {
        const flips = 1 + rand(3);
        for (let f = 0; f < flips; f++) bytes[rand(Math.min(bytes.length, 8 + 700))] ^= 1 << rand(8);
      }
      try {
        const { tensors } = decodeSafetensors(bytes, 'fuzz');
        // Accepted: it must then be self-consistent.
        for (const t of tensors.values()) expect(t.data.byteLength).toBe(t.shape.reduce((a, b) => a * b, 1) * (t.data as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
      } catch (x) {
        expect(x).toBeInstanceOf(SafetensorsError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(200);
  });
});
