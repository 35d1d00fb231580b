/**
 * Generation with the KV cache (kv-cache.ts) against the uncached path (`cache: false`, the full
 * forward every step) and against transformers' greedy generate, for Llama, Mistral (sliding window
 * shorter than the sequence), Qwen2 (q/k/v biases) and Phi-3 (fused projections), with and without
 * a LoRA adapter. On one runtime the cached logits must be the uncached forward's last row bit for
 * bit (every kernel computes a row as the full forward does), so the tokens agree for greedy and
 * sampled decoding alike. The transformers part needs python3 with torch, transformers and peft
 * (a skip locally, a failure in CI), as decoder-interop.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadF32, type Runtime, TensorError, upload } from '@kvant/abi';
import { ReferenceRuntime } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decoder } from './decoder';
import { type GenerateOptions, generate } from './generate';
import { kvCacheBytes } from './kv-cache';
import { ARCHS, inCi, pythonEnv, randomIds, ROPE, tinyConfigJson, transformers, writeTinyModel } from './test-support';

const ARCH_NAMES = ['llama', 'mistral', 'qwen2', 'phi3'] as const;

/** Give every LoRA B random values (PEFT initializes B to zero, which would hide the adapter). */
async function randomizeB(model: Decoder, seed: number): Promise<void> {
  let i = 0;
  for (const t of model.trainable()) {
    if (!t.name.endsWith('lora_B.weight')) continue;
    const v = randomIds(t.param.size, 2001, seed + i++).map((x) => (x - 1000) / 5000);
    model.runtime.write(t.param, new Float32Array(v));
  }
}

/** Bits of an f32 array. */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kvant-kv-cache-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('generation with the KV cache vs the full forward', () => {
  const runtimes: [string, () => Promise<Runtime>][] = [
    ['reference', async () => new ReferenceRuntime()],
    ['wasm', () => createRuntime('wasm')],
  ];
  for (const [rtName, make] of runtimes) {
    for (const arch of ARCH_NAMES) {
      it(`${arch} on ${rtName}: cached logits are the forward's last row bit for bit; same tokens greedy and sampled, with and without LoRA`, async () => {
        const dir = join(root, `${arch}-ts`);
        await writeTinyModel(dir, tinyConfigJson(arch), { seed: 5 });
        const rt = await make();
        try {
          const model = await Decoder.fromFolder(rt, dir, { rope: ROPE });
          // A prompt of 61 tokens, so that the 64-key tile boundary is crossed while decoding (and
          // Mistral's window of 4 is much shorter than the sequence).
          const prompt = randomIds(61, 64, 3).map((x) => (x === 2 ? 3 : x));
          for (const withLora of [false, true]) {
            if (withLora) {
              await model.addAdapter({ r: 4, lora_alpha: 8, target_modules: 'all-linear' }, 'default', { seed: 9 });
              await randomizeB(model, 77);
            }
            // Step by step: prefill, then single tokens, each against the full forward's last row.
            const cache = model.createKvCache(prompt.length + 6);
            expect(cache.byteLength).toBe(kvCacheBytes(model.config, prompt.length + 6));
            const seq = [...prompt];
            let logits = await model.forwardCached(cache, seq);
            for (let step = 0; step < 6; step++) {
              const cached = await downloadF32(logits);
              const { logits: full } = await model.forward({ b: 1, t: seq.length, inputIds: seq });
              const last = (await downloadF32(full)).subarray((seq.length - 1) * model.config.vocab);
              expect(bits(cached), `${arch} ${withLora ? 'lora' : 'base'} step ${step}`).toEqual(bits(last));
              let best = 0;
              for (let j = 1; j < cached.length; j++) if (cached[j] > cached[best]) best = j;
              seq.push(best);
              if (step < 5) logits = await model.forwardCached(cache, [best]);
            }
            expect(cache.length).toBe(prompt.length + 5);
            await expect(model.forwardCached(cache, [1, 1])).rejects.toThrow(TensorError);
            cache.free();
            // generate: the same tokens with and without the cache, greedy and sampled.
            const runs: GenerateOptions[] = [{ maxNewTokens: 8 }, { maxNewTokens: 8, temperature: 0.9, topK: 20, topP: 0.9, seed: 4 }];
            for (const o of runs) {
              const a = await generate(model, prompt.slice(0, 9), { ...o, eosTokenIds: [] });
              const b = await generate(model, prompt.slice(0, 9), { ...o, eosTokenIds: [], cache: false });
              expect(a.tokenIds).toHaveLength(8);
              expect(a.tokenIds, JSON.stringify(o)).toEqual(b.tokenIds);
            }
          }
          model.dispose();
        } finally {
          rt.dispose();
        }
      });
    }
  }

  it('nn.attention_decode is nn.attention bit for bit: a prefill (t_q = t_k) and the last row alone', async () => {
    const rt = await createRuntime('wasm');
    try {
      const [b, t, h, hkv, d, window] = [1, 70, 4, 2, 16, 9];
      const rnd = (n: number, seed: number) => new Float32Array(randomIds(n, 4001, seed).map((x) => (x - 2000) / 1000));
      const q = upload(rt, 'f32', [b, t, h, d], rnd(t * h * d, 1));
      const k = upload(rt, 'f32', [b, t, hkv, d], rnd(t * hkv * d, 2));
      const v = upload(rt, 'f32', [b, t, hkv, d], rnd(t * hkv * d, 3));
      const pos = upload(rt, 'i32', [b, t], Int32Array.from({ length: t }, (_, i) => i));
      const o = rt.alloc('f32', [b, t, h, d]);
      const lse = rt.alloc('f32', [b, h, t]);
      const scale = Math.fround(1 / Math.sqrt(d));
      rt.dispatch('nn.attention', { q, k, v, pos, o, lse }, { b, t, h, h_kv: hkv, d, window, scale });
      const full = await downloadF32(o);
      const od = rt.alloc('f32', [b, t, h, d]);
      rt.dispatch('nn.attention_decode', { q, k_cache: k, v_cache: v, pos, o: od }, { b, t_q: t, t_k: t, s: t, h, h_kv: hkv, d, window, scale });
      expect(bits(await downloadF32(od))).toEqual(bits(full));
      // The last query alone (t_q = 1), its q row taken from the full q.
      const qLast = upload(rt, 'f32', [1, 1, h, d], rnd(t * h * d, 1).subarray((t - 1) * h * d));
      const pLast = upload(rt, 'i32', [1, 1], new Int32Array([t - 1]));
      const o1 = rt.alloc('f32', [1, 1, h, d]);
      rt.dispatch('nn.attention_decode', { q: qLast, k_cache: k, v_cache: v, pos: pLast, o: o1 }, { b, t_q: 1, t_k: t, s: t, h, h_kv: hkv, d, window, scale });
      expect(bits(await downloadF32(o1))).toEqual(bits(full.subarray((t - 1) * h * d)));
    } finally {
      rt.dispose();
    }
  });
});

if (!pythonEnv.ok && !inCi) console.warn(`KV cache interop tests skipped: ${pythonEnv.reason}`);
const interop = pythonEnv.ok || inCi ? describe : describe.skip;

interop('cached greedy generation vs transformers generate(do_sample=False)', () => {
  const LORA_TARGETS: Record<string, string[] | string> = { llama: ['q_proj', 'v_proj'], mistral: 'all-linear', qwen2: ['q_proj', 'k_proj', 'v_proj'], phi3: 'all-linear' };
  for (const arch of ARCH_NAMES) {
    it(`${arch}: the same tokens as transformers, without and with a PEFT adapter`, async () => {
      if (!pythonEnv.ok) throw new Error(`CI: python3 with torch, transformers and peft is required (${pythonEnv.reason})`);
      const dir = join(root, `${arch}-hf`);
      const adapterDir = join(root, `${arch}-hf-adapter`);
      // 7 prompt tokens + 16 new: past Mistral's window of 5 many times over.
      const prompt = randomIds(7, 256, 21).map((x) => (x === 2 ? 3 : x));
      const generateReq = { input_ids: prompt, max_new_tokens: 16, eos_token_id: 2 };
      const base = transformers<{ generated: number[] }>({ build: { arch, dir, config: ARCHS[arch] }, load: { dir }, generate: generateReq });
      const ids = randomIds(8, 256, 5);
      const lora = transformers<{ generated: number[] }>({
        load: { dir },
        forward: { input_ids: [ids], labels: [ids] },
        lora: { r: 4, alpha: 8, targets: LORA_TARGETS[arch], adapter_dir: adapterDir },
        generate: generateReq,
      });
      const rt = new ReferenceRuntime();
      const model = await Decoder.fromFolder(rt, dir, { rope: ROPE });
      const got = await generate(model, prompt, { maxNewTokens: 16 });
      expect(got.tokenIds).toEqual(base.generated);
      await model.loadAdapter(adapterDir);
      const gotLora = await generate(model, prompt, { maxNewTokens: 16 });
      expect(gotLora.tokenIds).toEqual(lora.generated);
      // The adapter changes the tokens (otherwise the second comparison proves nothing new).
      expect(lora.generated).not.toEqual(base.generated);
      model.dispose();
      rt.dispose();
    });
  }
});
