import { getKernel, KERNELS, type Params, type Tensor } from '@kvant/abi';
import { ReferenceRuntime } from '@kvant/reference';
import { describe, expect, it } from 'vitest';
import { CASES } from './cases/index';
import { caseInputs, describeFailure, runConformance } from './runner';

describe('conformance cases', () => {
  it('cover every kernel with several cases', () => {
    for (const k of KERNELS) expect(CASES.filter((c) => c.kernel === k.id).length, k.id).toBeGreaterThanOrEqual(3);
  });

  it('have unique names per kernel', () => {
    const seen = new Set<string>();
    for (const c of CASES) {
      const key = `${c.kernel} ${c.name}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
    }
  });

  it('that claim values exactly on thresholds really have an exact scale: absmax 1 in every block, every value a threshold', () => {
    const exactCases = CASES.filter((c) => Object.values(c.inputs).some((g) => ['nf4_thresholds', 'fp4_thresholds', 'code_midpoints'].includes(g.gen)));
    expect(exactCases.length).toBeGreaterThanOrEqual(5);
    for (const c of exactCases) {
      const x = new Float32Array(caseInputs(getKernel(c.kernel), c).x.buffer.slice(0));
      const bs = c.params.blocksize;
      for (let start = 0; start < x.length; start += bs) {
        let amax = 0;
        for (let i = start; i < Math.min(x.length, start + bs); i++) amax = Math.max(amax, Math.abs(x[i]));
        expect(amax, `${c.kernel} [${c.name}] block at ${start}`).toBe(1);
      }
    }
  });

  it('of linear ties have a power-of-two scale, and every other value is a tie', () => {
    const ties = CASES.filter((c) => Object.values(c.inputs).some((g) => g.gen === 'linear_halfway'));
    expect(ties.length).toBeGreaterThanOrEqual(10);
    for (const c of ties) {
      const g = c.inputs.x;
      if (g.gen !== 'linear_halfway') throw new Error('unreachable');
      const x = new Float32Array(caseInputs(getKernel(c.kernel), c).x.buffer.slice(0));
      for (let i = 0; i < x.length; i++) {
        const q = x[i] / 2 ** g.exp;
        if (i % g.group === 0) expect(q).toBe(g.qmax);
        else expect(q % 1, `${c.name} element ${i}`).toBe(0.5);
      }
    }
  });

  it('pass on the reference runtime (the runner itself works: sentinels, comparisons)', async () => {
    const rt = new ReferenceRuntime();
    const results = await runConformance([rt]);
    const failures = results.filter((r) => r.status !== 'pass').map(describeFailure);
    expect(failures).toEqual([]);
    expect(rt.liveBuffers).toBe(0);
  });

  it('detects a kernel that writes out of bounds', async () => {
    class Scribbler extends ReferenceRuntime {
      override dispatch(id: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void {
        super.dispatch(id, bindings, params);
        // Scribble one word past the end of dst.
        const dst = bindings.dst;
        this.write(dst, new Uint32Array([0xdeadbeef]), dst.byteLength - 4);
      }
    }
    const bad = new Scribbler();
    const results = await runConformance([bad], { kernels: ['mem.copy'] });
    expect(results.some((r) => r.status === 'fail' && r.outputs.some((o) => o.guardViolations > 0))).toBe(true);
  });
});
