/**
 * The whole conformance suite on every runtime CI must run for real: wasm, webgpu (lavapipe in
 * CI) and cuda-emu, each against the reference and against wasm; and cuda where a GPU is present
 * (without one, the test checks that cuda says why it is absent). A runtime that cannot start
 * fails here: it is never skipped.
 */
import { KERNELS, type Runtime } from '@kvant/abi';
import { createRuntime, probeRuntime } from '@kvant/runtimes';
import { afterAll, describe, expect, it } from 'vitest';
import { CASES } from './cases/index';
import { describeFailure, runConformance } from './runner';
import { formatTable } from './table';

const open: Runtime[] = [];
afterAll(() => {
  for (const rt of open) rt.dispose();
});

const cuda = await probeRuntime('cuda');

describe.each(['wasm', 'webgpu', 'cuda-emu', ...(cuda.status === 'available' ? ['cuda'] : [])])('conformance on %s', (name) => {
  it('passes every case against the reference and against wasm, within the exemption budget', async () => {
    const rt = await createRuntime(name);
    open.push(rt);
    const runtimes = name === 'wasm' ? [rt] : [await createRuntime('wasm'), rt];
    if (name !== 'wasm') open.push(runtimes[0]);
    const results = await runConformance(runtimes);
    const mine = results.filter((r) => r.runtime === name);
    const failures = mine.filter((r) => r.status !== 'pass').map(describeFailure);
    const table = formatTable(results, runtimes.map((r) => r.name));
    console.log(`${name}:\n${table}`);
    expect(failures, table).toEqual([]);
    // Every case of every kernel ran here (none unsupported), against the reference and, off wasm, against wasm.
    const ran = new Set(mine.filter((r) => r.against === 'reference').map((r) => `${r.kernel} ${r.case}`));
    expect(ran.size).toBe(CASES.length);
    expect(new Set(mine.map((r) => r.kernel)).size).toBe(KERNELS.length);
    if (name !== 'wasm') expect(mine.filter((r) => r.against === 'wasm').length).toBe(CASES.length);
    // Exemptions stay rare: at most the budget in any case, and only on kernels the runtime declares approximate.
    for (const r of mine) {
      for (const o of r.outputs) {
        expect(o.exempt).toBeLessThanOrEqual(o.budget);
        if (o.exempt && !rt.info().flushesSubnormals) expect(rt.info().approximate ?? []).toContain(r.kernel);
      }
    }
  });
});

describe('wasm on one thread', () => {
  it('passes every case too (the default above splits heavy kernels over the cores)', async () => {
    const rt = await createRuntime('wasm', { threads: 1 });
    open.push(rt);
    expect(rt.info().description).toMatch(/single thread/);
    const results = await runConformance([rt]);
    expect(results.filter((r) => r.status !== 'pass').map(describeFailure)).toEqual([]);
  });
});

describe('cuda', () => {
  it(cuda.status === 'available' ? 'is available here (the suite above ran it)' : 'is absent here, and says why', () => {
    if (cuda.status === 'available') expect(cuda.description).toBeTruthy();
    else {
      expect(cuda.status).toBe('absent');
      if (cuda.status === 'absent') expect(cuda.reason).toMatch(/CUDA|driver|device|addon/i);
    }
  });
});
