/**
 * `pnpm demo`: the main job on the embedded default. Generates the example Llama-layout model
 * (deterministic, into .cache/example-model), prints its memory table, quantizes it to NF4 with
 * double quantization on the default runtime (wasm) into out/example-nf4, and prints the
 * per-module bytes, bits per parameter and error statistics.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { memoryCommand, quantizeCommand } from '@kvant/cli';
import { generateExampleModel } from '@kvant/formats';

const root = join(import.meta.dirname, '..');
const model = join(root, '.cache', 'example-model');
const out = join(root, 'out', 'example-nf4');

if (!existsSync(join(model, 'config.json'))) {
  console.log(`generating the example model in ${model}`);
  await generateExampleModel(model, { force: true });
}
console.log('\n== kvant memory (the example model) ==\n');
let code = await memoryCommand.run([model, '--lora-r', '16']);
console.log('\n== kvant memory phi-3-mini (the course example: 2.21 GB with NF4) ==\n');
code ||= await memoryCommand.run(['phi-3-mini']);
console.log('\n== kvant quantize (NF4 + double quantization, default runtime) ==\n');
code ||= await quantizeCommand.run([model, '--out', out, '--quant-type', 'nf4', '--double-quant', '--force']);
process.exit(code);
