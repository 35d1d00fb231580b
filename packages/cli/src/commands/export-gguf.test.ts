/**
 * `kvant export-gguf`: the merged model as f16 and q8_0 GGUF and the adapter alone, read back with
 * @huggingface/gguf (metadata, tensor names, ne, types) and with the Python gguf package (values: the
 * merged weights, q/k rows permuted as llama.cpp's converter permutes them — computed independently by
 * numpy — and q8_0 within one code of kvant's own dequantizer); the Ollama Modelfile; and the refusals
 * (an architecture or tokenizer without a mapping, an adapter for another base, an existing output),
 * each before anything is written. Python: a skip locally, a failure in CI.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '@kvant/abi';
import { dequantizeQ8_0, EXAMPLE_SPECIAL_TOKENS, quantizeQ8_0 } from '@kvant/formats';
import { GGMLQuantizationType, gguf } from '@huggingface/gguf';
import { createRuntime } from '@kvant/runtimes';
import { f16BitsToF32, f32ToF16Bits } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvantInProcess } from '../hostile/tree';
import { inCi, oracle, pythonOk, randomAdapter, smallModel } from './deploy-support';

const kvant = (...argv: string[]) => kvantInProcess(argv);

let dir: string;
let rt: Runtime;
let model: string;
let adapter: string;
let merged: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kvant-export-gguf-'));
  rt = await createRuntime('wasm');
  model = join(dir, 'model');
  adapter = join(dir, 'adapter');
  merged = join(dir, 'merged');
  await smallModel(model);
  (await randomAdapter(rt, model, adapter)).dispose();
  // The merged f32 weights, as kvant merge writes them: what the GGUF must hold (permuted).
  expect((await kvantInProcess(['merge', '--model', model, '--adapter', adapter, '--out', merged])).code).toBe(0);
}, 60_000);
afterAll(() => {
  rt?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

type Meta = Record<string, unknown>;
async function readBack(path: string) {
  const r = await gguf(path, { allowLocalFile: true });
  return { meta: r.metadata as unknown as Meta, tensors: new Map(r.tensorInfos.map((t) => [t.name, { ne: t.shape.map(Number), dtype: t.dtype }])), dataOffset: Number(r.tensorDataOffset) };
}

const BLOCK = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];

describe('kvant export-gguf', () => {
  it('f16: llama metadata, the tokenizer as llama.cpp reads it, the chat template, llama.cpp tensor names, ne and types; and a Modelfile', async () => {
    const out = join(dir, 'model-f16.gguf');
    const ollama = join(dir, 'ollama');
    const r = await kvant('export-gguf', '--model', model, '--adapter', adapter, '--out', out, '--type', 'f16', '--ollama', ollama);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*model-f16\.gguf \(model, llama, f16\): 21 tensors/);
    const { meta, tensors, dataOffset } = await readBack(out);
    expect(dataOffset % 32).toBe(0);
    expect(meta).toMatchObject({
      version: 3,
      'general.architecture': 'llama',
      'general.type': 'model',
      'general.name': 'model',
      'general.file_type': 1,
      'general.alignment': 32,
      'llama.context_length': 2048,
      'llama.embedding_length': 64,
      'llama.block_count': 2,
      'llama.feed_forward_length': 96,
      'llama.attention.head_count': 4,
      'llama.attention.head_count_kv': 2,
      'llama.rope.freq_base': 10000,
      'llama.rope.dimension_count': 16,
      'llama.vocab_size': 320,
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'gpt-2',
      'tokenizer.ggml.add_bos_token': true,
    });
    expect(meta['llama.attention.layer_norm_rms_epsilon']).toBeCloseTo(1e-5, 10);
    const tokenizer = JSON.parse(readFileSync(join(model, 'tokenizer.json'), 'utf8'));
    const tokens = meta['tokenizer.ggml.tokens'] as string[];
    expect(tokens).toHaveLength(320);
    for (const [t, id] of Object.entries(tokenizer.model.vocab as Record<string, number>)) expect(tokens[id]).toBe(t);
    const types = meta['tokenizer.ggml.token_type'] as number[];
    const specialIds = EXAMPLE_SPECIAL_TOKENS.map((t) => tokens.indexOf(t));
    expect(specialIds.every((i) => i >= 0 && types[i] === 3)).toBe(true);
    expect(types.filter((t) => t === 1)).toHaveLength(320 - 4);
    expect(meta['tokenizer.ggml.merges']).toEqual(tokenizer.model.merges);
    expect(meta['tokenizer.ggml.bos_token_id']).toBe(tokens.indexOf('<|begin_of_text|>'));
    expect(meta['tokenizer.ggml.eos_token_id']).toBe(tokens.indexOf('<|im_end|>'));
    expect(meta['tokenizer.ggml.padding_token_id']).toBe(tokens.indexOf('<|end_of_text|>'));
    expect(meta['tokenizer.chat_template']).toBe(JSON.parse(readFileSync(join(model, 'tokenizer_config.json'), 'utf8')).chat_template);
    const names = ['token_embd.weight', ...[0, 1].flatMap((l) => BLOCK.map((b) => `blk.${l}.${b}.weight`)), 'output_norm.weight', 'output.weight'];
    expect([...tensors.keys()].sort()).toEqual(names.sort());
    expect(tensors.get('token_embd.weight')).toEqual({ ne: [64, 320], dtype: GGMLQuantizationType.F16 });
    expect(tensors.get('blk.0.attn_k.weight')).toEqual({ ne: [64, 32], dtype: GGMLQuantizationType.F16 });
    expect(tensors.get('blk.1.ffn_down.weight')).toEqual({ ne: [96, 64], dtype: GGMLQuantizationType.F16 });
    expect(tensors.get('blk.1.ffn_norm.weight')).toEqual({ ne: [64], dtype: GGMLQuantizationType.F32 });
    const modelfile = readFileSync(join(ollama, 'Modelfile'), 'utf8');
    expect(modelfile.split('\n')).toContain(`FROM ${out}`); // outside the Modelfile's folder: absolute
    expect(modelfile).toContain('TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"""');
    expect(modelfile).toMatch(/^PARAMETER stop "<\|im_end\|>"$/m);
    expect(modelfile).toMatch(/^PARAMETER stop "<\|im_start\|>"$/m);
  });

  it('a tied head writes no output tensor (llama.cpp reuses token_embd); q8_0 rows of 32', async () => {
    const tied = join(dir, 'tied');
    await smallModel(tied, {}, { tieWordEmbeddings: true });
    const out = join(dir, 'tied.gguf');
    expect((await kvant('export-gguf', '--model', tied, '--out', out, '--type', 'q8_0')).code).toBe(0);
    const { meta, tensors } = await readBack(out);
    expect(tensors.has('output.weight')).toBe(false);
    expect(meta['general.file_type']).toBe(7);
    expect(meta['general.quantization_version']).toBe(2);
    expect(tensors.get('blk.0.attn_q.weight')?.dtype).toBe(GGMLQuantizationType.Q8_0);
    expect(tensors.get('output_norm.weight')?.dtype).toBe(GGMLQuantizationType.F32);
  });

  it('--adapter-only: general.type adapter, adapter.type lora, alpha, <tensor>.lora_a/.lora_b with ne [K, r] and [r, N]; a Modelfile with ADAPTER', async () => {
    const out = join(dir, 'adapter.gguf');
    const r = await kvant('export-gguf', '--model', model, '--adapter', adapter, '--out', out, '--adapter-only', '--type', 'f32', '--ollama', dir, '--ollama-from', 'llama3.2:1b');
    expect(r.code).toBe(0);
    const { meta, tensors } = await readBack(out);
    expect(meta).toMatchObject({ 'general.architecture': 'llama', 'general.type': 'adapter', 'adapter.type': 'lora', 'adapter.lora.alpha': 8 });
    expect(meta['tokenizer.ggml.tokens']).toBeUndefined();
    expect(tensors.size).toBe(2 * 2 * 7);
    expect(tensors.get('blk.0.attn_q.weight.lora_a')).toEqual({ ne: [64, 4], dtype: GGMLQuantizationType.F32 });
    expect(tensors.get('blk.0.attn_q.weight.lora_b')).toEqual({ ne: [4, 64], dtype: GGMLQuantizationType.F32 });
    expect(tensors.get('blk.1.ffn_down.weight.lora_a')).toEqual({ ne: [96, 4], dtype: GGMLQuantizationType.F32 });
    expect(tensors.get('blk.1.attn_k.weight.lora_b')).toEqual({ ne: [4, 32], dtype: GGMLQuantizationType.F32 });
    const modelfile = readFileSync(join(dir, 'Modelfile'), 'utf8');
    expect(modelfile).toMatch(/^FROM llama3\.2:1b$/m);
    expect(modelfile).toMatch(/^ADAPTER \.\/adapter\.gguf$/m);
    expect(modelfile).not.toMatch(/TEMPLATE/);
  });

  it('a template that is not ChatML is left out of the Modelfile, with a note (the GGUF keeps it)', async () => {
    const d = join(dir, 'llama3-template');
    await cp(model, d, { recursive: true });
    const tc = JSON.parse(readFileSync(join(d, 'tokenizer_config.json'), 'utf8'));
    tc.chat_template = "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] + '<|eot_id|>' }}{% endfor %}";
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(tc));
    const out = join(dir, 'llama3-template.gguf');
    const r = await kvant('export-gguf', '--model', d, '--out', out, '--ollama', join(dir, 'llama3-ollama'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/note: the chat template is not plain ChatML/);
    const modelfile = readFileSync(join(dir, 'llama3-ollama', 'Modelfile'), 'utf8');
    expect(modelfile).not.toMatch(/TEMPLATE/);
    expect(modelfile).toMatch(/^PARAMETER stop "<\|im_end\|>"$/m);
    expect((await readBack(out)).meta['tokenizer.chat_template']).toBe(tc.chat_template);
  });

  it('refuses, before writing anything: an architecture or a tokenizer without a mapping, an adapter for another base, an existing output', async () => {
    const variant = async (name: string, edit: (configs: { config: Meta; tokenizer: Meta }) => void) => {
      const d = join(dir, name);
      await cp(model, d, { recursive: true });
      const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      const tokenizer = JSON.parse(readFileSync(join(d, 'tokenizer.json'), 'utf8'));
      edit({ config, tokenizer });
      writeFileSync(join(d, 'config.json'), JSON.stringify(config));
      writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(tokenizer));
      return d;
    };
    const phi3 = await variant('phi3', ({ config }) => {
      config.model_type = 'phi3';
      config.architectures = ['Phi3ForCausalLM'];
    });
    const a = await kvant('export-gguf', '--model', phi3, '--out', join(dir, 'r1.gguf'));
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/model_type.*"phi3": llama\.cpp's mapping is not implemented/);
    const wordpiece = await variant('wordpiece', ({ tokenizer }) => {
      (tokenizer.model as Meta).type = 'WordPiece';
    });
    const b = await kvant('export-gguf', '--model', wordpiece, '--out', join(dir, 'r2.gguf'));
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/model\.type.*BPE.*"WordPiece": no mapping to llama\.cpp's tokenizer/);
    const whitespace = await variant('whitespace', ({ tokenizer }) => {
      tokenizer.pre_tokenizer = { type: 'Whitespace' };
    });
    const c = await kvant('export-gguf', '--model', whitespace, '--out', join(dir, 'r3.gguf'), '--ollama', join(dir, 'r3'));
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/pre_tokenizer.*byte-level BPE.*Whitespace/);
    const other = join(dir, 'other');
    const otherAdapter = join(dir, 'other-adapter');
    await smallModel(other, { hidden_size: 32, intermediate_size: 64 });
    (await randomAdapter(rt, other, otherAdapter)).dispose();
    const d = await kvant('export-gguf', '--model', model, '--adapter', otherAdapter, '--out', join(dir, 'r4.gguf'), '--adapter-only');
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/AdapterFileError/);
    for (const f of ['r1.gguf', 'r2.gguf', 'r3.gguf', 'r3', 'r4.gguf']) expect(existsSync(join(dir, f)), f).toBe(false);
    const existing = join(dir, 'existing.gguf');
    writeFileSync(existing, 'keep');
    const e = await kvant('export-gguf', '--model', model, '--out', existing);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/OutputExistsError/);
    expect(readFileSync(existing, 'utf8')).toBe('keep');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect((await kvant('export-gguf', '--model', model, '--out', join(dir, 'r5.gguf'), '--type', 'q4_0')).code).toBe(2);
    expect((await kvant('export-gguf', '--model', model, '--out', join(dir, 'r5.gguf'), '--adapter-only')).err).toMatch(/--adapter DIR/);
  });
});

interface PyGguf {
  fields: Record<string, unknown>;
  tensors: { name: string; shape: number[]; type: string }[];
  values: Record<string, number[]>;
}

if (!pythonOk && !inCi) console.warn('export-gguf python tests skipped: python3 with gguf, safetensors, numpy is missing');
(pythonOk || inCi ? describe : describe.skip)('GGUF files in the Python gguf package', () => {
  const f16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));
  const permuted = (file: string, tensors: Record<string, number>) => oracle<{ permuted: Record<string, number[]> }>({ permute: { file, tensors } }).permuted;

  it('f16 and q8_0: the merged weights, q and k permuted as the converter does; q8_0 within one code of kvant’s dequantizer', async () => {
    if (!pythonOk) throw new Error('CI: python3 with gguf, safetensors and numpy is required');
    const want = permuted(join(merged, 'model.safetensors'), { 'model.layers.0.self_attn.q_proj.weight': 4, 'model.layers.1.self_attn.k_proj.weight': 2 });
    const path16 = join(dir, 'model-f16.gguf');
    if (!existsSync(path16)) expect((await kvant('export-gguf', '--model', model, '--adapter', adapter, '--out', path16)).code).toBe(0);
    const names = ['blk.0.attn_q.weight', 'blk.1.attn_k.weight'];
    const g16 = oracle<PyGguf>({ gguf: { path: path16, values: names } });
    expect(g16.fields['general.architecture']).toBe('llama');
    expect(g16.fields['tokenizer.ggml.pre']).toBe('gpt-2');
    expect(g16.tensors.find((t) => t.name === 'blk.0.attn_q.weight')).toMatchObject({ shape: [64, 64], type: 'F16' });
    expect(g16.values['blk.0.attn_q.weight']).toEqual(want['model.layers.0.self_attn.q_proj.weight'].map(f16));
    expect(g16.values['blk.1.attn_k.weight']).toEqual(want['model.layers.1.self_attn.k_proj.weight'].map(f16));
    // The permutation is not the identity (with heads = rows / 2 the converter's reshape is one: the raw rows).
    const raw = permuted(join(merged, 'model.safetensors'), { 'model.layers.0.self_attn.q_proj.weight': 32 });
    expect(g16.values['blk.0.attn_q.weight']).not.toEqual(raw['model.layers.0.self_attn.q_proj.weight'].map(f16));

    const path8 = join(dir, 'model-q8.gguf');
    expect((await kvant('export-gguf', '--model', model, '--adapter', adapter, '--out', path8, '--type', 'q8_0')).code).toBe(0);
    const g8 = oracle<PyGguf>({ gguf: { path: path8, values: names } });
    expect(g8.tensors.find((t) => t.name === 'blk.0.attn_q.weight')).toMatchObject({ shape: [64, 64], type: 'Q8_0' });
    for (const [name, hf] of [
      ['blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight'],
      ['blk.1.attn_k.weight', 'model.layers.1.self_attn.k_proj.weight'],
    ]) {
      const w = Float32Array.from(want[hf]);
      const ours = dequantizeQ8_0(quantizeQ8_0(w), w.length);
      const theirs = g8.values[name];
      for (let b = 0; b < w.length / 32; b++) {
        let amax = 0;
        for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[b * 32 + i]));
        const step = f16(amax / 127);
        for (let i = 0; i < 32; i++) {
          const j = b * 32 + i;
          expect(Math.abs(theirs[j] - ours[j])).toBeLessThanOrEqual(step + 1e-9);
          expect(Math.abs(theirs[j] - w[j])).toBeLessThanOrEqual(step / 2 + 127 * Math.abs(step - amax / 127) + 1e-7);
        }
      }
    }
  }, 120_000);

  it('adapter: lora_a as trained, lora_b with the rows of q and k permuted (only B is)', async () => {
    if (!pythonOk) throw new Error('CI: python3 with gguf, safetensors and numpy is required');
    const path = join(dir, 'adapter.gguf');
    if (!existsSync(path)) expect((await kvant('export-gguf', '--model', model, '--adapter', adapter, '--out', path, '--adapter-only', '--type', 'f32')).code).toBe(0);
    const st = join(adapter, 'adapter_model.safetensors');
    const p = 'base_model.model.model.layers.0.self_attn';
    const want = permuted(st, { [`${p}.q_proj.lora_B.weight`]: 4, [`${p}.k_proj.lora_B.weight`]: 2,  });
    const g = oracle<PyGguf>({ gguf: { path, values: ['blk.0.attn_q.weight.lora_b', 'blk.0.attn_k.weight.lora_b', 'blk.0.attn_q.weight.lora_a', 'blk.0.attn_v.weight.lora_b'] } });
    expect(g.fields['general.type']).toBe('adapter');
    expect(g.fields['adapter.lora.alpha']).toBe(8);
    expect(g.values['blk.0.attn_q.weight.lora_b']).toEqual(want[`${p}.q_proj.lora_B.weight`]);
    expect(g.values['blk.0.attn_k.weight.lora_b']).toEqual(want[`${p}.k_proj.lora_B.weight`]);
    // A and v's B are written as stored (heads = rows / 2 makes the converter's reshape the identity).
    const raw = permuted(st, { [`${p}.q_proj.lora_A.weight`]: 2, [`${p}.v_proj.lora_B.weight`]: 16, [`${p}.q_proj.lora_B.weight`]: 32 });
    expect(g.values['blk.0.attn_q.weight.lora_a']).toEqual(raw[`${p}.q_proj.lora_A.weight`]);
    expect(g.values['blk.0.attn_v.weight.lora_b']).toEqual(raw[`${p}.v_proj.lora_B.weight`]);
    expect(g.values['blk.0.attn_q.weight.lora_b']).not.toEqual(raw[`${p}.q_proj.lora_B.weight`]);
  }, 120_000);
});
