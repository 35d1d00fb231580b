/**
 * kvant's data preparation against TRL's own (scripts/interop/trl_prepare.py: SFTTrainer around a
 * tiny random Llama, its train_dataset through its collator): input ids, labels and position ids of
 * every format, with packing off and on, and with each masking option. Needs python3 with trl;
 * skipped locally without it, a failure in CI (process.env.CI).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isJsonObject, type JsonValue } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SftDataConfig } from './config';
import { parseSftRecords } from './format';
import { type DataTokenizer, prepareSftDataset } from './prepare';
import { GENERATION_TEMPLATE, RECORDS, tokenizerFolder, writeTokenizerFolder } from './test-tokenizer';

const SCRIPT = fileURLToPath(new URL('../../../../scripts/interop/trl_prepare.py', import.meta.url));

const env: { ok: true } | { ok: false; reason: string } = (() => {
  try {
    execFileSync('python3', [SCRIPT, 'check'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return { ok: false, reason: (err.stderr?.toString() || err.message).trim().split('\n').slice(-1)[0] };
  }
})();
const inCi = Boolean(process.env.CI);
if (!env.ok && !inCi) console.warn(`TRL interop tests skipped: python3 with trl is not available (${env.reason})`);

interface Case {
  name: string;
  gen?: boolean;
  /** Some examples are dropped (no loss token left after truncation). */
  dropped?: boolean;
  records: Record<string, unknown>[];
  /** SFTConfig fields (snake_case), also given to kvant in camelCase. */
  config: Record<string, unknown>;
}

const toKvant = (c: Record<string, unknown>): SftDataConfig => Object.fromEntries(Object.entries(c).map(([k, v]) => [k.replace(/_(\w)/g, (_, x: string) => x.toUpperCase()), v]));

const long = { text: 'Then you train a small low-rank adapter: two thin matrices A and B whose product is added to the frozen weight, scaled by alpha over r. '.repeat(2) };
/** 60 pre-tokenized sequences of lengths 1..40 (a fixed LCG), so best-fit decreasing has real choices to make. */
const manyLengths = Array.from({ length: 60 }, (_, i) => ({ input_ids: Array.from({ length: 1 + ((i * 37 + 11) % 40) }, (_, t) => 10 + ((i * 7 + t) % 900)) }));

const CASES: Case[] = [
  { name: 'text, defaults', records: RECORDS.text, config: {} },
  { name: 'text, max_length 12 (truncation)', records: [...RECORDS.text, long], config: { max_length: 12 } },
  { name: 'text, packing', records: [...RECORDS.text, long, ...RECORDS.text], config: { packing: true, max_length: 48 } },
  { name: 'messages, defaults', records: RECORDS.messages, config: {} },
  { name: 'messages, packing', records: RECORDS.messages, config: { packing: true, max_length: 128 } },
  { name: 'messages, assistant_only_loss', gen: true, records: RECORDS.messages, config: { assistant_only_loss: true } },
  { name: 'prompt/completion, defaults (completion-only loss)', records: RECORDS.promptCompletion, config: {} },
  { name: 'prompt/completion, completion_only_loss false', records: RECORDS.promptCompletion, config: { completion_only_loss: false } },
  { name: 'prompt/completion, max_length 7 (a prompt fills it: dropped)', records: RECORDS.promptCompletion, config: { max_length: 7 }, dropped: true },
  { name: 'prompt/completion, packing', records: RECORDS.promptCompletion, config: { packing: true, max_length: 20 } },
  { name: 'conversational prompt/completion, defaults', records: RECORDS.promptCompletionChat, config: {} },
  { name: 'conversational prompt/completion, packing', records: RECORDS.promptCompletionChat, config: { packing: true, max_length: 64 } },
  { name: 'conversational prompt/completion, assistant_only_loss', gen: true, records: RECORDS.promptCompletionChat, config: { assistant_only_loss: true, completion_only_loss: false } },
  { name: 'pre-tokenized, defaults', records: RECORDS.tokenized, config: {} },
  { name: 'pre-tokenized, completion_only_loss', records: RECORDS.tokenized, config: { completion_only_loss: true } },
  { name: 'pre-tokenized, packing 60 sequences into rows of 48 (best-fit decreasing)', records: manyLengths, config: { packing: true, max_length: 48 } },
];

interface Row {
  input_ids: number[];
  labels: number[];
  position_ids?: number[];
  seq_lengths?: number[];
}

describe.skipIf(!env.ok && !inCi)('SFT data preparation matches TRL', () => {
  let dir: string;
  let results: { name: string; rows: Row[] }[];
  const toks: Record<string, DataTokenizer> = {};
  beforeAll(async () => {
    if (!env.ok) throw new Error(`CI requires python3 with trl for the TRL interop tests: ${env.reason}`);
    dir = mkdtempSync(join(tmpdir(), 'kvant-trl-'));
    toks.plain = await tokenizerFolder(join(dir, 'plain'));
    toks.gen = await tokenizerFolder(join(dir, 'gen'), { chat_template: GENERATION_TEMPLATE });
    writeTokenizerFolder(join(dir, 'plain'));
    const request = { cases: CASES.map((c) => ({ name: c.name, tokenizer: join(dir, c.gen ? 'gen' : 'plain'), records: c.records, config: c.config })) };
    const out = execFileSync('python3', [SCRIPT, 'prepare'], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000, stdio: ['pipe', 'pipe', 'pipe'] });
    results = JSON.parse(out);
  }, 600_000);
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it.each(CASES.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    const c = CASES[i];
    const { format, records } = parseSftRecords({ path: c.name, layout: 'jsonl', records: c.records.map((v, k) => ({ value: v as Record<string, JsonValue>, line: k + 1 })) });
    expect(c.records.every((r) => isJsonObject(r as JsonValue))).toBe(true);
    const prepared = prepareSftDataset(format, records, c.gen ? toks.gen : toks.plain, toKvant(c.config), c.name);
    const trl = results[i].rows;
    expect(prepared.examples.length).toBe(trl.length);
    if (c.config.packing) expect(prepared.examples.some((e) => e.seqLengths.length > 1)).toBe(true);
    if (c.config.assistant_only_loss || c.name.includes('completion-only')) expect(prepared.stats.lossTokens).toBeLessThan(prepared.stats.tokens);
    if (c.dropped) expect(prepared.stats.droppedNoLoss).toBeGreaterThan(0);
    if (c.config.max_length && !c.config.packing && c.name.includes('truncation')) expect(prepared.stats.truncated).toBeGreaterThan(0);
    prepared.examples.forEach((e, k) => {
      expect(e.inputIds, `row ${k} input_ids`).toEqual(trl[k].input_ids);
      expect(e.labels, `row ${k} labels`).toEqual(trl[k].labels);
      expect(e.positionIds, `row ${k} position_ids`).toEqual(trl[k].position_ids ?? e.inputIds.map((_, t) => t));
      if (trl[k].seq_lengths) expect(e.seqLengths).toEqual(trl[k].seq_lengths);
    });
  });
});
