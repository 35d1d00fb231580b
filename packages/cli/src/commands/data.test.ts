import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvantError } from '@kvant/abi';
import { exampleTokenizerFiles, ModelFileError } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../command';
import { dataCommand } from './data';

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    return { code: await dataCommand.run(argv), out };
  } finally {
    spy.mockRestore();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kvant-data-cli-'));
const model = join(dir, 'model');
const file = (name: string, rows: unknown[] | string) => {
  const p = join(dir, name);
  writeFileSync(p, typeof rows === 'string' ? rows : rows.map((r) => JSON.stringify(r)).join('\n'));
  return p;
};
beforeAll(() => {
  mkdirSync(model);
  for (const [f, v] of Object.entries(exampleTokenizerFiles(1024).files)) writeFileSync(join(model, f), JSON.stringify(v));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pc = [
  { prompt: 'What is the capital of France? ', completion: 'Paris.' },
  { prompt: 'Two plus two is', completion: ' four.' },
];

describe('kvant data', () => {
  it('prints stats and examples with the loss-carrying text', async () => {
    const { code, out } = await run(['--model', model, '--data', file('pc.jsonl', pc)]);
    expect(code).toBe(0);
    expect(out).toContain('2 record(s), format prompt-completion');
    expect(out).toContain('completion_only_loss true');
    expect(out).toContain('loss on:      " four.<|im_end|>"');
    // "France? " + "Paris.": the prompt's trailing space merges into " Paris", so the prompt is not a
    // prefix of prompt+completion; TRL then masks by the prompt's length, and kvant reports it.
    expect(out).toContain('prompt not a prefix of prompt+completion 1');
    expect(out).toMatch(/labels: +\[-100, /);
  });

  it('prints JSON with --json, honouring the data flags', async () => {
    const { out } = await run(['--model', model, '--data', file('pc2.jsonl', [...pc, ...pc]), '--json', '--packing', '--max-length', '32', '--no-completion-only-loss', '--eval-fraction', '0.25']);
    const r = JSON.parse(out);
    expect(r.train.stats.config).toMatchObject({ packing: true, maxLength: 32, completionOnlyLoss: false });
    expect(r.eval.stats.records).toBe(1);
    const row = r.train.examples[0];
    expect(row.seq_lengths.length).toBeGreaterThan(1);
    expect(row.position_ids[row.seq_lengths[0]]).toBe(0);
    expect(Object.keys(row)).toEqual(['lines', 'seq_lengths', 'input_ids', 'labels', 'position_ids', 'loss_mask', 'text', 'loss_text']);
  });

  it('refuses bad data with typed errors (exit 1) and bad flags with usage errors (exit 2)', async () => {
    const bad = file('bad.jsonl', '{"text": "a"}\n{"text": \n');
    await expect(run(['--model', model, '--data', bad])).rejects.toThrow(/bad\.jsonl:2: expected one JSON object/);
    await expect(run(['--model', model, '--data', file('unknown.jsonl', [{ q: 1 }])])).rejects.toThrow(/found keys q/);
    await expect(run(['--model', model, '--data', file('empty.jsonl', '')])).rejects.toThrow(/empty dataset/);
    await expect(run(['--model', join(dir, 'none'), '--data', bad])).rejects.toThrow(ModelFileError);
    const e = await run(['--model', model, '--data', file('text.jsonl', [{ text: 'a' }]), '--assistant-only-loss']).catch((x) => x);
    expect(e).toBeInstanceOf(KvantError);
    expect(e).not.toBeInstanceOf(UsageError);
    await expect(run(['--data', bad])).rejects.toThrow(UsageError);
    await expect(run(['--model', model, '--data', bad, '--max-length', '0'])).rejects.toThrow(UsageError);
    await expect(run(['--model', model, '--data', bad, '--completion-only-loss', '--no-completion-only-loss'])).rejects.toThrow(UsageError);
    await expect(run(['--model', model, '--data', bad, '--bogus'])).rejects.toThrow(UsageError);
  });
});
