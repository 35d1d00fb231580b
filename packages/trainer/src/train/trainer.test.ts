/**
 * The training loop on a small generated Llama: every runtime matches the reference step by step
 * (loss and adapter), a resumed run (from a checkpoint, or after stop()) writes the same adapter
 * bytes as one that never stopped, the same seed gives the same bytes, gradient accumulation
 * normalises over all label tokens, and bad situations (another run in the output folder, a
 * checkpoint of other flags, a diverging run, a failing save) are refused or stopped cleanly with
 * the last good checkpoint kept.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '@kvant/abi';
import { generateExampleModel, SafetensorsFile } from '@kvant/formats';
import { ReferenceRuntime } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTrainArgs, type TrainArgsInput } from './args';
import { CheckpointError, listCheckpoints } from './checkpoint';
import { OutputDirError, Trainer, TrainingDivergedError } from './trainer';

const inCi = Boolean(process.env.CI);
const root = mkdtempSync(join(tmpdir(), 'kvant-trainer-'));
const model = join(root, 'model');
const data = join(root, 'train.jsonl');
const evalData = join(root, 'eval.jsonl');
let n = 0;
const fresh = () => join(root, `out-${n++}`);

beforeAll(async () => {
  await generateExampleModel(model, { size: { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300 }, shards: 1, seed: 3 });
  const row = (i: number) => ({ prompt: [{ role: 'user', content: `What is ${i} plus one?` }], completion: [{ role: 'assistant', content: `${i} plus one is ${i + 1}.` }] });
  writeFileSync(data, `${Array.from({ length: 24 }, (_, i) => JSON.stringify(row(i))).join('\n')}\n`);
  writeFileSync(evalData, `${Array.from({ length: 6 }, (_, i) => JSON.stringify(row(100 + i))).join('\n')}\n`);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const BASE: TrainArgsInput = {
  model,
  data,
  eval_data: evalData,
  per_device_train_batch_size: 4,
  gradient_accumulation_steps: 2,
  max_steps: 6,
  logging_steps: 2,
  save_steps: 3,
  lora_r: 4,
  lora_dropout: 0.1,
  target_modules: 'all-linear',
  learning_rate: 5e-3,
  lr_scheduler_type: 'cosine',
  warmup_steps: 1,
  weight_decay: 0.01,
  double_quant: true,
  gradient_checkpointing: false,
};

interface Run {
  losses: number[];
  adapters: Float32Array[][];
  result: Awaited<ReturnType<Trainer['train']>>;
  out: string;
}

/** Train with `over` on `rt`, recording each step's loss and (optionally) the adapter after it. */
async function train(rt: Runtime, over: TrainArgsInput = {}, opts: { everyStep?: boolean; resume?: string; stopAt?: number; out?: string } = {}): Promise<Run> {
  const out = opts.out ?? fresh();
  const args = resolveTrainArgs({ ...BASE, output_dir: out, resume_from_checkpoint: opts.resume, ...over });
  const losses: number[] = [];
  const adapters: Float32Array[][] = [];
  const trainer: Trainer = await Trainer.create(rt, args, {
    onEvent: async (e) => {
      if (e.kind !== 'step') return;
      losses.push(e.loss);
      if (opts.everyStep) adapters.push(await readParams(trainer));
      if (opts.stopAt === e.step) trainer.stop();
    },
  });
  try {
    if (opts.resume) await trainer.resume(opts.resume);
    const result = await trainer.train();
    await trainer.saveOutputs(result);
    return { losses, adapters, result, out };
  } finally {
    trainer.dispose();
  }
}

async function readParams(t: Trainer): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const p of t.decoder.trainable()) {
    const b = await t.runtime.read(p.param);
    out.push(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + 4 * p.param.size)));
  }
  return out;
}

const adapterBytes = (out: string) => readFileSync(join(out, 'adapter_model.safetensors'));

describe('Trainer on the reference runtime', () => {
  const rt = new ReferenceRuntime();
  let straight: Run;

  it('trains: the loss falls, logs, evaluates, checkpoints and writes its outputs', async () => {
    straight = await train(rt, {}, { everyStep: true });
    const { result, out, losses } = straight;
    expect(result.status).toBe('completed');
    expect(result.globalStep).toBe(6);
    expect(losses).toHaveLength(6);
    expect(losses[5]).toBeLessThan(losses[0]);
    expect(result.logHistory.filter((h) => h.loss !== undefined).map((h) => h.step)).toEqual([2, 4, 6]);
    expect(result.eval?.tokens).toBeGreaterThan(0);
    expect(result.eval?.tokenAccuracy).toBeGreaterThanOrEqual(0);
    expect((await listCheckpoints(out)).map((c) => c.step)).toEqual([3, 6]);
    const files = readdirSync(out).sort();
    for (const f of ['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'loss_curve.png', 'trainer_state.json', 'training_args.json']) expect(files).toContain(f);
    expect(readFileSync(join(out, 'loss_curve.png')).subarray(1, 4).toString()).toBe('PNG');
    // training_args.json is a valid --config: it resolves to the same arguments.
    const saved = JSON.parse(readFileSync(join(out, 'training_args.json'), 'utf8'));
    expect(resolveTrainArgs(saved)).toEqual(resolveTrainArgs({ ...BASE, output_dir: out }));
    // The saved adapter is the trained one.
    const st = await SafetensorsFile.open(join(out, 'adapter_model.safetensors'));
    expect(st.list().length).toBe(straight.adapters[5].length);
    await st.close();
  });

  it('the same seed gives the same adapter bytes; another seed does not', async () => {
    const again = await train(rt);
    expect(adapterBytes(again.out).equals(adapterBytes(straight.out))).toBe(true);
    const other = await train(rt, { seed: 7, max_steps: 1 });
    expect(adapterBytes(other.out).equals(adapterBytes(straight.out))).toBe(false);
  });

  it('resuming from checkpoint-3 continues exactly (adapter bytes, losses, log history)', async () => {
    const resumed = await train(rt, {}, { resume: join(straight.out, 'checkpoint-3') });
    expect(resumed.losses).toEqual(straight.losses.slice(3));
    expect(adapterBytes(resumed.out).equals(adapterBytes(straight.out))).toBe(true);
    const withoutSpeed = (h: readonly object[]) => h.map((e) => ({ ...e, tokens_per_second: undefined }));
    expect(withoutSpeed(resumed.result.logHistory)).toEqual(withoutSpeed(straight.result.logHistory));
  });

  it('stop() (Ctrl-C) ends after the step with a checkpoint; resume "last" finishes with the same bytes', async () => {
    const out = fresh();
    const stopped = await train(rt, { save_steps: 100 }, { stopAt: 2, out });
    expect(stopped.result.status).toBe('interrupted');
    expect((await listCheckpoints(out)).map((c) => c.step)).toEqual([2]);
    const done = await train(rt, { save_steps: 100 }, { resume: 'last', out });
    expect(done.result.status).toBe('completed');
    expect(adapterBytes(out).equals(adapterBytes(straight.out))).toBe(true);
  });

  it('with 8-bit AdamW and packing, resume is bit-identical too', async () => {
    const over: TrainArgsInput = { optim: 'adamw_8bit', packing: true, max_length: 64, lora_r: 64, target_modules: ['q_proj', 'v_proj'] };
    const a = await train(rt, over);
    const b = await train(rt, over, { resume: join(a.out, 'checkpoint-3') });
    expect(adapterBytes(b.out).equals(adapterBytes(a.out))).toBe(true);
  });

  it('gradient accumulation normalises over all label tokens of the accumulated batch', async () => {
    // One step of 2 micro-batches of 4 rows == one step of one batch of 8 rows (same rows, file order).
    const over = { shuffle: false, max_steps: 1, lora_dropout: 0, learning_rate: 1e-3, eval_data: null, max_grad_norm: 0, warmup_steps: 0, lr_scheduler_type: 'constant' as const };
    const acc = await train(rt, { ...over, per_device_train_batch_size: 4, gradient_accumulation_steps: 2 }, { everyStep: true });
    const one = await train(rt, { ...over, per_device_train_batch_size: 8, gradient_accumulation_steps: 1 }, { everyStep: true });
    expect(acc.losses[0]).toBeCloseTo(one.losses[0], 5);
    let maxRel = 0;
    acc.adapters[0].forEach((t, i) => {
      const u = one.adapters[0][i];
      const scale = Math.max(...u.map(Math.abs));
      for (let k = 0; k < t.length; k++) maxRel = Math.max(maxRel, Math.abs(t[k] - u[k]) / scale);
    });
    console.log(`accumulation 2x4 vs one batch of 8: max relative difference of the adapter after one step ${maxRel.toExponential(2)}`);
    expect(maxRel).toBeLessThan(1e-4);
    // A wrong divisor (a mean per micro-batch, then summed) would double the update.
    const doubled = await train(rt, { ...over, per_device_train_batch_size: 8, gradient_accumulation_steps: 1, learning_rate: 2e-3 }, { everyStep: true });
    let diff = 0;
    acc.adapters[0].forEach((t, i) => {
      for (let k = 0; k < t.length; k++) diff = Math.max(diff, Math.abs(t[k] - doubled.adapters[0][i][k]));
    });
    expect(diff).toBeGreaterThan(1e-5);
  });

  it('refuses an output folder that holds another run, unless --overwrite-output-dir', async () => {
    const out = fresh();
    await mkdir(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await expect(train(rt, { max_steps: 1 }, { out })).rejects.toThrow(OutputDirError);
    await train(rt, { max_steps: 1, overwrite_output_dir: true }, { out });
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses a checkpoint of other flags or other data, naming the field', async () => {
    await expect(train(rt, { lora_r: 8 }, { resume: join(straight.out, 'checkpoint-3') })).rejects.toThrow(/fingerprint\.lora_r/);
    const other = join(root, 'other.jsonl');
    writeFileSync(other, readFileSync(data, 'utf8').replace('plus one is 1.', 'plus one is one.'));
    await expect(train(rt, { data: other }, { resume: join(straight.out, 'checkpoint-3') })).rejects.toThrow(/fingerprint\.data_sha256/);
    await expect(train(rt, {}, { resume: join(root, 'model') })).rejects.toThrow(CheckpointError);
  });

  it('a diverging run stops naming the step and the tensor, keeping the last good checkpoint', async () => {
    const out = fresh();
    const err = await train(rt, { optim: 'sgd', learning_rate: 1e30, save_steps: 1, max_grad_norm: 0, lr_scheduler_type: 'constant' }, { out }).catch((e) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err.message).toMatch(/^step \d+: /);
    expect(err.message).toMatch(/last good checkpoint: .*checkpoint-\d+/);
    const kept = await listCheckpoints(out);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept[kept.length - 1].step).toBe(err.step - 1);
  });

  it('a partial checkpoint left by a SIGKILL is ignored: resume "last" uses the last complete one', async () => {
    const out = fresh();
    await mkdir(out);
    cpSync(join(straight.out, 'checkpoint-3'), join(out, 'checkpoint-3'), { recursive: true });
    // What a kill during the save of step 6 leaves: a hidden temporary with kvant's marker.
    const partial = join(out, `.checkpoint-6.tmp-999999-0123abcd`);
    await mkdir(partial);
    writeFileSync(join(partial, '.kvant-partial'), JSON.stringify({ pid: 999999, host: 'x' }));
    expect((await listCheckpoints(out)).map((c) => c.step)).toEqual([3]);
    const done = await train(rt, {}, { resume: 'last', out });
    expect(done.result.globalStep).toBe(6);
    expect(adapterBytes(out).equals(adapterBytes(straight.out))).toBe(true);
  });
});

describe('every runtime matches the reference step by step', async () => {
  const reference = new ReferenceRuntime();
  let want: Run;
  beforeAll(async () => {
    want = await train(reference, { max_steps: 4 }, { everyStep: true });
  });
  for (const name of ['wasm', 'webgpu', 'cuda-emu'] as const) {
    it(`${name}: QLoRA (NF4 + double quant), dropout, accumulation, AdamW`, async (ctx) => {
      let rt: Runtime;
      try {
        rt = await createRuntime(name);
      } catch (e) {
        if (inCi) throw e;
        ctx.skip();
        return;
      }
      try {
        const got = await train(rt, { max_steps: 4 }, { everyStep: true });
        // webgpu's AdamW divides approximately (RuntimeInfo.approximate): bounded, not bit-exact.
        const exact = !(rt.info().approximate ?? []).some((k) => k.startsWith('optim.'));
        let worst = 0;
        got.adapters.forEach((step, s) => {
          step.forEach((t, i) => {
            const w = want.adapters[s][i];
            const scale = Math.max(1e-30, ...w.map(Math.abs));
            for (let k = 0; k < t.length; k++) worst = Math.max(worst, Math.abs(t[k] - w[k]) / scale);
          });
        });
        console.log(`${name}: max |adapter - reference| / max |reference| over 4 steps = ${worst.toExponential(2)}; losses ${got.losses.join(', ')}`);
        // The first forward is bit-identical (embedding, rmsnorm, rope, 4-bit matmul and the loss are
        // exact on every runtime). After that the runtimes' exp/log in attention, SwiGLU and
        // cross-entropy differ by an ulp, and AdamW's first steps turn a tiny gradient difference into
        // up to 2·lr on elements whose gradient is near zero (m/sqrt(v) is ±1 there): bounded, printed.
        expect(got.losses[0]).toBe(want.losses[0]);
        got.losses.forEach((l, i) => {
          expect(Math.abs(l - want.losses[i]) / want.losses[i]).toBeLessThan(1e-5);
        });
        expect(worst).toBeLessThan(2e-3);
        void exact;
      } finally {
        rt.dispose();
      }
    });
  }
});
