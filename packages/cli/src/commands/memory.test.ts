import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, FormatError } from '@kvant/abi';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { memoryCommand } from './memory';

/** Run the command and capture what it prints. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    const code = await memoryCommand.run(argv);
    return { code, out };
  } finally {
    spy.mockRestore();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kvant-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tinyLlama = {
  model_type: 'llama',
  hidden_size: 128,
  intermediate_size: 344,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  vocab_size: 1000,
  tie_word_embeddings: false,
};

describe('kvant memory', () => {
  it("prints the course's 2.21 GB for the phi-3-mini preset", async () => {
    const { code, out } = await run(['phi-3-mini']);
    expect(code).toBe(0);
    expect(out).toContain('3,821,079,552 parameters');
    const nf4 = out.split('\n').find((l) => l.startsWith('nf4 '))!;
    expect(nf4).toMatch(/^nf4\s+2\.21 GB\s+2\.43 GB\s+4\.500/);
    for (const row of ['fp32', 'bf16', 'int8', 'nf4+dq', 'full fine-tuning, fp32', 'full fine-tuning, mixed bf16', 'LoRA r=16', 'QLoRA r=16']) {
      expect(out).toContain(row);
    }
    expect(out).toContain('qkv_proj,o_proj');
    expect(out).toMatch(/[Aa]ctivations.*not counted/);
  });

  it('prints JSON with --json', async () => {
    const { code, out } = await run(['phi-3-mini-4k-instruct', '--json', '--lora-r', '8', '--target-modules', 'all-linear']);
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.source).toEqual({ kind: 'preset', name: 'phi-3-mini-4k-instruct', huggingFaceId: 'microsoft/Phi-3-mini-4k-instruct' });
    expect(report.parameters.total).toBe(3_821_079_552);
    const nf4 = report.weights.find((w: { format: string }) => w.format === 'nf4');
    expect(nf4.footprintBytes).toBe(2_206_341_120);
    expect(report.options.targetModules).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    const qlora = report.training.find((t: { name: string }) => t.name === 'qlora');
    expect(qlora.trainableParameters).toBe(32 * 8 * (3072 + 9216 + 3072 + 3072 + 3072 + 16384 + 8192 + 3072));
  });

  it('reads a model folder and a config file', async () => {
    const model = join(dir, 'model');
    mkdirSync(model);
    writeFileSync(join(model, 'config.json'), JSON.stringify(tinyLlama));
    const fromDir = JSON.parse((await run([model, '--json', '--blocksize', '128'])).out);
    expect(fromDir.source).toEqual({ kind: 'file', path: join(model, 'config.json') });
    expect(fromDir.parameters.total).toBe(602_752);
    expect(fromDir.options.blocksize).toBe(128);
    const fromFile = JSON.parse((await run([join(model, 'config.json'), '--json', '--target-modules', 'q_proj,v_proj'])).out);
    expect(fromFile.options.targetModules).toEqual(['q_proj', 'v_proj']);
  });

  it('names a missing path, a missing config.json, bad JSON and a bad field', async () => {
    await expect(run([join(dir, 'nowhere')])).rejects.toThrow(/nowhere.*no such file/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(run([empty])).rejects.toThrow(FormatError);
    await expect(run([empty])).rejects.toThrow(/empty\/config\.json: expected a readable JSON file, found no such file/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    await expect(run([bad])).rejects.toThrow(FormatError);
    const noLayers = join(dir, 'no-layers.json');
    const { num_hidden_layers: _, ...rest } = tinyLlama;
    writeFileSync(noLayers, JSON.stringify(rest));
    await expect(run([noLayers])).rejects.toThrow(/num_hidden_layers/);
    await expect(run(['phi-3-mini', '--blocksize', '100'])).rejects.toThrow(/blocksize/);
    await expect(run(['phi-3-mini', '--target-modules', 'lm_head'])).rejects.toThrow(/lm_head/);
    await expect(run([])).rejects.toThrow(ConfigError);
  });
});
