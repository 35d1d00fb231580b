/**
 * Test helpers for the decoder: the transformers oracle (scripts/interop/model_interop.py), tiny
 * configs of each architecture, the rope provider from @kvant/reference, and comparisons.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '@kvant/abi';
import { ropeInvFreq, ropeTables } from '@kvant/reference';
import type { RopeProvider } from './rope-tables';

export const MODEL_SCRIPT = fileURLToPath(new URL('../../../scripts/interop/model_interop.py', import.meta.url));

/** ropeInvFreq / ropeTables from @kvant/reference. */
export const ROPE: RopeProvider = { invFreq: ropeInvFreq, tables: ropeTables };

/** Run one request through the transformers oracle. */
export function transformers<T = Record<string, unknown>>(request: unknown): T {
  const out = execFileSync('python3', [MODEL_SCRIPT], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1', TRANSFORMERS_VERBOSITY: 'error', TOKENIZERS_PARALLELISM: 'false' },
  });
  return JSON.parse(out) as T;
}

/** Whether python3 with torch, transformers and peft is importable (and why not). */
export const pythonEnv: { ok: true } | { ok: false; reason: string } = (() => {
  try {
    execFileSync('python3', ['-c', 'import torch, transformers, peft'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return { ok: false, reason: (err.stderr?.toString() || err.message).trim().split('\n').slice(-1)[0] };
  }
})();

export const inCi = Boolean(process.env.CI);

/** Tiny configs: hidden 64, 2 layers, 4 heads, 2 kv heads, vocab 256. */
export const TINY = {
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 256,
  max_position_embeddings: 128,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: 0,
};

/** Per architecture: the config fields of the tiny model (Mistral with a short sliding window so it matters). */
export const ARCHS: Record<string, Record<string, unknown>> = {
  llama: { ...TINY },
  mistral: { ...TINY, sliding_window: 5 },
  qwen2: { ...TINY },
  phi3: { ...TINY },
};

/** max |a - b| / max |b| and max |a - b|. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): { rel: number; abs: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { rel: scale > 0 ? abs / scale : abs, abs };
}

/** Deterministic ids in [0, v). */
export function randomIds(n: number, v: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out.push((s >>> 0) % v);
  }
  return out;
}

/** Every runtime name the tests try besides the reference. */
export const OTHER_RUNTIMES = ['wasm', 'webgpu', 'cuda-emu'] as const;

/** true, or why the runtime lacks one of these kernels. */
export function supportsAll(rt: Runtime, kernels: readonly string[]): true | string {
  for (const k of kernels) {
    const s = rt.supports(k);
    if (s !== true) return `${k}: ${s}`;
  }
  return true;
}

/** Tiny config.json objects for TS-only tests (no Python): hidden 32, 2 layers, 4 heads, 2 kv heads, vocab 64. */
export function tinyConfigJson(modelType: 'llama' | 'mistral' | 'qwen2' | 'phi3', overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const arch = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', phi3: 'Phi3ForCausalLM' }[modelType];
  return {
    architectures: [arch],
    model_type: modelType,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 8,
    vocab_size: 64,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    ...(modelType === 'mistral' ? { sliding_window: 4 } : {}),
    ...overrides,
  };
}

/**
 * Write a tiny random model folder: config.json and model.safetensors (or shards) in `dtype`.
 * Values are rounded to bf16 and small ones flushed to 0, so F32, BF16 and F16 files hold the same numbers.
 */
export async function writeTinyModel(
  dir: string,
  config: Record<string, unknown>,
  options: { seed?: number; dtype?: 'F32' | 'BF16' | 'F16'; shards?: number } = {},
): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const formats = await import('@kvant/formats');
  const hf = formats.parseHfConfig(config as never, 'config.json');
  const rng = new formats.Xoshiro128(options.seed ?? 0);
  const tensors: [string, import('@kvant/formats').TensorToWrite][] = [];
  for (const t of formats.expectedTensors(hf)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = t.role === 'norm' ? 1 + 0.2 * rng.normal() : 0.15 * rng.normal();
      v[i] = Math.abs(x) < 1e-3 ? 0 : x;
    }
    const bf = formats.float32ToBf16(v);
    const exact = new Float32Array(new Uint32Array(Array.from(bf, (h) => h << 16)).buffer);
    const dtype = options.dtype ?? 'F32';
    tensors.push([t.name, formats.fromFloat32(exact, dtype, t.shape)]);
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if ((options.shards ?? 1) > 1) {
    const total = tensors.reduce((s, [, t]) => s + (t.data as ArrayBufferView).byteLength, 0);
    await formats.writeSafetensorsSharded(dir, tensors, { maxShardBytes: Math.ceil(total / options.shards!) + 4096, metadata: { format: 'pt' } });
  } else await formats.writeSafetensors(join(dir, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
}
