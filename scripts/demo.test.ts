/**
 * The README's main job, as CI's check of it: `tsx scripts/demo.ts` (QLoRA on the embedded tiny
 * model) exits 0 only when held-out exact-match accuracy goes from at most 10% to at least 60%, and
 * writes the adapter, the loss curve and the merged GGUF.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'kvant-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('pnpm demo: QLoRA on the tiny model lifts held-out accuracy from <= 10% to >= 60%', () => {
  const r = spawnSync('pnpm', ['exec', 'tsx', join(import.meta.dirname, 'demo.ts')], { encoding: 'utf8', env: { ...process.env, KVANT_DEMO_OUT: dir }, timeout: 300_000 });
  const output = `${r.stdout}\n${r.stderr}`;
  const m = /held-out exact match: ([\d.]+)% before, ([\d.]+)% after/.exec(output);
  expect(m, output.slice(-2000)).not.toBeNull();
  console.log(m![0]);
  expect(Number(m![1])).toBeLessThanOrEqual(10);
  expect(Number(m![2])).toBeGreaterThanOrEqual(60);
  expect(r.status, output.slice(-2000)).toBe(0);
  for (const f of ['tiny-qlora/adapter_model.safetensors', 'tiny-qlora/loss_curve.png', 'tiny-qlora/README.md', 'tiny-qlora.q8_0.gguf', 'tiny-qlora-ollama/Modelfile']) expect(existsSync(join(dir, f)), f).toBe(true);
}, 300_000);
