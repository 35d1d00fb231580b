/**
 * The trainer when the disk fills up while a checkpoint is written (injected ENOSPC in the
 * optimizer-state write of checkpoint-4): the run stops with the file-system error, the previous
 * checkpoint is intact and resumes to the bytes of an uninterrupted run, and no temporary is left.
 * Also: --full writes a model folder the decoder loads with the trained weights, and --adapter
 * continues an existing PEFT adapter.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadF32 } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';
import { Decoder } from '@kvant/model';
import { ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveTrainArgs, type TrainArgsInput } from './args';
import { Trainer } from './trainer';

const fault = { path: undefined as string | undefined };
vi.mock('@kvant/formats', async (importOriginal) => {
  const real = await importOriginal<typeof import('@kvant/formats')>();
  return {
    ...real,
    writeSafetensors: async (path: string, ...rest: Parameters<typeof real.writeSafetensors> extends [string, ...infer R] ? R : never) => {
      if (fault.path && path.includes(fault.path)) {
        throw new real.FileSystemError(path, 'a file kvant can write', 'no space left on device (ENOSPC)', 'ENOSPC');
      }
      return real.writeSafetensors(path, ...rest);
    },
  };
});

const root = mkdtempSync(join(tmpdir(), 'kvant-trainer-faults-'));
const model = join(root, 'model');
const data = join(root, 'train.jsonl');
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await generateExampleModel(model, { size: { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300 }, shards: 1, seed: 5, f32: true });
  writeFileSync(data, `${Array.from({ length: 16 }, (_, i) => JSON.stringify({ text: `Line ${i}: the quick brown fox jumps over ${i} lazy dogs.` })).join('\n')}\n`);
});

const rt = new ReferenceRuntime();
const base = (over: TrainArgsInput): TrainArgsInput => ({ model, data, per_device_train_batch_size: 4, max_steps: 6, save_steps: 2, logging_steps: 1, lora_r: 4, quant_type: 'none', gradient_checkpointing: false, ...over });

async function run(args: TrainArgsInput, resume?: string) {
  const t = await Trainer.create(rt, resolveTrainArgs({ ...args, resume_from_checkpoint: resume }));
  try {
    if (resume) await t.resume(resume);
    const r = await t.train();
    await t.saveOutputs(r);
    return r;
  } finally {
    t.dispose();
  }
}

describe('trainer faults and modes', () => {
  it('a full disk while saving checkpoint-4: the run stops, checkpoint-2 survives and resumes exactly', async () => {
    const ok = join(root, 'ok');
    await run(base({ output_dir: ok }));
    const out = join(root, 'enospc');
    fault.path = 'checkpoint-4';
    const err = await run(base({ output_dir: out })).catch((e) => e);
    fault.path = undefined;
    expect(String(err)).toMatch(/checkpoint-4.*no space left on device/);
    expect(readdirSync(out).filter((n) => n.includes('checkpoint')).sort()).toEqual(['checkpoint-2']);
    await run(base({ output_dir: out }), join(out, 'checkpoint-2'));
    expect(readFileSync(join(out, 'adapter_model.safetensors')).equals(readFileSync(join(ok, 'adapter_model.safetensors')))).toBe(true);
  });

  it('--full writes a model folder that loads with the trained weights', async () => {
    const out = join(root, 'full');
    const r = await run(base({ output_dir: out, full: true, learning_rate: 1e-3 }));
    expect(r.status).toBe('completed');
    const a = await Decoder.fromFolder(rt, model);
    const b = await Decoder.fromFolder(rt, out);
    const batch = { b: 1, t: 6, inputIds: [1, 2, 3, 4, 5, 6] };
    const la = await downloadF32((await a.forward(batch)).logits);
    const lb = await downloadF32((await b.forward(batch)).logits);
    expect(lb.length).toBe(la.length);
    expect(lb.some((v, i) => v !== la[i])).toBe(true);
    a.dispose();
    b.dispose();
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float32');
  });

  it('--adapter continues an existing PEFT adapter (the loss starts where the first run ended)', async () => {
    const first = join(root, 'first');
    const r1 = await run(base({ output_dir: first, learning_rate: 5e-3, lora_dropout: 0 }));
    const second = join(root, 'second');
    const losses: number[] = [];
    const t = await Trainer.create(rt, resolveTrainArgs(base({ output_dir: second, adapter: first, max_steps: 1, learning_rate: 1e-9 })), {
      onEvent: (e) => {
        if (e.kind === 'step') losses.push(e.loss);
      },
    });
    await t.train();
    t.dispose();
    const last = r1.logHistory.filter((h) => h.loss !== undefined);
    // The continued run's first loss is that of the trained adapter: below the first run's start.
    expect(losses[0]).toBeLessThan(last[0].loss!);
  });
});
