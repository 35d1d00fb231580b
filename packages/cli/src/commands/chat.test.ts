import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { generateExampleModel } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runChat } from './chat';
import { generateCommand } from './generate';

const dir = mkdtempSync(join(tmpdir(), 'kvant-chat-'));
const model = join(dir, 'model');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await generateExampleModel(model, { size: { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512 } });
});

const FLAGS = ['--model', model, '--max-new-tokens', '5', '--runtime', 'reference'];

/** kvant chat with `lines` piped in: the exit code and everything written to its output. */
async function chat(lines: string, extra: string[] = []): Promise<{ code: number; out: string }> {
  let out = '';
  const output = new Writable({
    write(chunk, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const code = await runChat([...FLAGS, ...extra], { input: Readable.from([lines]), output });
  return { code, out };
}

/** The reply `kvant generate --messages` gives to a conversation (the oracle of one chat turn). */
async function reply(messages: { role: string; content: string }[]): Promise<string> {
  const file = join(dir, `messages-${messages.length}.json`);
  writeFileSync(file, JSON.stringify(messages));
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    expect(await generateCommand.run([...FLAGS, '--messages', file, '--json'])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(out).text;
}

describe('kvant chat', () => {
  it('answers each piped line with the history of the turns before it; the end of input ends it', async () => {
    const { code, out } = await chat('Hello there\n\nHow are you?\n');
    expect(code).toBe(0);
    const first = await reply([{ role: 'user', content: 'Hello there' }]);
    const second = await reply([
      { role: 'user', content: 'Hello there' },
      { role: 'assistant', content: first },
      { role: 'user', content: 'How are you?' },
    ]);
    expect(out).toBe(`${first}\n${second}\n`);
  });

  it('/exit ends the conversation; --system comes first in the history', async () => {
    const { code, out } = await chat('Hi\n/exit\nnever answered\n', ['--system', 'You are terse.']);
    expect(code).toBe(0);
    const first = await reply([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(out).toBe(`${first}\n`);
  });

  it('refuses bad command lines', async () => {
    await expect(chat('', ['--top-p', '0'])).rejects.toThrow(/top-p/);
    await expect(runChat(['--runtime', 'reference'], { input: Readable.from([]), output: process.stdout })).rejects.toThrow(/--model/);
  });

  it('runs as `kvant chat` with stdin piped from another process', () => {
    const bin = join(import.meta.dirname, '..', 'bin.ts');
    const stdout = execFileSync('pnpm', ['exec', 'tsx', bin, 'chat', ...FLAGS, '--runtime', 'wasm'], { input: 'Hello there\n/exit\n', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    expect(stdout.length).toBeGreaterThan(1);
    expect(stdout.endsWith('\n')).toBe(true);
  }, 60_000);
});
