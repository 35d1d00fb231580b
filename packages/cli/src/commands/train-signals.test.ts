/**
 * `kvant train` under real signals, in a child process: Ctrl-C (SIGINT) stops after the current
 * step with a checkpoint and exit status 0; SIGKILL at any moment leaves the last complete checkpoint;
 * either way, resuming from "last" finishes with the adapter bytes of a run that was never stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvantInProcess as kvant } from '../hostile/tree';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const bin = join(root, 'packages', 'cli', 'src', 'bin.ts');
const dir = mkdtempSync(join(tmpdir(), 'kvant-train-sig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const args = (out: string, save: number) => [
  'train', '--model', join(root, 'models', 'tiny'), '--data', join(root, 'data', 'tiny-facts', 'train.jsonl'), '--output-dir', out,
  '--runtime', 'wasm', '--threads', '1', '--max-steps', '120', '--per-device-train-batch-size', '4', '--logging-steps', '1',
  '--save-steps', String(save), '--lora-r', '4', '--no-gradient-checkpointing',
];

/** Start kvant train in a child; resolve when `ready(stdout)` holds, then `act(child)`; resolve with the exit. */
function runChild(argv: string[], ready: (out: string) => boolean, act: (c: ChildProcess) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    // node itself (through tsx's loader), so the signal reaches the process that trains.
    const c = spawn(process.execPath, ['--import', 'tsx', bin, ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const onData = (d: Buffer) => {
      out += d.toString();
      if (!done && ready(out)) {
        done = true;
        act(c);
      }
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

let straight: Buffer;
beforeAll(async () => {
  const out = join(dir, 'straight');
  const r = await kvant(args(out, 1000));
  expect(r.code, r.err).toBe(0);
  straight = readFileSync(join(out, 'adapter_model.safetensors'));
}, 300_000);

describe('kvant train and signals', () => {
  it('SIGINT: checkpoint, exit 0, and resume gives the uninterrupted bytes', async () => {
    const out = join(dir, 'sigint');
    const r = await runChild(args(out, 1000), (o) => /step 3\/120/.test(o), (c) => c.kill('SIGINT'));
    expect(r.out).toMatch(/Ctrl-C, stopping after this step/);
    expect(r.out).toMatch(/interrupted: \d+ steps/);
    expect(r.code).toBe(0);
    const ckpts = readdirSync(out).filter((n) => n.startsWith('checkpoint-'));
    expect(ckpts).toHaveLength(1);
    const resumed = await kvant([...args(out, 1000), '--resume-from-checkpoint', 'last']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(readFileSync(join(out, 'adapter_model.safetensors')).equals(straight)).toBe(true);
  }, 300_000);

  it('SIGKILL mid-run: resume from the last complete checkpoint gives the uninterrupted bytes', async () => {
    const out = join(dir, 'sigkill');
    const r = await runChild(args(out, 2), (o) => (o.match(/checkpoint /g) ?? []).length >= 3, (c) => c.kill('SIGKILL'));
    expect(r.signal).toBe('SIGKILL');
    const resumed = await kvant([...args(out, 2), '--resume-from-checkpoint', 'last']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed from .*checkpoint-\d+ at step \d+/);
    expect(readFileSync(join(out, 'adapter_model.safetensors')).equals(straight)).toBe(true);
  }, 300_000);
});
