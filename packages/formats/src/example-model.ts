/**
 * A small Llama-layout model folder, generated deterministically from a seed: what the demo
 * quantizes and what tests read. Weights are N(0, 0.02) as transformers initializes them, plus a
 * few large outliers per matrix (as trained models have, and as absmax scaling must survive),
 * stored as BF16 in two shards with an index, next to a tiny byte-level BPE tokenizer with a chat
 * template and a generation config.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDirAtomic } from './atomic-dir';
import { float32ToBf16 } from './convert';
import { expectedTensors, parseHfConfig } from './hf-config';
import { exampleTokenizerFiles } from './example-tokenizer';
import { type TensorToWrite, writeSafetensorsSharded } from './safetensors';

/** Sizes of the example model (a Llama config). */
export interface ExampleModelSize {
  readonly hidden_size: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly num_key_value_heads: number;
  readonly vocab_size: number;
}

/** About 3.4M parameters: quantizing it takes seconds on two cores. */
export const DEFAULT_EXAMPLE_SIZE: ExampleModelSize = {
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 1024,
};

export interface ExampleModelOptions {
  /** PRNG seed (default 0). The same seed gives byte-identical files. */
  readonly seed?: number;
  /** Replace an existing output folder. */
  readonly force?: boolean;
  /** Override sizes (tests use smaller ones). */
  readonly size?: Partial<ExampleModelSize>;
  /** Number of shards to aim for (default 2; 1 writes a single model.safetensors). */
  readonly shards?: number;
  /** Train the tokenizer's BPE on this text instead of the built-in one. */
  readonly corpus?: string;
  /** Large outliers per linear weight (default 4; 0 for a plain N(0, 0.02) init to train from). */
  readonly outliers?: number;
  /** Store the weights as f32 instead of BF16. */
  readonly f32?: boolean;
  /** Tie lm_head to embed_tokens (default false). */
  readonly tieWordEmbeddings?: boolean;
}

export interface ExampleModelSummary {
  readonly dir: string;
  readonly files: string[];
  readonly parameters: number;
  readonly tensors: number;
  readonly weightBytes: number;
}

/** xoshiro128** (Blackman & Vigna): small, fast, and good enough for test weights. */
export class Xoshiro128 {
  private s = new Uint32Array(4);
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Next u32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box-Muller; uses two uniforms, u1 kept away from 0). */
  normal(): number {
    const u1 = (this.nextU32() + 1) / 4294967297;
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a of a string, to give every tensor its own stream (independent of order). */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The example model's config.json object. */
export function exampleConfig(size: ExampleModelSize, specialIds: { bos: number; eos: number }, options: { tieWordEmbeddings?: boolean; f32?: boolean } = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: specialIds.bos,
    eos_token_id: specialIds.eos,
    head_dim: size.hidden_size / size.num_attention_heads,
    hidden_act: 'silu',
    hidden_size: size.hidden_size,
    initializer_range: 0.02,
    intermediate_size: size.intermediate_size,
    max_position_embeddings: 2048,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: size.num_attention_heads,
    num_hidden_layers: size.num_hidden_layers,
    num_key_value_heads: size.num_key_value_heads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 10000.0,
    tie_word_embeddings: options.tieWordEmbeddings ?? false,
    torch_dtype: options.f32 ? 'float32' : 'bfloat16',
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: size.vocab_size,
  };
}

/**
 * The example weights as f32 (before BF16 rounding), in state_dict order: norms are ones, every
 * other tensor N(0, 0.02) with 4 outliers of 10 to 20 standard deviations per linear weight.
 */
export function exampleWeights(size: ExampleModelSize, seed = 0, options: { outliers?: number; tieWordEmbeddings?: boolean } = {}): { name: string; shape: number[]; values: Float32Array }[] {
  const config = parseHfConfig(exampleConfig(size, { bos: 0, eos: 0 }, options) as never, 'example config');
  const outliers = options.outliers ?? 4;
  return expectedTensors(config).map(({ name, shape, role }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (role === 'norm') values.fill(1);
    else {
      const rng = new Xoshiro128((seed ^ hashName(name)) >>> 0);
      for (let i = 0; i < n; i++) values[i] = 0.02 * rng.normal();
      if (role === 'linear') {
        for (let k = 0; k < outliers; k++) {
          const at = rng.nextU32() % n;
          values[at] = (rng.uniform() < 0.5 ? -1 : 1) * 0.02 * (10 + 10 * rng.uniform());
        }
      }
    }
    return { name, shape: [...shape], values };
  });
}

/** Write the example model folder to `outDir` (atomically; refused if it exists unless `force`). */
export async function generateExampleModel(outDir: string, options: ExampleModelOptions = {}): Promise<ExampleModelSummary> {
  const size = { ...DEFAULT_EXAMPLE_SIZE, ...options.size };
  const { files: tokenizerFiles, specialIds } = exampleTokenizerFiles(size.vocab_size, options.corpus);
  const bos = specialIds['<|begin_of_text|>'];
  const eos = specialIds['<|im_end|>'];
  const weights = exampleWeights(size, options.seed ?? 0, options);
  const bytesPer = options.f32 ? 4 : 2;
  const tensors: [string, TensorToWrite][] = weights.map(({ name, shape, values }) => [name, options.f32 ? { dtype: 'F32', shape, data: values } : { dtype: 'BF16', shape, data: float32ToBf16(values) }]);
  const weightBytes = weights.reduce((n, w) => n + bytesPer * w.values.length, 0);
  const largest = weights.reduce((n, w) => Math.max(n, bytesPer * w.values.length), 0);
  const shards = options.shards ?? 2;
  // Greedy filling overshoots a little; leave room for one more tensor per shard.
  const maxShardBytes = shards <= 1 ? weightBytes : Math.max(largest, Math.ceil(weightBytes / shards) + largest);

  return writeDirAtomic(
    outDir,
    async (dir) => {
      const written = await writeSafetensorsSharded(dir, tensors, { maxShardBytes, metadata: { format: 'pt' } });
      const json: Record<string, unknown> = {
        'config.json': exampleConfig(size, { bos, eos }, options),
        'generation_config.json': { _from_model_config: true, bos_token_id: bos, eos_token_id: eos, pad_token_id: specialIds['<|end_of_text|>'], transformers_version: '4.46.0' },
        ...tokenizerFiles,
      };
      for (const [file, value] of Object.entries(json)) await writeFile(join(dir, file), `${JSON.stringify(value, null, 2)}\n`);
      const files = [...Object.keys(json), ...written.files, ...(written.indexFile ? [written.indexFile] : [])].sort();
      return { dir: outDir, files, parameters: weightBytes / bytesPer, tensors: weights.length, weightBytes };
    },
    { force: options.force },
  );
}
