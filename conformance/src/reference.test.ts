import { KERNELS, type Params, type Tensor } from '@kvant/abi';
import { ReferenceRuntime } from '@kvant/reference';
import { describe, expect, it } from 'vitest';
import { CASES } from './cases/index';
import { describeFailure, runConformance } from './runner';

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
