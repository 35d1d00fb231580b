/**
 * The memory of each training configuration of the tiny model, as `kvant train` reports it (bytes on
 * the runtime: base, trainable, gradients, optimizer state, activations of the largest micro-batch).
 * `pnpm exec tsx scripts/tiny/memory-table.ts` prints the markdown table of docs/trainer.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '@kvant/runtimes';
import { resolveTrainArgs, Trainer, type TrainArgsInput } from '@kvant/trainer';

const root = join(import.meta.dirname, '..', '..');
const base: TrainArgsInput = { model: join(root, 'models', 'tiny'), data: join(root, 'data', 'tiny-facts', 'train.jsonl'), target_modules: 'all-linear', gradient_checkpointing: false };
const configs: [string, TrainArgsInput][] = [
  ['full fine-tuning (f32, AdamW)', { full: true }],
  ['LoRA r=16, f32 base, AdamW', { quant_type: 'none' }],
  ['QLoRA r=16, NF4, AdamW', { quant_type: 'nf4' }],
  ['QLoRA r=16, NF4 + double quant, AdamW', { quant_type: 'nf4', double_quant: true }],
  ['QLoRA r=16, NF4 + double quant, 8-bit AdamW', { quant_type: 'nf4', double_quant: true, optim: 'adamw_8bit' }],
  ['QLoRA r=16, NF4 + double quant, AdamW, checkpointing', { quant_type: 'nf4', double_quant: true, gradient_checkpointing: true }],
];
const kb = (b: number) => `${(b / 1e3).toFixed(1)} kB`;
const rt = await createRuntime('wasm');
const tmp = mkdtempSync(join(tmpdir(), 'kvant-mem-'));
console.log('| configuration | base | trainable | gradients | optimizer | activations (B=8) | total |\n|---|---:|---:|---:|---:|---:|---:|');
for (const [i, [name, over]] of configs.entries()) {
  const t = await Trainer.create(rt, resolveTrainArgs({ ...base, ...over, output_dir: join(tmp, String(i)) }));
  const m = t.memory();
  console.log(`| ${name} | ${kb(m.base)} | ${kb(m.trainable)} | ${kb(m.gradients)} | ${kb(m.optimizer)} | ${kb(m.activations)} | ${kb(m.base + m.trainable + m.gradients + m.optimizer + m.activations)} |`);
  t.dispose();
}
rt.dispose();
rmSync(tmp, { recursive: true, force: true });
