/**
 * `pnpm demo`: the main job on the embedded default. models/tiny is a small Llama-layout model that
 * kvant pretrained on prose about 60 made-up countries (scripts/tiny/build.ts); it knows the facts
 * but has never seen a question or the chat format. data/tiny-facts asks about 45 countries
 * (train.jsonl) and holds out the other 15 (eval.jsonl: facts the base read in prose, never asked).
 *
 * The demo fine-tunes it with QLoRA — the base quantized to NF4 with double quantization on load,
 * LoRA r=16 on every linear layer — through `kvant train` on the default runtime, and shows the
 * exact-match accuracy of the generated answers to the held-out questions before and after, a few
 * answers, and where the adapter, the loss curve and a merged GGUF for llama.cpp/Ollama were written.
 * Target (2-core CI machine): under 3 minutes, held-out accuracy from at most 10% to at least 60%.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '@kvant/cli';
import { Decoder, loadChatTokenizer } from '@kvant/model';
import { createRuntime } from '@kvant/runtimes';
import { type ExactMatch, exactMatchAccuracy, qaItems } from '@kvant/trainer';

const root = join(import.meta.dirname, '..');
const model = join(root, 'models', 'tiny');
const train = join(root, 'data', 'tiny-facts', 'train.jsonl');
const heldOut = join(root, 'data', 'tiny-facts', 'eval.jsonl');
/** Outputs go to out/ (KVANT_DEMO_OUT elsewhere: the test of the demo uses a temporary folder). */
const outRoot = process.env.KVANT_DEMO_OUT ?? join(root, 'out');
const out = join(outRoot, 'tiny-qlora');
const gguf = join(outRoot, 'tiny-qlora.q8_0.gguf');
const started = Date.now();
const QUANT = { quantType: 'nf4', doubleQuant: true, blocksize: 64 } as const;
const SHOW = 3;

const items = qaItems(
  readFileSync(heldOut, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l)),
  heldOut,
);

/** Exact-match accuracy on the held-out questions: the base in NF4, with the adapter when given. */
async function heldOutAccuracy(adapter?: string): Promise<ExactMatch> {
  const rt = await createRuntime('wasm');
  try {
    const decoder = await Decoder.fromFolder(rt, model, { quant: QUANT });
    if (adapter) await decoder.loadAdapter(adapter);
    const r = await exactMatchAccuracy(decoder, await loadChatTokenizer(model), items, { maxNewTokens: 24 });
    decoder.dispose();
    return r;
  } finally {
    rt.dispose();
  }
}

function show(title: string, r: ExactMatch): void {
  console.log(`\n${title}: ${r.correct}/${r.total} held-out questions answered exactly (${(100 * r.accuracy).toFixed(1)}%)`);
  for (const x of r.results.slice(0, SHOW)) console.log(`  Q: ${x.question}\n  A: ${JSON.stringify(x.got)} ${x.correct ? '(right)' : `(expected ${JSON.stringify(x.expected)})`}`);
}

console.log('== the embedded base model, before fine-tuning (NF4 + double quantization) ==');
const before = await heldOutAccuracy();
show('before', before);

console.log('\n== kvant train: QLoRA (NF4 + double quant base, LoRA r=16 on all linear layers) ==\n');
const argv = [
  'train', '--model', model, '--data', train, '--eval-data', heldOut, '--output-dir', out, '--overwrite-output-dir',
  '--quant-type', 'nf4', '--double-quant', '--lora-r', '16', '--lora-alpha', '32', '--lora-dropout', '0', '--target-modules', 'all-linear',
  '--learning-rate', '2e-3', '--num-train-epochs', '4', '--per-device-train-batch-size', '8', '--no-gradient-checkpointing',
  '--logging-steps', '4', '--eval-steps', '17', '--save-steps', '34', '--save-total-limit', '1', '--seed', '42',
];
console.log(`kvant ${argv.map((a) => (a.startsWith(root) ? a.slice(root.length + 1) : a)).join(' ')}\n`);
let code = await main(argv);
if (code !== 0) process.exit(code);

const after = await heldOutAccuracy(out);
show('after', after);

console.log('\n== kvant export-gguf: the merged model for llama.cpp and Ollama (q8_0) ==\n');
code = await main(['export-gguf', '--model', model, '--adapter', out, '--out', gguf, '--type', 'q8_0', '--ollama', join(outRoot, 'tiny-qlora-ollama'), '--force']);

const seconds = (Date.now() - started) / 1000;
console.log(`\nheld-out exact match: ${(100 * before.accuracy).toFixed(1)}% before, ${(100 * after.accuracy).toFixed(1)}% after, in ${seconds.toFixed(0)} s`);
console.log(`adapter (PEFT): ${out}\nloss curve: ${join(out, 'loss_curve.png')}\nmerged GGUF: ${gguf}`);
const met = before.accuracy <= 0.1 && after.accuracy >= 0.6;
console.log(met ? 'target met: from at most 10% to at least 60%' : 'TARGET MISSED: expected at most 10% before and at least 60% after');
process.exit(code !== 0 ? code : met ? 0 : 1);
