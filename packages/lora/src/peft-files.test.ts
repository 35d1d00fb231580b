/**
 * PEFT adapter folders: a round trip keeps every value bit for bit and PEFT's key names; saving is
 * atomic with the --force rule; and malformed adapters are refused with errors naming what is wrong.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '@kvant/abi';
import { decodeSafetensors, encodeSafetensors, OutputExistsError, type SafetensorsTensor } from '@kvant/formats';
import { ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterFileError } from './errors';
import { LoraModel } from './model';
import { tinyBase } from './test-models';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, loadAdapter, saveAdapter } from './peft-files';
import { get, sameBits } from './test-support';

const Q0 = 'base_model.model.model.layers.0.self_attn.q_proj';

describe('PEFT adapter folders', () => {
  let rt: Runtime;
  let dir: string;
  let good: string;
  let goodDora: string;
  beforeAll(async () => {
    rt = new ReferenceRuntime();
    dir = mkdtempSync(join(tmpdir(), 'kvant-lora-'));
    const m = await LoraModel.create(await tinyBase(rt, { attention_bias: true }), { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], init_lora_weights: false, bias: 'lora_only', modules_to_save: ['lm_head'] });
    good = join(dir, 'good');
    await saveAdapter(m, good);
    const d = await LoraModel.create(await tinyBase(rt), { r: 2, target_modules: ['q_proj'], use_dora: true, init_lora_weights: false });
    goodDora = join(dir, 'dora');
    await saveAdapter(d, goodDora);
  });
  afterAll(() => {
    rt.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes PEFT's keys and config, and loads them back bit for bit", async () => {
    const src = await LoraModel.create(await tinyBase(rt, { attention_bias: true }), { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], init_lora_weights: false, bias: 'lora_only', modules_to_save: ['lm_head'] });
    const out = join(dir, 'roundtrip');
    await saveAdapter(src, out);
    expect(readdirSync(out).sort()).toEqual([ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME]);
    const { tensors, metadata } = decodeSafetensors(readFileSync(join(out, ADAPTER_WEIGHTS_NAME)));
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get(`${Q0}.lora_A.weight`)!.shape).toEqual([4, 16]);
    expect(tensors.get(`${Q0}.lora_B.weight`)!.shape).toEqual([16, 4]);
    expect(tensors.has(`${Q0}.base_layer.bias`)).toBe(true);
    expect(tensors.has('base_model.model.lm_head.weight')).toBe(true);
    expect(tensors.size).toBe(4 * 3 + 1);
    const config = JSON.parse(readFileSync(join(out, ADAPTER_CONFIG_NAME), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['q_proj', 'v_proj'], bias: 'lora_only', inference_mode: true, modules_to_save: ['lm_head'] });
    expect(Object.keys(config)).toEqual([...Object.keys(config)].sort());
    const dst = await LoraModel.create(await tinyBase(rt, { attention_bias: true }), { target_modules: ['o_proj'] }, 'other');
    await loadAdapter(out, dst, { adapterName: 'loaded' });
    for (const [name, layer] of src.layers) {
      const [a, b] = [layer.adapter('default'), dst.layer(name).adapter('loaded')];
      expect(sameBits(await get(a.A), await get(b.A))).toBe(true);
      expect(sameBits(await get(a.B), await get(b.B))).toBe(true);
      expect(b.trainable).toBe(false);
    }
  });

  it('saves atomically: an existing folder is refused without force and replaced with it', async () => {
    const m = await LoraModel.create(await tinyBase(rt), { target_modules: ['q_proj'] });
    const out = join(dir, 'twice');
    await saveAdapter(m, out);
    await expect(saveAdapter(m, out)).rejects.toBeInstanceOf(OutputExistsError);
    await saveAdapter(m, out, { force: true });
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-') || n.includes('.old-'))).toEqual([]);
    await expect(saveAdapter(m, join(good, 'inside'), { inputs: [good] })).rejects.toThrow(/input/);
  });

  /** Copy the good adapter, change it, and expect loading to fail with `kind` and a message matching `re`. */
  const cases: { name: string; kind: string; re: RegExp; from?: 'dora'; change?: (c: Record<string, unknown>, t: Map<string, SafetensorsTensor>) => void; after?: (folder: string) => void }[] = [
    { name: 'a missing lora_B', kind: 'missing-tensor', re: /q_proj\.lora_B\.weight: expected a tensor \[16, 4\].* found no such tensor/, change: (_c, t) => t.delete(`${Q0}.lora_B.weight`) },
    {
      name: 'an extra tensor of a module the base lacks',
      kind: 'unexpected-tensor',
      re: /layers\.9\.self_attn\.q_proj\.lora_A\.weight: .*which the base does not have/,
      change: (_c, t) => t.set('base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight', t.get(`${Q0}.lora_A.weight`)!),
    },
    {
      name: 'a tensor of a module the config does not target',
      kind: 'unexpected-tensor',
      re: /k_proj\.lora_A\.weight: .*which the config does not target/,
      change: (_c, t) => t.set('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight', t.get(`${Q0}.lora_A.weight`)!),
    },
    { name: 'a key without PEFT prefix', kind: 'unexpected-tensor', re: /model\.embed_tokens\.weight: expected keys starting with "base_model\.model\."/, change: (_c, t) => t.set('model.embed_tokens.weight', t.get(`${Q0}.lora_A.weight`)!) },
    {
      name: 'a misshapen lora_A (in_features)',
      kind: 'shape',
      re: /q_proj\.lora_A\.weight: expected shape \[4, 16\].* found shape \[4, 8\]/,
      change: (_c, t) => t.set(`${Q0}.lora_A.weight`, { dtype: 'F32', shape: [4, 8], data: new Float32Array(32) }),
    },
    { name: 'a rank that disagrees with r', kind: 'rank', re: /lora_A\.weight: expected rank 8 as adapter_config\.json says \(r = 8\).* found rank 4/, change: (c) => (c.r = 8) },
    {
      name: 'a NaN',
      kind: 'non-finite',
      re: /q_proj\.lora_B\.weight: expected finite values, found NaN at element 5/,
      change: (_c, t) => {
        const v = Float32Array.from(t.get(`${Q0}.lora_B.weight`)!.data as Float32Array);
        v[5] = Number.NaN;
        t.set(`${Q0}.lora_B.weight`, { dtype: 'F32', shape: [16, 4], data: v });
      },
    },
    {
      name: 'an Inf',
      kind: 'non-finite',
      re: /lm_head\.weight: expected finite values, found -Infinity at element 0/,
      change: (_c, t) => {
        const v = Float32Array.from(t.get('base_model.model.lm_head.weight')!.data as Float32Array);
        v[0] = Number.NEGATIVE_INFINITY;
        t.set('base_model.model.lm_head.weight', { dtype: 'F32', shape: [24, 16], data: v });
      },
    },
    {
      name: 'an integer dtype',
      kind: 'dtype',
      re: /q_proj\.lora_A\.weight: expected dtype F32, BF16 or F16, found dtype I32/,
      change: (_c, t) => t.set(`${Q0}.lora_A.weight`, { dtype: 'I32', shape: [4, 16], data: new Int32Array(64) }),
    },
    { name: 'another PEFT type', kind: 'config', re: /peft_type: expected "LORA", found "IA3"/, change: (c) => (c.peft_type = 'IA3') },
    { name: 'a target module the base lacks', kind: 'config', re: /target_modules: expected names of linear modules of the base .* found "qkv_proj"/, change: (c) => (c.target_modules = ['q_proj', 'qkv_proj']) },
    { name: 'an option kvant does not implement', kind: 'config', re: /lora_bias: expected its default \(kvant does not implement this option\), found true/, change: (c) => (c.lora_bias = true) },
    { name: 'a bad rank in the config', kind: 'config', re: /adapter_config\.json\.r: expected a positive integer rank, found "4"/, change: (c) => (c.r = '4') },
    { name: 'a base-rewriting init', kind: 'config', re: /init_lora_weights: expected true, false or "gaussian"/, change: (c) => (c.init_lora_weights = 'pissa') },
    {
      name: 'a DoRA magnitude without use_dora',
      kind: 'unexpected-tensor',
      re: /q_proj\.lora_magnitude_vector: expected no DoRA magnitude \(use_dora is false\)/,
      change: (_c, t) => t.set(`${Q0}.lora_magnitude_vector`, { dtype: 'F32', shape: [16], data: new Float32Array(16).fill(1) }),
    },
    { name: 'use_dora without magnitudes', kind: 'missing-tensor', from: 'dora', re: /q_proj\.lora_magnitude_vector: expected a tensor \[16\]/, change: (_c, t) => t.delete(`${Q0}.lora_magnitude_vector`) },
    {
      name: 'a repeated key in adapter_config.json',
      kind: 'config',
      re: /adapter_config\.json: expected strict JSON \(no repeated keys\)/,
      after: (folder) => writeFileSync(join(folder, ADAPTER_CONFIG_NAME), '{"peft_type": "LORA", "r": 4, "r": 8}'),
    },
    {
      name: 'only a pickle',
      kind: 'pickle',
      re: /adapter_model\.bin: expected adapter_model\.safetensors \(kvant never loads pickles/,
      after: (folder) => {
        rmSync(join(folder, ADAPTER_WEIGHTS_NAME));
        writeFileSync(join(folder, 'adapter_model.bin'), 'not really a pickle');
      },
    },
    { name: 'no adapter_config.json', kind: 'folder', re: /adapter_config\.json: expected a readable adapter_config\.json/, after: (folder) => rmSync(join(folder, ADAPTER_CONFIG_NAME)) },
  ];

  it(`refuses ${cases.length} kinds of malformed adapter, naming the tensor or field`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(12);
    for (const [i, c] of cases.entries()) {
      const src = c.from === 'dora' ? goodDora : good;
      const folder = join(dir, `bad-${i}`);
      const config = JSON.parse(readFileSync(join(src, ADAPTER_CONFIG_NAME), 'utf8'));
      const { tensors } = decodeSafetensors(readFileSync(join(src, ADAPTER_WEIGHTS_NAME)));
      rmSync(folder, { recursive: true, force: true });
      makeFolder(folder);
      c.change?.(config, tensors);
      writeFileSync(join(folder, ADAPTER_CONFIG_NAME), JSON.stringify(config));
      writeFileSync(join(folder, ADAPTER_WEIGHTS_NAME), encodeSafetensors(tensors));
      c.after?.(folder);
      const m = await LoraModel.create(await tinyBase(rt, c.from === 'dora' ? {} : { attention_bias: true }), { target_modules: ['o_proj'] }, 'other');
      const err = await loadAdapter(folder, m).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, c.name).toBeInstanceOf(AdapterFileError);
      expect((err as AdapterFileError).kind, c.name).toBe(c.kind);
      expect((err as Error).message, c.name).toMatch(c.re);
      expect([...m.configs.keys()], `${c.name}: nothing half-loaded`).toEqual(['other']);
      m.free();
    }
  });
});

function makeFolder(folder: string): void {
  rmSync(folder, { recursive: true, force: true });
  // mkdir through node:fs (sync) keeps the cases short
  mkdirSync(folder, { recursive: true });
}
