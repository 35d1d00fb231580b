/**
 * The whole conformance suite on every runtime CI must run for real: wasm, webgpu (lavapipe in
 * CI) and cuda-emu, each against the reference and against wasm. A runtime that cannot start
 * fails here: it is never skipped.
 */
import type { Runtime } from '@kvant/abi';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFailure, runConformance } from './runner';
import { formatTable } from './table';

const open: Runtime[] = [];
afterAll(() => {
  for (const rt of open) rt.dispose();
});

describe.each(['wasm', 'webgpu', 'cuda-emu'])('conformance on %s', (name) => {
  it('passes every case against the reference and against wasm', async () => {
    const rt = await createRuntime(name);
    open.push(rt);
    const runtimes = name === 'wasm' ? [rt] : [await createRuntime('wasm'), rt];
    if (name !== 'wasm') open.push(runtimes[0]);
    const results = await runConformance(runtimes);
    const mine = results.filter((r) => r.runtime === name);
    const failures = mine.filter((r) => r.status !== 'pass').map(describeFailure);
    expect(failures, formatTable(results, runtimes.map((r) => r.name))).toEqual([]);
    // Every kernel ran here (none unsupported), compared with the reference and, off wasm, with wasm.
    expect(new Set(mine.map((r) => r.kernel)).size).toBeGreaterThanOrEqual(9);
    if (name !== 'wasm') expect(mine.some((r) => r.against === 'wasm')).toBe(true);
  });
});
