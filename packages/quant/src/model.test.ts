import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateExampleModel, openHfModel } from '@kvant/formats';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeModel, readQuantizedWeight } from './model';
import { dequantize } from './quantize';
import { errorStats } from './stats';

let dir: string;
let source: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kvant-qmodel-'));
  source = join(dir, 'src');
  await generateExampleModel(source, { size: { hidden_size: 64, intermediate_size: 160, num_hidden_layers: 1, vocab_size: 256, num_attention_heads: 4, num_key_value_heads: 2 } });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('quantizeModel', () => {
  it('writes weights that read back (bitsandbytes keys) and dequantize to what the report says', async () => {
    const rt = await createRuntime('wasm');
    const out = join(dir, 'q');
    const report = await quantizeModel(rt, source, out, { quantType: 'nf4', doubleQuant: true, blocksize: 32 });
    const quantized = report.tensors.filter((t) => t.quantized);
    expect(quantized.map((t) => t.name).sort()).toEqual(
      ['down_proj', 'gate_proj', 'up_proj'].map((m) => `model.layers.0.mlp.${m}.weight`).concat(['k_proj', 'o_proj', 'q_proj', 'v_proj'].map((m) => `model.layers.0.self_attn.${m}.weight`)),
    );
    expect(report.tensors.find((t) => t.name === 'model.embed_tokens.weight')?.quantized).toBe(false);
    const src = await openHfModel(source);
    const q = await openHfModel(out);
    try {
      for (const t of quantized) {
        const w = await readQuantizedWeight(q.weights, t.name.slice(0, -'.weight'.length));
        expect(w.shape).toEqual(t.shape);
        expect(w.dtype).toBe('bfloat16');
        expect(w.stats.kind).toBe('double');
        const e = errorStats((await src.readFloat32(t.name)).data, await dequantize(rt, w));
        expect(e.meanAbsError).toBeCloseTo(t.error!.meanAbsError, 12);
      }
      // Tensors kept as stored are byte-identical.
      expect((await q.weights.readBytes('model.norm.weight')).every((b, i, a) => b === a[i])).toBe(true);
      expect(Buffer.from(await q.weights.readBytes('model.embed_tokens.weight')).equals(Buffer.from(await src.weights.readBytes('model.embed_tokens.weight')))).toBe(true);
    } finally {
      await src.close();
      await q.close();
      rt.dispose();
    }
    const config = readFileSync(join(out, 'config.json'), 'utf8');
    expect(config).toMatch(/"llm_int8_threshold": 6\.0/);
    expect(JSON.parse(config).architectures).toEqual(['LlamaForCausalLM']);
  });

  it('refuses to quantize a folder that is already quantized', async () => {
    const rt = await createRuntime('wasm');
    const out = join(dir, 'q2');
    await quantizeModel(rt, source, out);
    await expect(quantizeModel(rt, out, join(dir, 'q3'))).rejects.toThrow(/config\.json: expected no "quantization_config"/);
    rt.dispose();
  });
});
