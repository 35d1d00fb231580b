/**
 * `Decoder.fromFolder(rt, dir, { baseDtype })`: the example model (stored in BF16) loaded with
 * baseDtype bf16 keeps its linear weights as stored — the same bits, half the bytes of the f32 load —
 * and gives the same logits, bit for bit, as the f32 load (the values are the same bf16 values, and
 * linalg.matmul_16bit does linalg.matmul's arithmetic); an F32 checkpoint is rounded to nearest even;
 * f16 rounds; the load report says which; refusals are ConfigErrors. On reference and wasm.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, downloadF32, f32ToF16Bits, type Runtime } from '@kvant/abi';
import { float32ToBf16, generateExampleModel, openHfModel } from '@kvant/formats';
import { Dense16Base, DenseBase } from '@kvant/lora';
import { ReferenceRuntime } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Batch, Decoder, DECODER_16BIT_KERNELS } from './decoder';
import { linearModules } from './decoder-weights';
import { randomIds, ROPE, supportsAll } from './test-support';

let root: string;
let bf16Dir: string;
let f32Dir: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kvant-base-dtype-'));
  bf16Dir = join(root, 'example-bf16');
  f32Dir = join(root, 'example-f32');
  await generateExampleModel(bf16Dir);
  await generateExampleModel(f32Dir, { f32: true });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const T = 6;
const B = 2;
const ids = randomIds(B * T, 1024, 11);
const batch: Batch = { b: B, t: T, inputIds: ids, positionIds: [...Array(T).keys(), ...Array(T).keys()], labels: ids };

const logitsOf = async (m: Decoder) => (await downloadF32((await m.forward(batch)).logits)).slice();
const linearBytes = (m: Decoder) => linearModules(m.weights).filter((l) => l.name !== 'lm_head').reduce((n, l) => n + l.base.byteLength, 0);

const RUNTIMES: { name: string; make: () => Promise<Runtime> }[] = [
  { name: 'reference', make: async () => new ReferenceRuntime() },
  { name: 'wasm', make: () => createRuntime('wasm', { threads: 1 }) },
];

for (const { name, make } of RUNTIMES) {
  describe(`baseDtype on ${name}`, () => {
    let rt: Runtime;
    beforeAll(async () => {
      rt = await make();
      const ok = supportsAll(rt, DECODER_16BIT_KERNELS);
      if (ok !== true) throw new Error(`${name}: ${ok}`);
    });
    afterAll(() => rt.dispose());

    it('bf16 from a BF16 checkpoint: weights as stored, half the bytes, the f32 load\'s logits bit for bit', async () => {
      const f32 = await Decoder.fromFolder(rt, bf16Dir, { rope: ROPE });
      const b16 = await Decoder.fromFolder(rt, bf16Dir, { rope: ROPE, baseDtype: 'bf16' });
      expect(b16.loadReport!.linearStorage).toBe('bf16');
      expect(f32.loadReport!.linearStorage).toBe('f32');
      const linears = linearModules(b16.weights).filter((l) => l.name !== 'lm_head');
      expect(linears.length).toBe(4 * 7);
      for (const l of linears) expect(l.base).toBeInstanceOf(Dense16Base);
      expect(2 * linearBytes(b16)).toBe(linearBytes(f32));
      expect(f32.loadReport!.deviceBytes - b16.loadReport!.deviceBytes).toBe(linearBytes(f32) / 2);
      // The stored bits, unchanged.
      const folder = await openHfModel(bf16Dir);
      const q = linears[0];
      const stored = await folder.read(`${q.name}.weight`);
      await folder.close();
      expect(stored.dtype).toBe('BF16');
      expect(await (q.base as Dense16Base).toBits()).toEqual(stored.data);
      const [lf, lb] = [await logitsOf(f32), await logitsOf(b16)];
      expect(new Uint32Array(lb.buffer)).toEqual(new Uint32Array(lf.buffer));
      f32.dispose();
      b16.dispose();
    });

    it('bf16 from an F32 checkpoint rounds each linear weight to nearest even (the BF16 checkpoint\'s bits)', async () => {
      const fromF32 = await Decoder.fromFolder(rt, f32Dir, { rope: ROPE, baseDtype: 'bf16' });
      expect(fromF32.loadReport!.storedDtypes.F32).toBeGreaterThan(0);
      expect(fromF32.loadReport!.linearStorage).toBe('bf16');
      const [f32Folder, bf16Folder] = [await openHfModel(f32Dir), await openHfModel(bf16Dir)];
      for (const l of linearModules(fromF32.weights).filter((m) => m.name !== 'lm_head').slice(0, 7)) {
        const values = (await f32Folder.readFloat32(`${l.name}.weight`)).data;
        const bits = await (l.base as Dense16Base).toBits();
        expect(bits).toEqual(float32ToBf16(values));
        expect(bits).toEqual((await bf16Folder.read(`${l.name}.weight`)).data);
      }
      await f32Folder.close();
      await bf16Folder.close();
      fromF32.dispose();
    });

    it('f16 rounds each weight to f16 and multiplies by exactly those values', async () => {
      const h = await Decoder.fromFolder(rt, bf16Dir, { rope: ROPE, baseDtype: 'f16' });
      expect(h.loadReport!.linearStorage).toBe('f16');
      const l = linearModules(h.weights)[1];
      const folder = await openHfModel(bf16Dir);
      const values = (await folder.readFloat32(`${l.name}.weight`)).data;
      await folder.close();
      expect(await (l.base as Dense16Base).toBits()).toEqual(Uint16Array.from(values, f32ToF16Bits));
      // The same decoder with each 16-bit base swapped for an f32 copy of its widened values.
      const widened = await Decoder.fromFolder(rt, bf16Dir, { rope: ROPE, baseDtype: 'f16' });
      const swapped = widened.weights.layers.map((layer) => {
        const out: Record<string, unknown> = { ...layer };
        for (const [k, m] of Object.entries(layer)) if (m && typeof m === 'object' && 'base' in m) out[k] = { ...m, base: DenseBase.copyOf(m.base) };
        return out;
      });
      const twin = new Decoder(rt, widened.config, { ...widened.weights, layers: swapped as never }, { rope: ROPE });
      const [a, b] = [await logitsOf(h), await logitsOf(twin)];
      expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(b.buffer));
      h.dispose();
    });

    it('refuses a bad baseDtype, and baseDtype with quant, with a ConfigError', async () => {
      await expect(Decoder.fromFolder(rt, bf16Dir, { rope: ROPE, baseDtype: 'fp8' as never })).rejects.toThrow(ConfigError);
      await expect(Decoder.fromFolder(rt, bf16Dir, { rope: ROPE, baseDtype: 'bf16', quant: { quantType: 'nf4' } })).rejects.toThrow(/quant/);
    });
  });
}
