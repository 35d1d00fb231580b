/**
 * Test helpers for `kvant merge` and `kvant export-gguf`: small example models, a LoRA adapter with
 * B random (a fresh adapter has B = 0 and changes nothing), and the Python oracle
 * (scripts/interop/deploy_interop.py: transformers logits, GGUFReader, the converter's q/k permutation).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { downloadF32, type Runtime } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';
import { Decoder } from '@kvant/model';

export const DEPLOY_SCRIPT = fileURLToPath(new URL('../../../../scripts/interop/deploy_interop.py', import.meta.url));
export const inCi = Boolean(process.env.CI);
/** python3 with torch, transformers, safetensors and gguf. */
export const pythonOk = spawnSync('python3', ['-c', 'import torch, transformers, safetensors, gguf, numpy']).status === 0;

/** Small llama sizes: rows of 64 and 96 (multiples of 32, so q8_0 applies), 4 heads, 2 kv heads. */
export const SMALL = { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 320 };

export async function smallModel(dir: string, size: Partial<typeof SMALL> = {}, options: { tieWordEmbeddings?: boolean } = {}): Promise<void> {
  await generateExampleModel(dir, { size: { ...SMALL, ...size }, shards: 1, ...options });
}

/** Add an adapter (r 4, alpha 8, every linear module) with B random too (PEFT's init_lora_weights=False), save it to `adapterDir`; returns the decoder. */
export async function randomAdapter(rt: Runtime, modelDir: string, adapterDir: string, seed = 7): Promise<Decoder> {
  const model = await Decoder.fromFolder(rt, modelDir);
  await model.addAdapter({ r: 4, lora_alpha: 8, target_modules: 'all-linear', init_lora_weights: false }, 'default', { seed });
  await model.saveAdapter(adapterDir);
  return model;
}

/** Logits of a batch as a host array. */
export async function logits(model: Decoder, ids: number[], t: number): Promise<Float32Array> {
  const out = await model.forward({ b: ids.length / t, t, inputIds: ids });
  return (await downloadF32(out.logits)).slice();
}

/** One request through the Python oracle. */
export function oracle<T>(request: unknown): T {
  const out = execFileSync('python3', [DEPLOY_SCRIPT], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1', TRANSFORMERS_VERBOSITY: 'error' },
  });
  return JSON.parse(out) as T;
}

/** max |a − b| / max |b|. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return a.length === b.length ? d / m : Number.POSITIVE_INFINITY;
}
