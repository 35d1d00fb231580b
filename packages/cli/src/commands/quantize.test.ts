import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateExampleModel } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvantInProcess } from '../hostile/tree';

const root = join(import.meta.dirname, '../../../..');
let dir: string;
let model: string;

/** Run `kvant` in-process, capturing stdout and stderr (the hostile suite's runner). */
const kvant = (...argv: string[]) => kvantInProcess(argv);

function pythonHas(modules: string): boolean {
  return spawnSync('python3', ['-c', `import ${modules}`]).status === 0;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kvant-quantize-'));
  model = join(dir, 'model');
  await generateExampleModel(model, { size: { hidden_size: 128, intermediate_size: 344, num_hidden_layers: 2, vocab_size: 512 } });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kvant quantize', () => {
  it('writes a bitsandbytes 4-bit folder with quantization_config and the tokenizer files', async () => {
    const out = join(dir, 'nf4');
    const r = await kvant('quantize', model, '--out', out, '--double-quant');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/total/);
    expect(r.out).toMatch(/q_proj/);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true });
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['tokenizer.json', 'tokenizer_config.json', 'model.safetensors']));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses an existing --out unless --force, and leaves it untouched', async () => {
    const out = join(dir, 'existing');
    const first = await kvant('quantize', model, '--out', out);
    expect(first.code).toBe(0);
    writeFileSync(join(out, 'marker'), 'x');
    const again = await kvant('quantize', model, '--out', out);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/OutputExistsError.*existing/);
    expect(again.err).not.toMatch(/\[1\//); // refused before any work
    expect(existsSync(join(out, 'marker'))).toBe(true);
    const forced = await kvant('quantize', model, '--out', out, '--force', '--quant-type', 'fp4');
    expect(forced.code).toBe(0);
    expect(existsSync(join(out, 'marker'))).toBe(false);
  });

  it('gives typed errors for bad options and missing folders', async () => {
    expect((await kvant('quantize', model, '--out', join(dir, 'b1'), '--blocksize', '48')).err).toMatch(/blocksize.*power of two.*48/);
    expect((await kvant('quantize', model, '--out', join(dir, 'b2'), '--quant-type', 'int3')).err).toMatch(/nf4 or fp4.*int3/);
    expect((await kvant('quantize', join(dir, 'nope'), '--out', join(dir, 'b3'))).err).toMatch(/nope/);
    expect((await kvant('quantize', model)).err).toMatch(/--out/);
    expect((await kvant('quantize', model, '--out', join(dir, 'b4'), '--runtime', 'tpu')).err).toMatch(/runtime.*tpu/);
    const cuda = await kvant('quantize', model, '--out', join(dir, 'b5'), '--runtime', 'cuda');
    if (cuda.code !== 0) expect(cuda.err).toMatch(/UnsupportedError: cuda: .*(CUDA|driver|device)/); // a machine without a GPU
    expect(existsSync(join(dir, 'b1'))).toBe(false);
  });

  it('gives the same bytes on wasm, webgpu, cuda-emu and the reference', async () => {
    const files: Buffer[] = [];
    for (const runtime of ['wasm', 'webgpu', 'cuda-emu', 'reference']) {
      for (const args of [['--double-quant'], ['--quant-type', 'fp4', '--blocksize', '128']]) {
        const out = join(dir, `rt-${runtime}-${args.length}`);
        const r = await kvant('quantize', model, '--out', out, '--runtime', runtime, ...args);
        expect(r.code, r.err).toBe(0);
        expect(r.out).toMatch(new RegExp(`on ${runtime} in`));
        files.push(readFileSync(join(out, 'model.safetensors')));
      }
    }
    for (let i = 2; i < files.length; i++) expect(files[i].equals(files[i % 2]), `runtime #${i >> 1}`).toBe(true);
  });

  it('is byte-identical to an independent torch implementation of the bitsandbytes algorithm (Python interop)', async () => {
    if (!pythonHas('torch, safetensors, transformers')) {
      if (process.env.CI) throw new Error('python3 with torch, safetensors and transformers is required in CI (scripts/setup-system.sh installs them)');
      return;
    }
    for (const [name, args] of [
      ['nf4-dq', ['--double-quant']],
      ['fp4-128', ['--quant-type', 'fp4', '--blocksize', '128']],
      ['nf4-32', ['--blocksize', '32']],
    ] as const) {
      const out = join(dir, `py-${name}`);
      expect((await kvant('quantize', model, '--out', out, ...args)).code).toBe(0);
      const py = spawnSync('python3', [join(root, 'scripts/interop/check_bnb_folder.py'), model, out], { encoding: 'utf8' });
      expect(py.status, py.stderr).toBe(0);
      const result = JSON.parse(py.stdout);
      expect(result.mismatches).toEqual([]);
      expect(result.tensors).toBe(14);
      // transformers reads the config, parses quantization_config as a 4-bit BitsAndBytesConfig, and the tokenizer.
      expect(result.transformers).toMatchObject({ config: 'LlamaConfig', load_in_4bit: true, quant_type: name.startsWith('nf4') ? 'nf4' : 'fp4', double_quant: name === 'nf4-dq', chat_template: true });
    }
  }, 300_000); // three Python processes that import torch and transformers: slow on a loaded machine
});
