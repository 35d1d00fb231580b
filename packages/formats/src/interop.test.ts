/**
 * Interop with the reference Python `safetensors` library (through torch): every file kvant writes
 * is read back by Python with identical tensors, and files Python writes are read by kvant with
 * identical bytes and values. Needs `python3` with safetensors and torch; in CI (process.env.CI set)
 * a missing Python environment fails the suite instead of skipping it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFloat32 } from './convert';
import { generateExampleModel } from './example-model';
import { openSafetensors, SafetensorsFile, type SafetensorsArray, type TensorToWrite, writeSafetensors, writeSafetensorsSharded } from './safetensors';

const SCRIPT = fileURLToPath(new URL('../../../scripts/interop/safetensors_interop.py', import.meta.url));

interface PyTensor {
  dtype: string;
  shape: number[];
  sha256: string;
  values?: (number | string)[];
}
interface PyFile {
  metadata: Record<string, string> | null;
  tensors: Record<string, PyTensor>;
}

function python<T>(...args: string[]): T {
  const out = execFileSync('python3', [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as T;
}

const pythonEnv: { ok: true; versions: unknown } | { ok: false; reason: string } = (() => {
  try {
    return { ok: true, versions: python('check') };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, reason: (err.stderr || err.message).trim().split('\n').slice(-1)[0] };
  }
})();

const inCi = Boolean(process.env.CI);
if (!pythonEnv.ok && !inCi) console.warn(`interop tests skipped: python3 with safetensors and torch is not available (${pythonEnv.reason})`);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (a: SafetensorsArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Every dtype, with special values, as kvant writes them. */
function kvantTensors(): Record<string, TensorToWrite> {
  const f32 = new Float32Array(37).map((_, i) => Math.fround(Math.sin(i) * 10 ** ((i % 9) - 4)));
  return {
    'model.embed_tokens.weight': { dtype: 'BF16', shape: [4, 5], data: new Uint16Array(20).map((_, i) => 0x3f00 + i * 97) },
    f32: { dtype: 'F32', shape: [37], data: f32 },
    f32_special: { dtype: 'F32', shape: [5], data: new Float32Array([Number.NaN, Number.POSITIVE_INFINITY, -0, 1e-45, -3.4e38]) },
    f16: { dtype: 'F16', shape: [2, 4], data: new Uint16Array([0x3c00, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x03ff, 0x7bff]) },
    bf16: { dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0x7fc0, 0x0001]) },
    u8: { dtype: 'U8', shape: [256], data: new Uint8Array(256).map((_, i) => i) },
    i8: { dtype: 'I8', shape: [2, 2], data: new Int8Array([-128, -1, 0, 127]) },
    i32: { dtype: 'I32', shape: [3], data: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]) },
    i64: { dtype: 'I64', shape: [4], data: new BigInt64Array([-(2n ** 63n), -1n, 2n ** 53n + 1n, 2n ** 63n - 1n]) },
    f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    u16: { dtype: 'U16', shape: [2], data: new Uint16Array([0, 65535]) },
    u32: { dtype: 'U32', shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
    u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([-7.5]) },
    empty: { dtype: 'F16', shape: [3, 0], data: new Uint16Array(0) },
  };
}

describe.skipIf(!pythonEnv.ok && !inCi)('safetensors interop with Python', () => {
  let dir: string;
  beforeAll(async () => {
    if (!pythonEnv.ok) throw new Error(`CI requires python3 with safetensors and torch for the interop tests: ${pythonEnv.reason}`);
    dir = await mkdtemp(join(tmpdir(), 'kvant-interop-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Python's view of `path` must equal kvant's: same names, dtypes, shapes and bytes. */
  async function expectPythonAgrees(path: string, py: PyFile): Promise<void> {
    const store = await openSafetensors(path);
    try {
      expect(Object.keys(py.tensors).sort()).toEqual(store.names().sort());
      for (const name of store.names()) {
        const info = store.info(name);
        expect(py.tensors[name].dtype, name).toBe(info.dtype);
        expect(py.tensors[name].shape, name).toEqual(info.shape);
        expect(py.tensors[name].sha256, name).toBe(sha256(await store.readBytes(name)));
      }
    } finally {
      await store.close();
    }
  }

  it('Python reads every dtype kvant writes, with identical bytes and metadata', async () => {
    const path = join(dir, 'kvant.safetensors');
    const tensors = kvantTensors();
    await writeSafetensors(path, tensors, { metadata: { format: 'pt' } });
    const py = python<Record<string, PyFile>>('read', path)[path];
    expect(py.metadata).toEqual({ format: 'pt' });
    for (const [name, t] of Object.entries(tensors)) expect(py.tensors[name].sha256, name).toBe(sha256(bytesOf(t.data as SafetensorsArray)));
    await expectPythonAgrees(path, py);
    // values too, for a few: Python's floats are kvant's bf16/f16 conversions exactly
    expect(py.tensors.i64.values).toEqual(['-9223372036854775808', '-1', '9007199254740993', '9223372036854775807']);
    expect(py.tensors.bf16.values).toEqual([1, 'nan', 9.183549615799121e-41]);
    expect(py.tensors.scalar.values).toEqual([-7.5]);
  });

  it("kvant's files are byte-identical to what Python writes for the same tensors and metadata", async () => {
    const path = join(dir, 'kvant.safetensors');
    const again = join(dir, 'python-resaved.safetensors');
    python('resave', path, again);
    expect((await readFile(again)).equals(await readFile(path))).toBe(true);
  });

  it('Python reads sharded output kvant writes (shards, index and weight_map agree)', async () => {
    const out = join(dir, 'sharded');
    await mkdir(out);
    const result = await writeSafetensorsSharded(out, Object.entries(kvantTensors()), { maxShardBytes: 300, metadata: { format: 'pt' } });
    expect(result.files.length).toBeGreaterThan(2);
    const index = join(out, 'model.safetensors.index.json');
    const py = python<Record<string, PyFile>>('read', index)[index];
    expect(py.metadata).toEqual({ total_size: result.totalSize });
    await expectPythonAgrees(index, py);
  });

  it('Python reads the example model (BF16, two shards) with the bytes kvant reads', async () => {
    const model = join(dir, 'example');
    await generateExampleModel(model);
    const index = join(model, 'model.safetensors.index.json');
    const py = python<Record<string, PyFile>>('read', index)[index];
    expect(Object.keys(py.tensors)).toHaveLength(39);
    await expectPythonAgrees(index, py);
    const shard = join(model, 'model-00002-of-00002.safetensors');
    const resaved = join(dir, 'example-shard-resaved.safetensors');
    python('resave', shard, resaved);
    expect((await readFile(resaved)).equals(await readFile(shard))).toBe(true);
  });

  it("the example model's chat template renders with jinja2", () => {
    const rendered = python<{ text: string }>('chat-template', join(dir, 'example', 'tokenizer_config.json'));
    expect(rendered.text).toBe('<|begin_of_text|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n');
  });

  it('kvant reads every dtype Python writes (torch F16/BF16/I64 included) with identical bytes and values', async () => {
    const out = join(dir, 'from-python');
    const written = python<{ files: Record<string, Record<string, PyTensor>>; index: string }>('write', out);
    const [[path, pyTensors]] = Object.entries(written.files);
    const file = await SafetensorsFile.open(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.names().sort()).toEqual(Object.keys(pyTensors).sort());
      for (const [name, py] of Object.entries(pyTensors)) {
        const t = await file.read(name);
        expect(t.dtype, name).toBe(py.dtype);
        expect(t.shape, name).toEqual(py.shape);
        expect(sha256(bytesOf(t.data)), name).toBe(py.sha256);
        const values = py.values!;
        if (['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
          const mine = toFloat32(t);
          values.forEach((v, i) => {
            const expected = v === 'nan' ? Number.NaN : v === 'inf' ? Number.POSITIVE_INFINITY : v === '-inf' ? Number.NEGATIVE_INFINITY : (v as number);
            if (t.dtype === 'F64') expect(Object.is((t.data as Float64Array)[i], expected), `${name}[${i}]`).toBe(true);
            else expect(Object.is(mine[i], expected), `${name}[${i}]: ${mine[i]} vs ${expected}`).toBe(true);
          });
        } else if (t.dtype === 'I64' || t.dtype === 'U64') {
          expect(Array.from(t.data as BigInt64Array, String), name).toEqual(values);
        } else {
          expect(Array.from(t.data as Int32Array), name).toEqual(values);
        }
      }
      expect(Array.from((await file.read('i64')).data as BigInt64Array)).toEqual([-(2n ** 63n), -(2n ** 53n) - 1n, -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]);
    } finally {
      await file.close();
    }

    // the sharded model Python wrote, through its index
    const py = python<Record<string, PyFile>>('read', written.index)[written.index];
    await expectPythonAgrees(written.index, py);
    const store = await openSafetensors(out.concat('/model.safetensors.index.json'));
    expect(store.names().sort()).toEqual(['bf16', 'f16', 'f32', 'i64', 'model.layers.0.self_attn.q_proj.weight', 'u8']);
    await store.close();
  });
});
