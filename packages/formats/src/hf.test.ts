import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TensorError } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32ToBf16 } from './convert';
import { ModelFileError, OutputExistsError } from './errors';
import { DEFAULT_EXAMPLE_SIZE, exampleWeights, generateExampleModel } from './example-model';
import { decodeByteLevelBpe, encodeByteLevelBpe, exampleTokenizerFiles } from './example-tokenizer';
import { expectedTensors, fusedParts, type HfConfig, HfModelFolder, isDecoderLinearWeight, parameterCount, parseHfConfig, readHfConfig } from './hf';
import { writeSafetensors } from './safetensors';

let root: string;
let example: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kvant-hf-'));
  example = join(root, 'example');
  await generateExampleModel(example);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Byte equality of two arrays (vitest's deep equality is slow on megabytes). */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const phi3Mini = {
  architectures: ['Phi3ForCausalLM'],
  model_type: 'phi3',
  hidden_size: 3072,
  intermediate_size: 8192,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32064,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};

describe('the example model folder', () => {
  it('opens as a sharded Llama model whose tensors are exactly those its config implies', async () => {
    const model = await HfModelFolder.open(example);
    try {
      expect(model.config.layout).toBe('llama');
      expect(model.config.architectures).toEqual(['LlamaForCausalLM']);
      expect(model.config.torch_dtype).toBe('bfloat16');
      expect(model.config.head_dim).toBe(32);
      expect(model.config.num_key_value_heads).toBe(4);
      expect(model.weightFiles).toEqual(['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      expect(model.tokenizerFiles).toEqual(['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']);
      const tensors = model.tensors();
      const expected = expectedTensors(model.config);
      expect(tensors.map((t) => t.name).sort()).toEqual(expected.map((t) => t.name).sort());
      for (const e of expected) {
        expect(model.info(e.name).shape, e.name).toEqual(e.shape);
        expect(model.info(e.name).dtype).toBe('BF16');
      }
      expect(new Set(tensors.map((t) => t.file)).size).toBe(2);
      expect(parameterCount(model.config)).toBe(3_426_560);
      expect(tensors.filter((t) => isDecoderLinearWeight(t.name))).toHaveLength(4 * 7);
    } finally {
      await model.close();
    }
  });

  it('reads tensors as f32 equal to the generated weights rounded to bf16, with outliers present', async () => {
    const model = await HfModelFolder.open(example);
    try {
      const weights = exampleWeights(DEFAULT_EXAMPLE_SIZE, 0);
      for (const name of ['model.layers.3.mlp.down_proj.weight', 'model.embed_tokens.weight', 'model.norm.weight']) {
        const w = weights.find((x) => x.name === name)!;
        const t = await model.readFloat32(name);
        expect(t.storedDtype).toBe('BF16');
        expect(t.shape).toEqual(w.shape);
        expect(sameBytes(float32ToBf16(t.data), float32ToBf16(w.values)), name).toBe(true);
      }
      const q = (await model.readFloat32('model.layers.0.self_attn.q_proj.weight')).data;
      let maxAbs = 0;
      let sumSq = 0;
      for (const v of q) {
        maxAbs = Math.max(maxAbs, Math.abs(v));
        sumSq += v * v;
      }
      expect(Math.sqrt(sumSq / q.length)).toBeGreaterThan(0.018);
      expect(Math.sqrt(sumSq / q.length)).toBeLessThan(0.022);
      expect(maxAbs).toBeGreaterThan(0.2); // an outlier of 10-20 sigma
    } finally {
      await model.close();
    }
  });

  it('is deterministic: the same seed gives byte-identical files, another seed other weights', async () => {
    const again = join(root, 'again');
    const other = join(root, 'other');
    await generateExampleModel(again);
    await generateExampleModel(other, { seed: 7 });
    for (const f of await readdir(example)) {
      expect((await readFile(join(again, f))).equals(await readFile(join(example, f))), f).toBe(true);
    }
    const shard = 'model-00001-of-00002.safetensors';
    expect((await readFile(join(other, shard))).equals(await readFile(join(example, shard)))).toBe(false);
  });

  it('refuses an existing output folder unless forced', async () => {
    await expect(generateExampleModel(example)).rejects.toBeInstanceOf(OutputExistsError);
    const small = join(root, 'small');
    const summary = await generateExampleModel(small, { size: { num_hidden_layers: 1, vocab_size: 512 }, shards: 1 });
    expect(summary.files).toContain('model.safetensors');
    await generateExampleModel(small, { force: true, size: { num_hidden_layers: 1, vocab_size: 512 }, shards: 1 });
  });

  it('copies its tokenizer files', async () => {
    const model = await HfModelFolder.open(example);
    const to = join(root, 'copy');
    await mkdir(to);
    expect(await model.copyTokenizerFiles(to)).toHaveLength(4);
    await model.close();
    expect(await readFile(join(to, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(example, 'tokenizer.json'), 'utf8'));
  });

  it('has a valid byte-level BPE tokenizer: dense ids, consistent merges, lossless round trip', async () => {
    const tokenizer = JSON.parse(await readFile(join(example, 'tokenizer.json'), 'utf8'));
    const tokConfig = JSON.parse(await readFile(join(example, 'tokenizer_config.json'), 'utf8'));
    const config = JSON.parse(await readFile(join(example, 'config.json'), 'utf8'));
    const vocab: Record<string, number> = tokenizer.model.vocab;
    const ids = [...Object.values(vocab), ...tokenizer.added_tokens.map((t: { id: number }) => t.id)].sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: config.vocab_size }, (_, i) => i));
    for (const m of tokenizer.model.merges as string[]) {
      const [a, b] = m.split(' ');
      expect(vocab[a] !== undefined && vocab[b] !== undefined && vocab[a + b] !== undefined, m).toBe(true);
    }
    const byContent = Object.fromEntries(tokenizer.added_tokens.map((t: { content: string; id: number }) => [t.content, t.id]));
    expect(config.bos_token_id).toBe(byContent[tokConfig.bos_token]);
    expect(config.eos_token_id).toBe(byContent[tokConfig.eos_token]);
    expect(tokConfig.chat_template).toContain('<|im_start|>');
    const { bpe } = exampleTokenizerFiles(config.vocab_size);
    for (const text of ['The capital of France is Paris.', 'Quantize 4096 weights, then ünïcödé ✓ and émojis 🙂!']) {
      const encoded = encodeByteLevelBpe(bpe, text);
      expect(decodeByteLevelBpe(bpe, encoded)).toBe(text);
    }
    expect(encodeByteLevelBpe(bpe, ' quantization').length).toBeLessThanOrEqual(3);
  });
});

describe('config.json', () => {
  it('counts Phi-3-mini at 3.82B parameters with fused qkv_proj and gate_up_proj', () => {
    const config = parseHfConfig(phi3Mini, 'phi3/config.json');
    expect(config.layout).toBe('phi3');
    expect(parameterCount(config)).toBe(3_821_079_552);
    const tensors = expectedTensors(config);
    expect(tensors.find((t) => t.name === 'model.layers.0.self_attn.qkv_proj.weight')?.shape).toEqual([9216, 3072]);
    expect(tensors.find((t) => t.name === 'model.layers.31.mlp.gate_up_proj.weight')?.shape).toEqual([16384, 3072]);
    expect(tensors.some((t) => t.name.includes('q_proj'))).toBe(false);
    expect(fusedParts(config, 'model.layers.0.self_attn.qkv_proj.weight')).toEqual([
      { name: 'q_proj', start: 0, rows: 3072 },
      { name: 'k_proj', start: 3072, rows: 3072 },
      { name: 'v_proj', start: 6144, rows: 3072 },
    ]);
    expect(fusedParts(config, 'model.layers.0.mlp.gate_up_proj.weight')?.map((p) => p.rows)).toEqual([8192, 8192]);
    expect(fusedParts(config, 'model.layers.0.mlp.down_proj.weight')).toBeUndefined();
  });

  it('knows Qwen2 q/k/v biases, Mistral grouped-query heads, tied embeddings and the newer "dtype" key', () => {
    const qwen = parseHfConfig({ ...phi3Mini, model_type: 'qwen2', num_key_value_heads: 4, tie_word_embeddings: true, torch_dtype: undefined, dtype: 'float16' } as never, 'q');
    const names = expectedTensors(qwen).map((t) => t.name);
    expect(names).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(names).toContain('model.layers.0.self_attn.v_proj.bias');
    expect(names).not.toContain('model.layers.0.self_attn.o_proj.bias');
    expect(names).not.toContain('lm_head.weight');
    expect(qwen.torch_dtype).toBe('float16');
    const mistral = parseHfConfig({ ...phi3Mini, model_type: 'mistral', num_key_value_heads: 8 }, 'm');
    expect(expectedTensors(mistral).find((t) => t.name === 'model.layers.0.self_attn.k_proj.weight')?.shape).toEqual([8 * 96, 3072]);
    expect(mistral.attention_bias).toBe(false);
  });

  it('names the file and the field when config.json is wrong', async () => {
    const bad = (json: unknown, fragment: string) => {
      const err = (() => {
        try {
          parseHfConfig(json as never, '/m/config.json');
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as Error).message).toContain('/m/config.json');
      expect((err as Error).message).toContain(fragment);
    };
    bad({ ...phi3Mini, hidden_size: undefined }, '"hidden_size" to be a positive integer, found no such field');
    bad({ ...phi3Mini, num_hidden_layers: -2 }, '"num_hidden_layers"');
    bad({ ...phi3Mini, model_type: undefined }, '"model_type"');
    bad({ ...phi3Mini, num_key_value_heads: 5 }, 'multiple of num_key_value_heads');
    bad({ ...phi3Mini, tie_word_embeddings: 'yes' }, '"tie_word_embeddings" to be a boolean');
    bad([1], 'a JSON object');
    expect(() => expectedTensors(parseHfConfig({ ...phi3Mini, model_type: 'gpt2' }, 'g'))).toThrow(/model_type in llama, mistral, qwen2, qwen3, phi3, gemma, gemma2.*"gpt2"/);
  });

  it('gives typed errors naming the path for missing folders, missing or broken files, and missing weights', async () => {
    const dir = join(root, 'broken');
    await mkdir(dir);
    await expect(HfModelFolder.open(join(root, 'nope'))).rejects.toMatchObject({ path: join(root, 'nope'), found: 'no such directory' });
    await expect(HfModelFolder.open(dir)).rejects.toMatchObject({ path: join(dir, 'config.json'), found: 'no such file or directory (ENOENT)' });
    await writeFile(join(dir, 'config.json'), '{"model_type": "llama",');
    const err = await HfModelFolder.open(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFileError);
    expect(err.message).toContain(join(dir, 'config.json'));
    expect(err.message).toContain('valid JSON');
    await writeFile(join(dir, 'config.json'), JSON.stringify(phi3Mini));
    await writeFile(join(dir, 'pytorch_model.bin'), '');
    await expect(HfModelFolder.open(dir)).rejects.toThrow(/model\.safetensors or model\.safetensors\.index\.json, found only pytorch_model\.bin/);
    expect((await readHfConfig(dir)).hidden_size).toBe(3072);
    expect((await readHfConfig(join(dir, 'config.json'))).hidden_size).toBe(3072);
  });

  it('refuses to read an integer tensor as f32', async () => {
    const dir = join(root, 'ints');
    await mkdir(dir);
    await writeFile(join(dir, 'config.json'), JSON.stringify(phi3Mini));
    await writeSafetensors(join(dir, 'model.safetensors'), { ids: { dtype: 'I64', shape: [2], data: new BigInt64Array(2) } });
    const model = await HfModelFolder.open(dir);
    await expect(model.readFloat32('ids')).rejects.toBeInstanceOf(TensorError);
    await expect(model.readFloat32('ids')).rejects.toThrow(/tensor "ids": expected a floating-point tensor .*found dtype I64/);
    await model.close();
  });
});

/** Type-level check that the typed config exposes the fields the CLI needs. */
export type _ConfigFields = Pick<HfConfig, 'hidden_size' | 'num_key_value_heads' | 'head_dim' | 'tie_word_embeddings' | 'torch_dtype' | 'layout'>;
