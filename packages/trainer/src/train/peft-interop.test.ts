/**
 * What `kvant train` writes is PEFT's adapter: loaded with PeftModel.from_pretrained onto the same
 * Hugging Face model in transformers, it gives kvant's logits (decoder + adapter) within 1e-4
 * relative. On the embedded tiny model, after a short LoRA run on a dense base (PEFT cannot load a
 * 4-bit base without bitsandbytes, which does not install here). Needs python3 with torch,
 * transformers and peft: a skip locally, a failure in CI.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadF32 } from '@kvant/abi';
import { Decoder } from '@kvant/model';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, describe, expect, it } from 'vitest';
import { inCi, pythonEnv, relError, transformers } from '../../../model/src/test-support';
import { resolveTrainArgs } from './args';
import { Trainer } from './trainer';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const model = join(root, 'models', 'tiny');
const dir = mkdtempSync(join(tmpdir(), 'kvant-peft-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

if (!pythonEnv.ok && !inCi) console.warn(`PEFT interop test skipped: ${pythonEnv.reason}`);
const run = pythonEnv.ok || inCi ? describe : describe.skip;

run('kvant train adapter in PEFT', () => {
  it('loads with PeftModel.from_pretrained and reproduces kvant logits within 1e-4', async () => {
    if (!pythonEnv.ok) throw new Error(`CI: python3 with torch, transformers and peft is required (${pythonEnv.reason})`);
    const out = join(dir, 'adapter');
    const rt = await createRuntime('wasm');
    try {
      const args = resolveTrainArgs({
        model,
        data: join(root, 'data', 'tiny-facts', 'train.jsonl'),
        output_dir: out,
        quant_type: 'none',
        target_modules: 'all-linear',
        lora_r: 8,
        learning_rate: 3e-3,
        max_steps: 4,
        gradient_checkpointing: false,
      });
      const trainer = await Trainer.create(rt, args);
      await trainer.saveOutputs(await trainer.train());
      trainer.dispose();

      const ids = [[1, 20, 31, 45, 56, 60, 77, 80, 91, 100, 120, 130], [5, 6, 7, 8, 9, 10, 200, 210, 220, 230, 240, 250]];
      const decoder = await Decoder.fromFolder(rt, model);
      await decoder.loadAdapter(out);
      const { logits } = await decoder.forward({ b: 2, t: 12, inputIds: ids.flat() });
      const mine = await downloadF32(logits);
      decoder.dispose();
      const theirs = transformers<{ peft_logits: number[]; logits: number[] }>({ load: { dir: model }, forward: { input_ids: ids }, peft_load: { adapter_dir: out } });
      const err = relError(mine.subarray(0, theirs.peft_logits.length), theirs.peft_logits);
      console.log(`kvant train adapter vs PEFT: max |kvant - peft| / max |peft| = ${err.rel.toExponential(2)}`);
      expect(err.rel).toBeLessThan(1e-4);
      // The adapter matters: the base's logits are far from the adapted ones.
      expect(relError(theirs.logits, theirs.peft_logits).rel).toBeGreaterThan(1e-3);
    } finally {
      rt.dispose();
    }
  });
});
