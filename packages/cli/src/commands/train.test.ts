/**
 * `kvant train` as a user runs it: --help documents every option with its default, a YAML or JSON
 * --config is read with flags overriding it, --json logs one line per event, usage errors exit 2,
 * refused inputs (malformed data, another run in --output-dir, a bad config key) exit 1 with one line
 * naming the file and what was wrong.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRAIN_OPTIONS } from '@kvant/trainer';
import { afterAll, describe, expect, it } from 'vitest';
import { kvantInProcess as kvant } from '../hostile/tree';
import { probeRuntime } from '@kvant/runtimes';
import { parseTrainArgs, SOFTWARE_ADAPTER, trainRuntime } from './train';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const model = join(root, 'models', 'tiny');
const data = join(root, 'data', 'tiny-facts', 'train.jsonl');
const dir = mkdtempSync(join(tmpdir(), 'kvant-train-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const common = ['--model', model, '--data', data, '--runtime', 'wasm', '--max-steps', '2', '--per-device-train-batch-size', '4', '--logging-steps', '1', '--no-gradient-checkpointing'];

describe('kvant train', () => {
  it('--help documents every flag with its default', async () => {
    const { code, out } = await kvant(['train', '--help']);
    expect(code).toBe(0);
    for (const o of TRAIN_OPTIONS) {
      const line = out.split('\n').find((l) => l.startsWith(`  --${o.flag} `) || l.startsWith(`  --[no-]${o.flag} `));
      expect(line, o.flag).toBeDefined();
      expect(line).toMatch(/\(default: [^)]+\)/);
    }
    expect(out).toContain('--config FILE');
  });

  it('reads a YAML config, and flags override it', async () => {
    const cfg = join(dir, 'run.yaml');
    writeFileSync(cfg, 'lora_r: 4\nlearning_rate: 0.001\ntarget_modules: q_proj,v_proj\nmodel: /nowhere\n');
    const a = await parseTrainArgs(['--config', cfg, '--model', model, '--data', data, '--output-dir', join(dir, 'x'), '--lora-r', '8']);
    if (a === 'help') throw new Error('help');
    expect(a.lora_r).toBe(8);
    expect(a.learning_rate).toBe(0.001);
    expect(a.target_modules).toEqual(['q_proj', 'v_proj']);
    expect(a.model).toBe(model);
    expect(a.quant_type).toBe('nf4');
    expect(a.gradient_checkpointing).toBe(true);
    const b = await parseTrainArgs(['--model', model, '--data', data, '--output-dir', 'o', '--full', '--target-modules', '.*proj$']);
    if (b === 'help') throw new Error('help');
    expect([b.quant_type, b.learning_rate, b.target_modules]).toEqual(['none', 2e-5, '.*proj$']);
  });

  it('--runtime auto: cuda, else a hardware WebGPU adapter, else wasm (never a software adapter)', async () => {
    const lines: string[] = [];
    const rt = await trainRuntime('auto', 1, (l) => lines.push(l));
    try {
      const cuda = await probeRuntime('cuda');
      const webgpu = await probeRuntime('webgpu');
      if (cuda.status === 'available') expect(rt.name).toBe('cuda');
      else if (rt.name === 'webgpu') expect(rt.info().description).not.toMatch(SOFTWARE_ADAPTER);
      else {
        expect(rt.name).toBe('wasm');
        if (webgpu.status === 'available' && SOFTWARE_ADAPTER.test(webgpu.description)) expect(lines.join('\n')).toMatch(/skipping the software WebGPU adapter/);
      }
    } finally {
      rt.dispose();
    }
  });

  it('--json: one JSON line per logging step, then the end with the files written', async () => {
    const out = join(dir, 'json');
    const r = await kvant(['train', ...common, '--output-dir', out, '--json']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event === 'log').map((l) => l.step)).toEqual([1, 2]);
    for (const l of lines.filter((x) => x.event === 'log')) expect(Number.isFinite(l.loss) && Number.isFinite(l.learning_rate)).toBe(true);
    const end = lines[lines.length - 1];
    expect(end.event).toBe('end');
    expect(end.status).toBe('completed');
    expect(end.files).toContain(join(out, 'adapter_model.safetensors'));
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).r).toBe(16);
  });

  it('--profile: the loop\'s kernels by time, with their calls and rates (text and --json)', async () => {
    const r = await kvant(['train', ...common, '--output-dir', join(dir, 'profile'), '--profile']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/profile: \d+\.\d\d s in kernels of the loop's \d+\.\d\d s \(\d+%/);
    expect(r.out).toMatch(/\nkernel +calls +ms +share +ms\/call +GFLOP\/s +GB\/s\n/);
    const rows = r.out.split('\n').filter((l) => /^(linalg|nn|optim|mem|quant)\.\w+ +\d+ /.test(l));
    expect(rows.length).toBe(15); // the slowest 15, then the rest in one line
    expect(r.out).toMatch(/\n\(\d+ more kernels\) +\d+ /);
    const ms = rows.map((l) => Number(l.split(/ +/)[2]));
    expect(ms).toEqual([...ms].sort((a, b) => b - a));
    const j = await kvant(['train', ...common, '--output-dir', join(dir, 'profile-json'), '--profile', '--json']);
    expect(j.code, j.err).toBe(0);
    const end = JSON.parse(j.out.trim().split('\n').pop()!);
    expect(end.profile.host_only).toBe(false);
    const kernels = end.profile.kernels as { kernel: string; calls: number; ms: number; flops: number }[];
    // A QLoRA step runs the 4-bit matmul, attention forward and backward, the loss and AdamW.
    for (const k of ['linalg.matmul_4bit', 'nn.attention', 'nn.attention_backward', 'nn.cross_entropy', 'optim.adamw_step']) expect(kernels.some((x) => x.kernel === k), k).toBe(true);
    // Two steps of 4 rows: every decoder layer's attention runs once forward per step.
    const layers = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')).num_hidden_layers;
    expect(kernels.find((k) => k.kernel === 'nn.attention')?.calls).toBe(2 * layers);
    expect(end.profile.kernel_ms).toBeCloseTo(kernels.reduce((a, k) => a + k.ms, 0), 6);
    expect(kernels.find((k) => k.kernel === 'linalg.matmul_4bit')!.flops).toBeGreaterThan(0);
  });

  it('usage errors exit 2; refused inputs exit 1 naming what was wrong', async () => {
    expect((await kvant(['train', '--model', model])).code).toBe(2); // missing --data
    expect((await kvant(['train', ...common, '--output-dir', join(dir, 'u'), '--lora-r', 'many'])).code).toBe(2);
    expect((await kvant(['train', ...common, '--output-dir', join(dir, 'u'), '--bogus'])).code).toBe(2);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"text": "fine"}\n{"text": oops}\n');
    const r = await kvant(['train', ...common, '--data', bad, '--output-dir', join(dir, 'b')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.jsonl:2: expected one JSON object/);
    const taken = join(dir, 'taken');
    mkdirSync(taken);
    writeFileSync(join(taken, 'keep.txt'), 'x');
    const t = await kvant(['train', ...common, '--output-dir', taken]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/--overwrite-output-dir/);
    expect(readFileSync(join(taken, 'keep.txt'), 'utf8')).toBe('x');
    // A model folder without a chat template, for conversational data; and an unknown architecture.
    const noTemplate = join(dir, 'no-template');
    cpSync(model, noTemplate, { recursive: true });
    const tc = JSON.parse(readFileSync(join(noTemplate, 'tokenizer_config.json'), 'utf8'));
    delete tc.chat_template;
    writeFileSync(join(noTemplate, 'tokenizer_config.json'), JSON.stringify(tc));
    const nt = await kvant(['train', ...common, '--model', noTemplate, '--output-dir', join(dir, 'nt')]);
    expect(nt.code).toBe(1);
    expect(nt.err).toMatch(/chat template/i);
    const gpt2 = join(dir, 'gpt2');
    cpSync(model, gpt2, { recursive: true });
    const config = JSON.parse(readFileSync(join(gpt2, 'config.json'), 'utf8'));
    writeFileSync(join(gpt2, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }));
    const g = await kvant(['train', ...common, '--model', gpt2, '--output-dir', join(dir, 'g')]);
    expect(g.code).toBe(1);
    expect(g.err).toMatch(/model_type.*gpt2|gpt2.*model_type/);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    const e = await kvant(['train', ...common, '--data', empty, '--output-dir', join(dir, 'e')]);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/empty\.jsonl/);
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, '{"lora_rank": 4}');
    const c = await kvant(['train', ...common, '--output-dir', join(dir, 'c'), '--config', cfg]);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/lora_rank/);
  });
});
