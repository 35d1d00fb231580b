import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelFileError } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collate, makeBatches } from './batch';
import { SFT_DATA_DEFAULTS } from './config';
import { DataConfigError, DataFileError } from './errors';
import { parseSftRecords } from './format';
import { loadSftData } from './load';
import { packBestFitDecreasing } from './pack';
import { type DataTokenizer, IGNORE_INDEX, prepareSftDataset } from './prepare';
import { parseDataText } from './read';
import { seededPermutation, splitByFraction } from './split';
import { RECORDS, tokenizerFolder } from './test-tokenizer';

const dir = mkdtempSync(join(tmpdir(), 'kvant-data-'));
let tok: DataTokenizer;
let noTemplate: DataTokenizer;
beforeAll(async () => {
  tok = await tokenizerFolder(join(dir, 'tok'));
  noTemplate = await tokenizerFolder(join(dir, 'plain'), { chat_template: null });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n');
const prepare = (rows: unknown[], t: () => DataTokenizer, options = {}) => {
  const { format, records } = parseSftRecords(parseDataText(jsonl(rows), 'd.jsonl'));
  return prepareSftDataset(format, records, t(), options, 'd.jsonl');
};

describe('reading data files', () => {
  it('reads JSONL (blank lines skipped, line numbers kept) and JSON arrays', () => {
    const f = parseDataText('{"text": "a"}\n\n{"text": "b"}\r\n', 'x.jsonl');
    expect(f.records.map((r) => r.line)).toEqual([1, 3]);
    expect(parseDataText('[{"text": "a"}, {"text": "b"}]', 'x.json').records).toHaveLength(2);
  });

  it('names the line and what was wrong in a malformed line', () => {
    expect(() => parseDataText('{"text": "a"}\n{"text": "b"\n', 'x.jsonl')).toThrow(/x\.jsonl:2: expected one JSON object on the line, found .*column/);
    expect(() => parseDataText('{"text": "a"}\n[1, 2]\n', 'x.jsonl')).toThrow(/x\.jsonl:2: expected a JSON object on the line, found an array of 2/);
    expect(() => parseDataText('{"text": "a", "text": "b"}', 'x.jsonl')).toThrow(DataFileError);
  });
});

describe('formats', () => {
  it('detects each format', () => {
    const fmt = (rows: unknown[]) => parseSftRecords(parseDataText(jsonl(rows), 'd.jsonl')).format;
    expect(fmt(RECORDS.text)).toBe('text');
    expect(fmt(RECORDS.messages)).toBe('messages');
    expect(fmt(RECORDS.promptCompletion)).toBe('prompt-completion');
    expect(fmt(RECORDS.promptCompletionChat)).toBe('prompt-completion-conversational');
    expect(fmt(RECORDS.tokenized)).toBe('tokenized');
    expect(fmt([{ conversations: [{ from: 'human', value: 'hi' }] }])).toBe('messages');
  });

  it('says which keys were found and which expected for an unknown format, and where a record differs', () => {
    expect(() => prepare([{ question: 'q', answer: 'a' }], () => tok)).toThrow(/d\.jsonl:1: expected a record with one of: "text".*"messages".*found keys question, answer/);
    expect(() => prepare([{ text: 'a' }, { prompt: 'p', completion: 'c' }], () => tok)).toThrow(/d\.jsonl:2: expected the format of the first record \(text, line 1\)/);
    expect(() => prepare([{ messages: [{ role: 'user' }] }], () => tok)).toThrow(/messages\[0\]\.content as a string/);
    expect(() => prepare([{ input_ids: [1, -2] }], () => tok)).toThrow(/input_ids\[1\]/);
  });

  it('refuses an empty dataset', () => {
    expect(() => prepare([], () => tok)).toThrow(/expected at least one record, found an empty dataset/);
  });
});

describe('preparation (TRL semantics)', () => {
  it('appends EOS to plain text once, and keeps every label', () => {
    const { examples } = prepare([{ text: 'hi' }, { text: 'hi<|im_end|>' }], () => tok);
    const eos = tok.tokenizer.eosTokenId!;
    expect(examples[0].inputIds).toEqual(examples[1].inputIds);
    expect(examples[0].inputIds.at(-1)).toBe(eos);
    expect(examples[0].inputIds.filter((id) => id === eos)).toHaveLength(1);
    expect(examples[0].labels).toEqual(examples[0].inputIds);
  });

  it('masks the prompt by default for prompt/completion data, not with completionOnlyLoss false', () => {
    const masked = prepare(RECORDS.promptCompletion, () => tok);
    expect(masked.stats.config.completionOnlyLoss).toBe(true);
    const e = masked.examples[0];
    const firstLoss = e.labels.findIndex((l) => l !== IGNORE_INDEX);
    expect(firstLoss).toBeGreaterThan(0);
    expect(e.labels.slice(firstLoss)).toEqual(e.inputIds.slice(firstLoss));
    expect(prepare(RECORDS.promptCompletion, () => tok, { completionOnlyLoss: false }).examples[0].labels).toEqual(e.inputIds);
  });

  it('truncates to maxLength and counts it; skips and counts examples left without loss', () => {
    const r = prepare([...RECORDS.promptCompletion, { prompt: 'x '.repeat(40), completion: 'y' }], () => tok, { maxLength: 16 });
    expect(r.stats.truncated).toBeGreaterThan(0);
    expect(r.stats.droppedNoLoss).toBe(1);
    expect(r.stats.droppedNoLossLines).toEqual([4]);
    expect(r.examples.every((e) => e.inputIds.length <= 16)).toBe(true);
    expect(() => prepare([{ prompt: 'x '.repeat(40), completion: 'y' }], () => tok, { maxLength: 8 })).toThrow(/no.*loss-carrying token|loss-carrying/);
  });

  it('packs with positions restarting and each document start unlabelled', () => {
    const r = prepare(RECORDS.text, () => tok, { packing: true, maxLength: 64 });
    const row = r.examples.find((e) => e.seqLengths.length > 1)!;
    let at = 0;
    for (const len of row.seqLengths) {
      expect(row.positionIds[at]).toBe(0);
      expect(row.labels[at]).toBe(IGNORE_INDEX);
      expect(row.positionIds[at + len - 1]).toBe(len - 1);
      at += len;
    }
    expect(r.stats.examples).toBe(4);
    expect(r.stats.rows).toBeLessThan(4);
  });

  it('refuses options the data cannot use, and conversational data without a template', () => {
    expect(() => prepare(RECORDS.text, () => tok, { assistantOnlyLoss: true })).toThrow(DataConfigError);
    expect(() => prepare(RECORDS.messages, () => tok, { assistantOnlyLoss: true })).toThrow(/generation/);
    expect(() => prepare(RECORDS.text, () => tok, { packing: true, maxLength: null })).toThrow(/max_length/);
    expect(() => prepare(RECORDS.messages, () => noTemplate)).toThrow(ModelFileError);
    expect(() => prepare(RECORDS.messages, () => noTemplate)).toThrow(/expected a chat template/);
  });

  it('has TRL\'s defaults', () => {
    expect(SFT_DATA_DEFAULTS).toMatchObject({ maxLength: 1024, packing: false, completionOnlyLoss: null, assistantOnlyLoss: false, datasetTextField: 'text', packingStrategy: 'bfd' });
  });
});

describe('packing, splits and batches', () => {
  it('packs best-fit decreasing like TRL\'s docstring example', () => {
    // trl pack_dataset example: lengths [5, 2, 3, 1] at seq_length 4 -> [[0], [2, 3], [1]] (the first truncated to 4)
    expect(packBestFitDecreasing([4, 2, 3, 1], 4)).toEqual([[0], [2, 3], [1]]);
    expect(packBestFitDecreasing([3, 3, 2, 2, 1], 5)).toEqual([[0, 2], [1, 3], [4]]);
  });

  it('splits by a seeded fraction, both parts in file order', () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const a = splitByFraction(items, 0.25, 1);
    expect(a.eval).toHaveLength(3);
    expect([...a.train, ...a.eval].sort((x, y) => x - y)).toEqual(items);
    expect(splitByFraction(items, 0.25, 1)).toEqual(a);
    expect(seededPermutation(10, 1)).not.toEqual(seededPermutation(10, 2));
    expect(() => splitByFraction(items, 1, 1)).toThrow(DataConfigError);
  });

  it('batches with right padding, or padding-free in one row', async () => {
    const { examples } = prepare(RECORDS.text, () => tok);
    const pad = tok.tokenizer.padTokenId!;
    const pair = [examples[0], examples[2]];
    const b = collate(pair, { padTokenId: pad });
    const [l0, l1] = [pair[0].inputIds.length, pair[1].inputIds.length];
    expect(l0).not.toBe(l1);
    expect(b.rows).toBe(2);
    expect(b.seqLength).toBe(Math.max(l0, l1));
    const short = l0 < l1 ? 0 : 1;
    const t = b.seqLength - 1;
    expect(b.inputIds[short * b.seqLength + t]).toBe(pad);
    expect(b.labels[short * b.seqLength + t]).toBe(IGNORE_INDEX);
    expect(b.attentionMask[short * b.seqLength + t]).toBe(0);
    expect(b.documentIds[short * b.seqLength + t]).toBe(-1);
    const flat = collate(pair, { padTokenId: pad, paddingFree: true });
    expect(flat.rows).toBe(1);
    expect(flat.seqLength).toBe(l0 + l1);
    expect(flat.positionIds[l0]).toBe(0);
    expect(flat.labels[l0]).toBe(IGNORE_INDEX);
    expect(flat.documentIds[l0]).toBe(1);
    const e0 = makeBatches(examples, { batchSize: 3, padTokenId: pad, seed: 7 });
    expect(e0.map((x) => x.indices)).toEqual(makeBatches(examples, { batchSize: 3, padTokenId: pad, seed: 7 }).map((x) => x.indices));
    expect(e0.flatMap((x) => x.indices).sort()).toEqual([0, 1, 2, 3]);
    expect(makeBatches(examples, { batchSize: 3, padTokenId: pad, shuffle: false }).flatMap((x) => x.indices)).toEqual([0, 1, 2, 3]);
  });

  it('loads a file with a held-out fraction or a second file', async () => {
    const path = join(dir, 'train.jsonl');
    writeFileSync(path, jsonl([...RECORDS.text, ...RECORDS.text]));
    const a = await loadSftData({ data: path, evalFraction: 0.25, seed: 3 }, tok);
    expect(a.train.stats.records + a.eval!.stats.records).toBe(8);
    expect(a.eval!.stats.records).toBe(2);
    const evalPath = join(dir, 'eval.jsonl');
    writeFileSync(evalPath, jsonl(RECORDS.promptCompletion));
    await expect(loadSftData({ data: path, evalData: evalPath }, tok)).rejects.toThrow(/eval\.jsonl:1: expected the training data's format/);
    await expect(loadSftData({ data: join(dir, 'missing.jsonl') }, tok)).rejects.toThrow(/missing\.jsonl: expected a readable JSONL or JSON data file, found no such file/);
  });
});
