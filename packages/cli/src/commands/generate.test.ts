import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@kvant/abi';
import { generateExampleModel } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateCommand } from './generate';

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await generateCommand.run(argv), out };
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
