/**
 * The decoder without Python, on the reference runtime: backward against finite differences (full
 * fine-tuning with tied and untied heads, LoRA on fused Phi-3 projections), checkpointing giving the
 * same gradients bit for bit, a 4-bit base equal to its dequantized dense weights bit for bit (quantized
 * on load and read from a `kvant quantize` folder), F32 / BF16 sharded / F16 files giving the same
 * logits, refusals that name the tensor and the config field, the activation memory report, and
 * sampling / stop strings.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadF32 } from '@kvant/abi';
import { type BaseWeight, DenseBase } from '@kvant/lora';
import { quantizeModel } from '@kvant/quant';
import { ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Batch, Decoder } from './decoder';
import type { DecoderWeights, LinearModule } from './decoder-weights';
import { generate } from './generate';
import { randomIds, ROPE, tinyConfigJson, writeTinyModel } from './test-support';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kvant-decoder-ts-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const T = 8;
const B = 2;
const ids = randomIds(B * T, 64, 3);
const batch: Batch = { b: B, t: T, inputIds: ids, positionIds: [...Array(T).keys(), 0, 1, 2, 0, 1, 2, 3, 4], labels: ids.map((x, i) => (i % 3 === 0 ? -100 : x)) };

async function folder(name: string, config: Record<string, unknown>, options: Parameters<typeof writeTinyModel>[2] = {}): Promise<string> {
  const dir = join(root, name);
  await writeTinyModel(dir, config, options);
  return dir;
}

/** Directional derivative check: (L(θ + εu) - L(θ - εu)) / 2ε against <∇L, u> for random unit directions u. */
async function finiteDifferences(model: Decoder, directions: number, seed: number): Promise<{ fd: number; analytic: number }[]> {
  await model.forward(batch, { training: true });
  await model.backward();
  const params = model.trainable();
  const theta = await Promise.all(params.map(async (p) => (await downloadF32(p.param)).slice()));
  const grads = await Promise.all(params.map(async (p) => (await downloadF32(p.grad)).slice()));
  const out: { fd: number; analytic: number }[] = [];
  const eps = 1e-2;
  for (let d = 0; d < directions; d++) {
    const ids = randomIds(theta.reduce((n, t) => n + t.length, 0), 2 ** 20, seed + d);
    let k = 0;
    const u = theta.map((t) => Float32Array.from(t, () => ids[k++] / 2 ** 19 - 1));
    const norm = Math.sqrt(u.reduce((s, v) => s + v.reduce((a, x) => a + x * x, 0), 0));
    for (const v of u) for (let i = 0; i < v.length; i++) v[i] /= norm;
    let analytic = 0;
    for (let j = 0; j < u.length; j++) for (let i = 0; i < u[j].length; i++) analytic += u[j][i] * grads[j][i];
    const lossAt = async (s: number) => {
      for (let j = 0; j < params.length; j++) model.runtime.write(params[j].param, Float32Array.from(theta[j], (x, i) => x + s * u[j][i]));
      return (await model.forward(batch)).loss!;
    };
    const fd = ((await lossAt(eps)) - (await lossAt(-eps))) / (2 * eps);
    for (let j = 0; j < params.length; j++) model.runtime.write(params[j].param, theta[j]);
    out.push({ fd, analytic });
  }
  return out;
}

function expectClose(results: { fd: number; analytic: number }[]): void {
  for (const { fd, analytic } of results) expect(Math.abs(fd - analytic)).toBeLessThan(2e-3 * Math.max(Math.abs(analytic), 0.05));
}

describe('backward against finite differences', () => {
  it('full fine-tuning, Llama with tied embeddings', async () => {
    const rt = new ReferenceRuntime();
    const model = await Decoder.fromFolder(rt, await folder('fd-llama', tinyConfigJson('llama', { tie_word_embeddings: true })), { rope: ROPE });
    model.enableFullFineTuning();
    expectClose(await finiteDifferences(model, 3, 11));
    model.dispose();
  });

  it('full fine-tuning, Qwen2 (biases) and Mistral (sliding window)', async () => {
    for (const type of ['qwen2', 'mistral'] as const) {
      const rt = new ReferenceRuntime();
      const model = await Decoder.fromFolder(rt, await folder(`fd-${type}`, tinyConfigJson(type)), { rope: ROPE });
      model.enableFullFineTuning();
      expectClose(await finiteDifferences(model, 2, 21));
      model.dispose();
    }
  });

  it('LoRA on every linear module of Phi-3 (fused qkv_proj and gate_up_proj)', async () => {
    const rt = new ReferenceRuntime();
    const model = await Decoder.fromFolder(rt, await folder('fd-phi3', tinyConfigJson('phi3')), { rope: ROPE });
    await model.addAdapter({ r: 4, lora_alpha: 8, target_modules: 'all-linear', init_lora_weights: false });
    expectClose(await finiteDifferences(model, 3, 31));
    model.dispose();
  });
});

async function gradsOf(model: Decoder): Promise<Float32Array[]> {
  await model.forward(batch, { training: true });
  await model.backward();
  return Promise.all(model.trainable().map(async (t) => (await downloadF32(t.grad)).slice()));
}

describe('gradient checkpointing', () => {
  it('gives the same gradients bit for bit (LoRA with dropout, and full fine-tuning) and reports less activation memory', async () => {
    const dir = await folder('ckpt-phi3', tinyConfigJson('phi3'));
    const lora = { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: 'all-linear', init_lora_weights: false } as const;
    const plain = await Decoder.fromFolder(new ReferenceRuntime(), dir, { rope: ROPE });
    await plain.addAdapter(lora);
    const ckpt = await Decoder.fromFolder(new ReferenceRuntime(), dir, { rope: ROPE, checkpointing: true });
    await ckpt.addAdapter(lora);
    expect(await gradsOf(ckpt)).toEqual(await gradsOf(plain));
    const [mp, mc] = [plain.activationMemory(B, T), ckpt.activationMemory(B, T)];
    expect(mc.totalBytes).toBeLessThan(mp.totalBytes);
    expect(mc.totalBytes).toBe(mp.totalBytesOtherChoice);
    expect(mp.savedBytes - mc.savedBytes).toBe(2 * mp.blockBytes);

    const llama = await folder('ckpt-llama', tinyConfigJson('llama'));
    const fa = await Decoder.fromFolder(new ReferenceRuntime(), llama, { rope: ROPE });
    const fb = await Decoder.fromFolder(new ReferenceRuntime(), llama, { rope: ROPE, checkpointing: true });
    fa.enableFullFineTuning();
    fb.enableFullFineTuning();
    expect(await gradsOf(fb)).toEqual(await gradsOf(fa));
    for (const m of [plain, ckpt, fa, fb]) m.dispose();
  });
});

/** The same decoder with every linear weight replaced by its dequantized dense copy (sharing the other tensors). */
function dequantizedTwin(model: Decoder): Decoder {
  const dense = (m: LinearModule | undefined): LinearModule | undefined => (m ? { ...m, base: DenseBase.copyOf(m.base as BaseWeight) } : undefined);
  const w = model.weights;
  const weights: DecoderWeights = {
    ...w,
    layers: w.layers.map((l) => ({ ...l, q: dense(l.q), k: dense(l.k), v: dense(l.v), qkv: dense(l.qkv), o: dense(l.o)!, gate: dense(l.gate), up: dense(l.up), gateUp: dense(l.gateUp), down: dense(l.down)! })),
  };
  return new Decoder(model.runtime, model.config, weights, { rope: ROPE });
}

describe('4-bit base', () => {
  for (const quant of [{ quantType: 'nf4' as const }, { quantType: 'fp4' as const, doubleQuant: true }]) {
    it(`${quant.quantType}${quant.doubleQuant ? ' + double quant' : ''} quantized on load: forward and LoRA gradients equal the dequantized dense model bit for bit`, async () => {
      const rt = new ReferenceRuntime();
      const q = await Decoder.fromFolder(rt, await folder(`q-${quant.quantType}`, tinyConfigJson('qwen2')), { rope: ROPE, quant });
      expect(q.loadReport!.linearStorage).toContain(quant.quantType);
      const d = dequantizedTwin(q);
      const lq = (await downloadF32((await q.forward(batch)).logits)).slice();
      const ld = (await downloadF32((await d.forward(batch)).logits)).slice();
      expect(lq).toEqual(ld);
      const lora = { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], init_lora_weights: false } as const;
      await q.addAdapter(lora);
      await d.addAdapter(lora);
      expect(await gradsOf(q)).toEqual(await gradsOf(d));
      expect(() => q.enableFullFineTuning()).toThrow(/LoRA adapters|dense f32/);
    });
  }

  it('a bitsandbytes 4-bit folder written by kvant quantize loads as stored, equal to quantizing on load', async () => {
    const rt = new ReferenceRuntime();
    const src = await folder('bnb-src', tinyConfigJson('llama'), { dtype: 'BF16' });
    const out = join(root, 'bnb-out');
    await quantizeModel(rt, src, out, { quantType: 'nf4', doubleQuant: true });
    const stored = await Decoder.fromFolder(rt, out, { rope: ROPE });
    const onLoad = await Decoder.fromFolder(rt, src, { rope: ROPE, quant: { quantType: 'nf4', doubleQuant: true } });
    expect(stored.loadReport!.storedDtypes['bnb-nf4']).toBe(14);
    expect((await downloadF32((await stored.forward(batch)).logits)).slice()).toEqual((await downloadF32((await onLoad.forward(batch)).logits)).slice());
    await expect(Decoder.fromFolder(rt, out, { rope: ROPE, quant: { quantType: 'nf4' } })).rejects.toThrow(/already 4-bit/);
  });
});

describe('loading', () => {
  it('F32 single file, BF16 in shards and F16 give the same logits', async () => {
    const config = tinyConfigJson('mistral');
    const logits: Float32Array[] = [];
    for (const [name, o] of [['f32', { dtype: 'F32' }], ['bf16', { dtype: 'BF16', shards: 3 }], ['f16', { dtype: 'F16' }]] as const) {
      const model = await Decoder.fromFolder(new ReferenceRuntime(), await folder(`dtype-${name}`, config, o), { rope: ROPE });
      logits.push((await downloadF32((await model.forward(batch)).logits)).slice());
      model.dispose();
    }
    expect(logits[1]).toEqual(logits[0]);
    expect(logits[2]).toEqual(logits[0]);
  });

  it('refuses unknown architectures, missing tensors and shape mismatches, naming the tensor and the config field', async () => {
    const rt = new ReferenceRuntime();
    const gpt2 = await folder('bad-type', tinyConfigJson('llama'));
    await writeFile(join(gpt2, 'config.json'), JSON.stringify({ ...tinyConfigJson('llama'), model_type: 'gpt2' }));
    await expect(Decoder.fromFolder(rt, gpt2, { rope: ROPE })).rejects.toThrow(/"model_type".*llama, mistral, qwen2, phi3.*gpt2/);
    const dir = await folder('bad-shape', tinyConfigJson('llama'));
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, num_key_value_heads: 4 }));
    await expect(Decoder.fromFolder(rt, dir, { rope: ROPE })).rejects.toThrow(/k_proj\.weight.*num_key_value_heads·head_dim 4·8.*found \[16, 32\]/);
    const missing = await folder('missing', tinyConfigJson('llama'));
    await writeFile(join(missing, 'config.json'), JSON.stringify({ ...tinyConfigJson('llama'), attention_bias: true }));
    await expect(Decoder.fromFolder(rt, missing, { rope: ROPE })).rejects.toThrow(/q_proj\.bias.*no such tensor/);
    await expect(Decoder.fromFolder(rt, await folder('partial', tinyConfigJson('phi3', { partial_rotary_factor: 0.5 })), { rope: ROPE })).rejects.toThrow(/partial_rotary_factor/);
  });

  it('refuses bad batches; the default rope tables are transformers\' (no provider needed)', async () => {
    const rt = new ReferenceRuntime();
    const model = await Decoder.fromFolder(rt, await folder('batch', tinyConfigJson('llama')));
    const m2 = await Decoder.fromFolder(rt, join(root, 'batch'), { rope: ROPE });
    expect((await model.forward(batch)).loss).toBe((await m2.forward(batch)).loss);
    await expect(m2.forward({ ...batch, inputIds: ids.map((x) => x + 64) })).rejects.toThrow(/inputIds\[0\].*vocab_size/);
    await expect(m2.forward({ ...batch, labels: [1, 2] })).rejects.toThrow(/labels.*16 values/);
    await expect(m2.backward()).rejects.toThrow(/training forward/);
  });
});

describe('generation', () => {
  it('sampling is deterministic for a seed, stops at stop strings and streams the text', async () => {
    const model = await Decoder.fromFolder(new ReferenceRuntime(), await folder('gen', tinyConfigJson('llama')), { rope: ROPE });
    const decode = (xs: readonly number[]) => xs.map((x) => String.fromCharCode(97 + (x % 26))).join('');
    const opts = { maxNewTokens: 12, temperature: 0.8, topK: 20, topP: 0.9, seed: 5, eosTokenIds: [] };
    const a = await generate(model, [3, 4, 5], opts);
    const b = await generate(model, [3, 4, 5], opts);
    expect(a.tokenIds).toEqual(b.tokenIds);
    expect(a.tokenIds).toHaveLength(12);
    const full = decode(a.tokenIds);
    const stop = full.slice(4, 6);
    const pieces: string[] = [];
    const c = await generate(model, [3, 4, 5], { ...opts, decode, stopStrings: [stop], onText: (p) => pieces.push(p) });
    expect(c.finishReason).toBe('stop_string');
    expect(c.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(pieces.join('')).toBe(c.text);
    const greedy = await generate(model, [3, 4, 5], { maxNewTokens: 4, eosTokenIds: [] });
    const again = await generate(model, [3, 4, 5], { maxNewTokens: 4, temperature: 0, seed: 99, eosTokenIds: [] });
    expect(again.tokenIds).toEqual(greedy.tokenIds);
    model.dispose();
  });
});
