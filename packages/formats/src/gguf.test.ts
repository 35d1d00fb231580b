/**
 * The GGUF writer: Q8_0 codes (scale, rounding half away from zero, zero blocks), the header bytes,
 * a file with every metadata type and F32/F16/Q8_0 tensors read back by @huggingface/gguf and by the
 * Python `gguf` package (GGUFReader; its Q8_0 dequantization matches kvant's within one code), and
 * what the writer refuses before writing. Python: a skip locally when `gguf` is missing, a failure in CI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { f16BitsToF32, f32ToF16Bits, FormatError } from '@kvant/abi';
import { GGMLQuantizationType, gguf } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutputExistsError } from './errors';
import { dequantizeQ8_0, encodeGguf, type GgufFile, ggufValue, quantizeQ8_0, writeGguf } from './gguf';

const SCRIPT = fileURLToPath(new URL('../../../scripts/interop/deploy_interop.py', import.meta.url));
const inCi = Boolean(process.env.CI);
const pythonGguf = spawnSync('python3', ['-c', 'import gguf, numpy']).status === 0;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kvant-gguf-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** Deterministic values in (-scale, scale). */
function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return v;
}

describe('Q8_0', () => {
  it('stores d = max|x|/127 as f16 and codes round(x/d), halves away from zero', () => {
    const x = new Float32Array(32);
    x[0] = 127; // d = 1 exactly
    x[1] = 2.5;
    x[2] = -2.5;
    x[3] = -127;
    x[4] = 0.49;
    const q = quantizeQ8_0(x);
    expect(q.length).toBe(34);
    const view = new DataView(q.buffer);
    expect(f16BitsToF32(view.getUint16(0, true))).toBe(1);
    expect([view.getInt8(2), view.getInt8(3), view.getInt8(4), view.getInt8(5), view.getInt8(6)]).toEqual([127, 3, -3, -127, 0]);
    expect(Array.from(dequantizeQ8_0(q, 32).slice(0, 5))).toEqual([127, 3, -3, -127, 0]);
  });

  it('an all-zero block has d = 0 and zero codes; each value is within half a step (plus the f16 rounding of d)', () => {
    const x = new Float32Array(96);
    x.set(values(64, 5, 0.3), 32);
    const q = quantizeQ8_0(x);
    expect(Array.from(q.slice(0, 34))).toEqual(new Array(34).fill(0));
    const back = dequantizeQ8_0(q, 96);
    for (let b = 1; b < 3; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
      const d = Math.fround(amax / 127);
      const d16 = f16BitsToF32(f32ToF16Bits(d));
      for (let i = 0; i < 32; i++) expect(Math.abs(back[b * 32 + i] - x[b * 32 + i])).toBeLessThanOrEqual(d16 / 2 + 127 * Math.abs(d16 - d) + 1e-7);
    }
  });

  it('refuses a length that is not a multiple of 32 and non-finite values', () => {
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/multiple of 32.*33 values/);
    const bad = new Float32Array(32);
    bad[7] = Number.NaN;
    expect(() => quantizeQ8_0(bad, 'tensor "w"')).toThrow(/tensor "w".*finite.*index 7/);
  });
});

/** A file with every metadata type and one tensor of each ggml type. */
function sampleFile(): GgufFile {
  return {
    metadata: [
      ['general.architecture', ggufValue.string('llama')],
      ['test.u8', ggufValue.u8(200)],
      ['test.i8', ggufValue.i8(-100)],
      ['test.u16', ggufValue.u16(60000)],
      ['test.i16', ggufValue.i16(-30000)],
      ['test.u32', ggufValue.u32(4_000_000_000)],
      ['test.i32', ggufValue.i32(-2_000_000_000)],
      ['test.u64', ggufValue.u64(2n ** 40n + 3n)],
      ['test.i64', ggufValue.i64(-(2n ** 40n))],
      ['test.f32', ggufValue.f32(0.25)],
      ['test.f64', ggufValue.f64(1e-300)],
      ['test.bool', ggufValue.bool(true)],
      ['test.string', ggufValue.string('héllo ✓')],
      ['test.strings', ggufValue.array('string', ['a', 'Ġb', '<|im_end|>'])],
      ['test.ints', ggufValue.array('i32', [1, -2, 3])],
      ['test.floats', ggufValue.array('f32', [0.5, -1.5])],
    ],
    tensors: [
      { name: 'norm.weight', shape: [40], type: 'F32', data: values(40, 1) },
      { name: 'w.f16', shape: [3, 64], type: 'F16', data: values(192, 2) },
      { name: 'w.q8', shape: [5, 64], type: 'Q8_0', data: () => values(320, 3, 0.1) },
    ],
  };
}

describe('writeGguf', () => {
  let path: string;
  beforeAll(async () => {
    path = join(root, 'sample.gguf');
    await writeGguf(path, sampleFile());
  });

  it('writes the header, version 3, counts, and 32-byte aligned data (the same bytes as encodeGguf)', async () => {
    const bytes = new Uint8Array(await readFile(path));
    expect(new TextDecoder().decode(bytes.slice(0, 4))).toBe('GGUF');
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(4, true)).toBe(3);
    expect(view.getBigUint64(8, true)).toBe(3n);
    expect(view.getBigUint64(16, true)).toBe(17n); // 16 keys + general.alignment
    expect(Buffer.from(await encodeGguf(sampleFile())).equals(Buffer.from(bytes))).toBe(true);
    expect((await readdir(root)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('reads back with @huggingface/gguf: metadata values and types, tensor ne, types and offsets', async () => {
    const r = await gguf(path, { allowLocalFile: true, typedMetadata: true });
    const m = r.metadata as unknown as Record<string, unknown>;
    expect(m.version).toBe(3);
    expect(m['general.architecture']).toBe('llama');
    expect(m['general.alignment']).toBe(32);
    expect([m['test.u8'], m['test.i8'], m['test.u16'], m['test.i16'], m['test.u32'], m['test.i32']]).toEqual([200, -100, 60000, -30000, 4_000_000_000, -2_000_000_000]);
    expect(m['test.u64']).toBe(2n ** 40n + 3n);
    expect(m['test.i64']).toBe(-(2n ** 40n));
    expect(m['test.f32']).toBe(0.25);
    expect(m['test.f64']).toBe(1e-300);
    expect(m['test.bool']).toBe(true);
    expect(m['test.string']).toBe('héllo ✓');
    expect(m['test.strings']).toEqual(['a', 'Ġb', '<|im_end|>']);
    expect(m['test.ints']).toEqual([1, -2, 3]);
    expect(m['test.floats']).toEqual([0.5, -1.5]);
    const typed = r.typedMetadata as unknown as Record<string, { type: number; subType?: number }>;
    expect(typed['test.u8'].type).toBe(0);
    expect(typed['test.u64'].type).toBe(10);
    expect(typed['test.f64'].type).toBe(12);
    expect(typed['test.strings']).toMatchObject({ type: 9, subType: 8 });
    const infos = r.tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(Number), dtype: t.dtype, offset: Number(t.offset) }));
    expect(infos).toEqual([
      { name: 'norm.weight', shape: [40], dtype: GGMLQuantizationType.F32, offset: 0 },
      { name: 'w.f16', shape: [64, 3], dtype: GGMLQuantizationType.F16, offset: 160 },
      { name: 'w.q8', shape: [64, 5], dtype: GGMLQuantizationType.Q8_0, offset: 544 },
    ]);
    expect(Number(r.tensorDataOffset) % 32).toBe(0);
  });

  (pythonGguf || inCi ? it : it.skip)('reads back with the Python gguf package; its Q8_0 dequantization matches kvant’s within one code', async () => {
    if (!pythonGguf) throw new Error('CI: python3 with the gguf package is required (pip install gguf)');
    const out = JSON.parse(
      execFileSync('python3', [SCRIPT], { input: JSON.stringify({ gguf: { path, values: ['norm.weight', 'w.f16', 'w.q8'] } }), encoding: 'utf8', maxBuffer: 1 << 26 }),
    ) as { version: number; alignment: number; fields: Record<string, unknown>; field_types: Record<string, string[]>; tensors: { name: string; shape: number[]; type: string }[]; values: Record<string, number[]> };
    expect(out.version).toBe(3);
    expect(out.alignment).toBe(32);
    expect(out.fields['test.u32']).toBe(4_000_000_000);
    expect(out.fields['test.i64']).toBe(-(2 ** 40));
    expect(out.fields['test.string']).toBe('héllo ✓');
    expect(out.fields['test.strings']).toEqual(['a', 'Ġb', '<|im_end|>']);
    expect(out.fields['test.bool']).toBe(true);
    expect(out.field_types['test.strings']).toEqual(['ARRAY', 'STRING']);
    expect(out.field_types['test.i16']).toEqual(['INT16']);
    expect(out.tensors.map((t) => [t.name, t.shape, t.type])).toEqual([
      ['norm.weight', [40], 'F32'],
      ['w.f16', [64, 3], 'F16'],
      ['w.q8', [64, 5], 'Q8_0'],
    ]);
    expect(out.values['norm.weight']).toEqual(Array.from(values(40, 1)));
    expect(out.values['w.f16']).toEqual(Array.from(values(192, 2), (x) => f16BitsToF32(f32ToF16Bits(x))));
    const q8 = values(320, 3, 0.1);
    const ours = dequantizeQ8_0(quantizeQ8_0(q8), 320);
    let worstCodes = 0;
    for (let b = 0; b < 10; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(q8[b * 32 + i]));
      const step = f16BitsToF32(f32ToF16Bits(amax / 127));
      for (let i = 0; i < 32; i++) worstCodes = Math.max(worstCodes, Math.abs(out.values['w.q8'][b * 32 + i] - ours[b * 32 + i]) / step);
    }
    expect(worstCodes).toBeLessThanOrEqual(1);
    // And against the original values: within about half a step.
    for (let i = 0; i < 320; i++) expect(Math.abs(out.values['w.q8'][i] - q8[i])).toBeLessThan(0.1 / 127);
  });

  it('refuses, before writing: repeated keys, out-of-range values, bad names and shapes, Q8_0 rows not of 32, an existing file', async () => {
    const base = sampleFile();
    const target = join(root, 'refused.gguf');
    const refuse = async (file: GgufFile, pattern: RegExp) => {
      const e = await writeGguf(target, file).catch((x) => x);
      expect(e).toBeInstanceOf(FormatError);
      expect(e.message).toMatch(pattern);
    };
    await refuse({ ...base, metadata: [...base.metadata, ['test.u8', ggufValue.u8(1)]] }, /"test\.u8".*each key once/);
    await refuse({ ...base, metadata: [['x', ggufValue.u8(300)]] }, /"x".*0 to 255.*300/);
    await refuse({ ...base, metadata: [['x', ggufValue.u32(1.5)]] }, /"x".*integer.*1\.5/);
    await refuse({ ...base, metadata: [['x', ggufValue.array('string', ['a', 3 as unknown as string])]] }, /"x"\[1\].*a string/);
    await refuse({ ...base, tensors: [{ name: 'x'.repeat(64), shape: [32], type: 'F32', data: values(32, 1) }] }, /1 to 63 bytes/);
    await refuse({ ...base, tensors: [{ name: 'q', shape: [2, 48], type: 'Q8_0', data: values(96, 1) }] }, /"q".*multiple of 32 for Q8_0.*48/);
    await refuse({ ...base, tensors: [{ name: 'z', shape: [0], type: 'F32', data: new Float32Array() }] }, /"z".*positive dimensions/);
    await refuse({ ...base, tensors: [base.tensors[0], base.tensors[0]] }, /each tensor name once/);
    await expect(readFile(target)).rejects.toThrow(/ENOENT/);
    await refuse({ ...base, tensors: [{ name: 'n', shape: [4], type: 'F32', data: values(5, 1) }] }, /"n".*4 f32 values.*5 values/);
    await expect(readFile(target)).rejects.toThrow(/ENOENT/);
    expect((await readdir(root)).filter((f) => f.includes('.tmp'))).toEqual([]);
    await writeFile(target, 'keep');
    await expect(writeGguf(target, base)).rejects.toBeInstanceOf(OutputExistsError);
    expect(await readFile(target, 'utf8')).toBe('keep');
    await writeGguf(target, base, { force: true });
    expect((await readFile(target)).subarray(0, 4).toString()).toBe('GGUF');
  });
});
