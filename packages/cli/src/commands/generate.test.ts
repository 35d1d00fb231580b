import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateCommand } from './generate';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let errText = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    errText += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    const code = await generateCommand.run(argv);
    return { code, out, err: errText };
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'kvant-generate-'));
const model = join(dir, 'model');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await generateExampleModel(model, { size: { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512 } });
});

describe('kvant generate', () => {
  it('greedy --json with the chat template; the streamed text is the same', async () => {
    const args = ['--model', model, '--prompt', 'Hello there', '--max-new-tokens', '6', '--runtime', 'reference'];
    const { code, out } = await run([...args, '--json']);
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.prompt_ids.length).toBeGreaterThan(2);
    expect(json.token_ids.length).toBeGreaterThan(0);
    expect(json.token_ids.length).toBeLessThanOrEqual(6);
    const streamed = await run(args);
    expect(streamed.out).toBe(`${json.text}\n`);
    // The timing: in the JSON, and on stderr after streamed text (stdout stays the text alone).
    const t = json.timing;
    expect(t.prompt_tokens).toBe(json.prompt_ids.length);
    expect(t.tokens).toBe(json.token_ids.length);
    expect(t.first_token_ms).toBeGreaterThan(0);
    expect(t.seconds * 1000).toBeGreaterThanOrEqual(t.first_token_ms - 1);
    if (t.tokens > 1) expect(t.tokens_per_second).toBeGreaterThan(0);
    expect(streamed.err).toMatch(new RegExp(`^${json.token_ids.length} tokens? in \\d+\\.\\d\\d s on .+: the prompt \\(${json.prompt_ids.length} tokens\\) and the first token in [\\d.]+ ms`));
  });

  it('--raw and --messages; sampling with a seed is reproducible', async () => {
    const messages = join(dir, 'messages.json');
    writeFileSync(messages, JSON.stringify([{ role: 'user', content: 'Hi' }]));
    const a = JSON.parse((await run(['--model', model, '--messages', messages, '--temperature', '0.9', '--top-k', '50', '--top-p', '0.95', '--seed', '3', '--max-new-tokens', '5', '--runtime', 'reference', '--json'])).out);
    const b = JSON.parse((await run(['--model', model, '--messages', messages, '--temperature', '0.9', '--top-k', '50', '--top-p', '0.95', '--seed', '3', '--max-new-tokens', '5', '--runtime', 'reference', '--json'])).out);
    expect(a.token_ids).toEqual(b.token_ids);
    const raw = JSON.parse((await run(['--model', model, '--prompt', 'abc', '--raw', '--max-new-tokens', '2', '--runtime', 'reference', '--json'])).out);
    expect(raw.prompt_ids.length).toBeGreaterThan(0);
  });

  it('refuses bad command lines', async () => {
    await expect(run(['--prompt', 'x'])).rejects.toThrow(/--model/);
    await expect(run(['--model', model])).rejects.toThrow(/exactly one of --prompt and --messages/);
    await expect(run(['--model', model, '--prompt', 'x', '--top-p', '2'])).rejects.toThrow(/top-p/);
    await expect(run(['--model', model, '--prompt', 'x', '--runtime', 'nope'])).rejects.toThrow(ConfigError);
  });
});

describe('generationTiming', () => {
  it('splits the first token (prompt + one step) from the rest', async () => {
    const { generationTiming, timingLine } = await import('./generate');
    const t = generationTiming(11, 5, 1000, 1100, 1300);
    expect(t).toEqual({ prompt_tokens: 11, tokens: 5, first_token_ms: 100, seconds: 0.3, tokens_per_second: 20 });
    expect(timingLine(t, 'wasm')).toBe('5 tokens in 0.30 s on wasm: the prompt (11 tokens) and the first token in 100 ms, then 20 tokens/s');
    expect(generationTiming(3, 1, 0, 50, 50).tokens_per_second).toBeNull();
    expect(generationTiming(3, 0, 0, undefined, 40)).toMatchObject({ tokens: 0, first_token_ms: 40, tokens_per_second: null });
  });
});
