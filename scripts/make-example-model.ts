/**
 * Generate the example model folder (a small Llama-layout model, BF16, two shards, a tokenizer).
 *
 *   tsx scripts/make-example-model.ts --out <dir> [--force] [--seed N]
 */
import { parseArgs } from 'node:util';
import { KvantError } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, force: { type: 'boolean', default: false }, seed: { type: 'string', default: '0' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || !values.out) {
    console.log('usage: tsx scripts/make-example-model.ts --out <dir> [--force] [--seed N]');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed: expected a non-negative integer, found ${values.seed}`);
  const summary = await generateExampleModel(values.out, { force: values.force, seed });
  console.log(`wrote ${summary.dir}: ${summary.tensors} tensors, ${summary.parameters.toLocaleString('en-US')} parameters, ${(summary.weightBytes / 1e6).toFixed(2)} MB of BF16 weights`);
  for (const f of summary.files) console.log(`  ${f}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof KvantError ? `error: ${e.message}` : e);
  process.exitCode = 1;
});
