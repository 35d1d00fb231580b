/**
 * Builds the embedded tiny model and its data, reproducibly (`pnpm tiny:build`, ~3–5 minutes on two
 * cores): the facts world (facts.ts) → a prose corpus → a byte-level BPE tokenizer trained on it →
 * a randomly initialised Llama-layout folder → pretraining with kvant itself (`kvant train --full`)
 * → models/tiny (the base model the demo fine-tunes) and data/tiny-facts (the chat data: train.jsonl
 * asks about 45 countries, eval.jsonl about the 15 others, whose facts the base read only in prose).
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '@kvant/cli';
import { generateExampleModel } from '@kvant/formats';
import { chatRecords, corpus, factsWorld, questions } from './facts';

const root = join(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const epochs = Number(flag('--epochs') ?? 30);
// --out DIR writes DIR/models/tiny and DIR/data/tiny-facts instead (to compare a rebuild with the shipped files).
const outRoot = flag('--out') ?? root;
const work = join(outRoot, '.cache', 'tiny-build');
const modelOut = join(outRoot, 'models', 'tiny');
const dataOut = join(outRoot, 'data', 'tiny-facts');

export const TINY_SIZE = { hidden_size: 128, intermediate_size: 352, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 768 };

const world = factsWorld();
const paragraphs = corpus(world, 16);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
writeFileSync(join(work, 'corpus.jsonl'), jsonl(paragraphs.map((text) => ({ text }))));
// The tokenizer learns the corpus and the questions' words (all of them: vocabulary, not answers).
const tokenizerText = [...paragraphs, ...world.countries.flatMap((c) => questions(c).map((q) => q.question))].join('\n');
await generateExampleModel(join(work, 'init'), { force: true, size: TINY_SIZE, corpus: tokenizerText, outliers: 0, f32: true, tieWordEmbeddings: true, shards: 1, seed: 1 });

const code = await main([
  'train', '--full', '--model', join(work, 'init'), '--data', join(work, 'corpus.jsonl'), '--output-dir', join(work, 'pretrained'),
  '--packing', '--max-length', '128', '--per-device-train-batch-size', '8', '--learning-rate', '2e-3', '--lr-scheduler-type', 'cosine',
  '--warmup-ratio', '0.03', '--weight-decay', '0.01', '--num-train-epochs', String(epochs), '--no-gradient-checkpointing', '--logging-steps', '20',
  '--save-steps', '100000', '--seed', '0', '--adam-beta2', '0.99', '--runtime', 'wasm',
]);
if (code !== 0) process.exit(code);

rmSync(modelOut, { recursive: true, force: true });
mkdirSync(modelOut, { recursive: true });
for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors', 'loss_curve.png']) cpSync(join(work, 'pretrained', f), join(modelOut, f));
mkdirSync(dataOut, { recursive: true });
writeFileSync(join(dataOut, 'train.jsonl'), jsonl(chatRecords(world.train)));
writeFileSync(join(dataOut, 'eval.jsonl'), jsonl(chatRecords(world.heldOut)));
console.log(`wrote ${modelOut} and ${dataOut}`);
