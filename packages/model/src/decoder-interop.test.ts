/**
 * The decoder against transformers (and PEFT) for small random Llama, Mistral (sliding window 5),
 * Qwen2 (q/k/v biases) and Phi-3 (fused projections) models built by scripts/interop/model_interop.py:
 * logits within 1e-4 relative and the loss on a packed batch (positions restarting per document,
 * labels with -100), the gradients of LoRA A and B through PEFT's autograd, and greedy generation
 * with the adapter. The reference runtime always; every other runtime whose supports() covers the
 * kernels (in CI a runtime that cannot run them is a failure). Needs python3 with torch,
 * transformers and peft: a skip locally, a failure in CI.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadF32, type Runtime } from '@kvant/abi';
import { ReferenceRuntime } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECODER_BACKWARD_KERNELS, DECODER_FORWARD_KERNELS, Decoder } from './decoder';
import { generate } from './generate';
import { ARCHS, inCi, OTHER_RUNTIMES, pythonEnv, randomIds, relError, ROPE, supportsAll, transformers } from './test-support';

const T = 12;
const B = 2;
const ids = randomIds(B * T, 256, 7);
const labels = ids.map((x, i) => (i % 5 === 0 ? -100 : x));
const positions = [...Array(T).keys(), 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6];
const rows = (a: number[]) => [a.slice(0, T), a.slice(T)];
const prompt = ids.slice(0, 6);
const LORA_TARGETS: Record<string, string[] | string> = { llama: ['q_proj', 'v_proj'], mistral: 'all-linear', qwen2: ['q_proj', 'v_proj'], phi3: 'all-linear' };

interface Oracle {
  logits: number[];
  loss: number;
  lora_loss: number;
  lora_logits: number[];
  lora_grads: Record<string, number[]>;
  generated: number[];
}

if (!pythonEnv.ok && !inCi) console.warn(`decoder interop tests skipped: ${pythonEnv.reason}`);
const run = pythonEnv.ok || inCi ? describe : describe.skip;

/** Numbers for the report: arch -> what was compared -> max relative error. */
const report: Record<string, Record<string, number>> = {};

run('decoder vs transformers', () => {
  let root: string;
  const oracles = new Map<string, Oracle>();
  beforeAll(async () => {
    if (!pythonEnv.ok) throw new Error(`CI: python3 with torch, transformers and peft is required (${pythonEnv.reason})`);
    root = await mkdtemp(join(tmpdir(), 'kvant-decoder-'));
  });
  afterAll(async () => {
    console.log(`transformers comparison (max |kvant - torch| / max |torch|): ${JSON.stringify(report)}`);
    if (root) await rm(root, { recursive: true, force: true });
  });

  for (const arch of Object.keys(ARCHS)) {
    it(`${arch}: logits, loss, LoRA gradients and greedy generation on the reference runtime`, async () => {
      const dir = join(root, arch);
      const adapterDir = join(root, `${arch}-adapter`);
      const py = transformers<Oracle>({
        build: { arch, dir, config: ARCHS[arch] },
        load: { dir },
        forward: { input_ids: rows(ids), position_ids: rows(positions), labels: rows(labels) },
        lora: { r: 4, alpha: 8, targets: LORA_TARGETS[arch], adapter_dir: adapterDir },
        generate: { input_ids: prompt, max_new_tokens: 8, eos_token_id: 2 },
      });
      oracles.set(arch, py);
      const rt = new ReferenceRuntime();
      const model = await Decoder.fromFolder(rt, dir, { rope: ROPE });
      const r: Record<string, number> = {};
      // Base forward.
      const out = await model.forward({ b: B, t: T, inputIds: ids, positionIds: positions, labels });
      const e = relError(await downloadF32(out.logits), py.logits);
      r.logits = e.rel;
      expect(e.rel).toBeLessThan(1e-4);
      r.loss = Math.abs(out.loss! - py.loss) / py.loss;
      expect(r.loss).toBeLessThan(1e-5);
      // LoRA: PEFT's adapter (B randomized), trained; one batch forward + backward.
      await model.loadAdapter(adapterDir, { isTrainable: true });
      const lo = await model.forward({ b: B, t: T, inputIds: ids, positionIds: positions, labels }, { training: true });
      r.loraLogits = relError(await downloadF32(lo.logits), py.lora_logits).rel;
      expect(r.loraLogits).toBeLessThan(1e-4);
      expect(Math.abs(lo.loss! - py.lora_loss) / py.lora_loss).toBeLessThan(1e-5);
      await model.backward();
      const trainable = model.trainable();
      expect(trainable.map((t) => t.name).sort()).toEqual(Object.keys(py.lora_grads).sort());
      let worst = 0;
      for (const t of trainable) {
        const g = relError(await downloadF32(t.grad), py.lora_grads[t.name]);
        worst = Math.max(worst, g.rel);
        expect(g.rel, t.name).toBeLessThan(1e-4);
      }
      r.loraGrads = worst;
      // Greedy generation with the adapter, as transformers' generate(do_sample=False).
      const gen = await generate(model, prompt, { maxNewTokens: 8 });
      expect(gen.tokenIds).toEqual(py.generated);
      report[arch] = r;
      model.dispose();
    });
  }

  for (const name of OTHER_RUNTIMES) {
    it(`${name}: logits and LoRA gradients of every architecture, where the runtime has the kernels`, async () => {
      let rt: Runtime;
      try {
        rt = await createRuntime(name);
      } catch (e) {
        if (inCi) throw e;
        console.warn(`${name}: not available here (${(e as Error).message})`);
        return;
      }
      try {
        const s = supportsAll(rt, [...DECODER_FORWARD_KERNELS, ...DECODER_BACKWARD_KERNELS]);
        if (s !== true) {
          if (inCi) throw new Error(`CI: ${name} must run the decoder's kernels (${s})`);
          console.warn(`${name}: decoder comparison not run (${s})`);
          return;
        }
        for (const arch of Object.keys(ARCHS)) {
          const py = oracles.get(arch);
          if (!py) throw new Error(`${arch}: the reference test builds the model first`);
          const model = await Decoder.fromFolder(rt, join(root, arch), { rope: ROPE });
          const out = await model.forward({ b: B, t: T, inputIds: ids, positionIds: positions, labels });
          const e = relError(await downloadF32(out.logits), py.logits);
          expect(e.rel, `${arch} logits on ${name}`).toBeLessThan(1e-4);
          await model.loadAdapter(join(root, `${arch}-adapter`), { isTrainable: true });
          await model.forward({ b: B, t: T, inputIds: ids, positionIds: positions, labels }, { training: true });
          await model.backward();
          for (const t of model.trainable()) expect(relError(await downloadF32(t.grad), py.lora_grads[t.name]).rel, `${arch} ${t.name} on ${name}`).toBeLessThan(1e-4);
          (report[arch] ??= {})[`logits_${name}`] = e.rel;
          model.dispose();
        }
      } finally {
        rt.dispose();
      }
    });
  }
});
