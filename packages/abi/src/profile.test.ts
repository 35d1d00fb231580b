/** profiledRuntime: every dispatch timed and costed, everything else passed through. */
import { describe, expect, it } from 'vitest';
import { getKernel } from './kernels/index';
import { DispatchProfile, profiledRuntime } from './profile';
import type { Runtime, Tensor } from './runtime';

/** A runtime stub: counts what reaches it; dispatch of 'linalg.add' burns ~2 ms. */
function stub(name: 'wasm' | 'webgpu') {
  const seen: string[] = [];
  const rt = {
    name,
    extra: 42,
    info: () => ({ name, description: 'stub' }),
    alloc: () => ({ id: 1 }) as unknown as Tensor,
    write: () => seen.push('write'),
    read: async () => new Uint8Array(4),
    dispatch(kernelId: string) {
      seen.push(kernelId);
      if (kernelId === 'nn.bogus') throw new Error('no such kernel');
      const until = performance.now() + (kernelId === 'linalg.add' ? 2 : 0);
      while (performance.now() < until) {}
    },
    flush: async () => {},
    free: () => {},
    dispose: () => seen.push('dispose'),
    supports: () => true as const,
  };
  return { rt: rt as Runtime & { extra: number }, seen };
}

describe('profiledRuntime', () => {
  it('times each dispatch and sums its spec cost, per kernel, the most time first', () => {
    const { rt, seen } = stub('wasm');
    const profile = new DispatchProfile();
    const p = profiledRuntime(rt, profile);
    const add = { n: 1000 };
    const copy = { words: 64 };
    for (let i = 0; i < 3; i++) p.dispatch('linalg.add', {}, add);
    p.dispatch('mem.copy', {}, copy);
    expect(seen).toEqual(['linalg.add', 'linalg.add', 'linalg.add', 'mem.copy']);
    const rows = profile.rows();
    expect(rows.map((r) => [r.kernel, r.calls])).toEqual([['linalg.add', 3], ['mem.copy', 1]]);
    expect(rows[0].ms).toBeGreaterThanOrEqual(6);
    expect(rows[0].flops).toBe(3 * getKernel('linalg.add').cost(add).flops);
    expect(rows[1].bytes).toBe(getKernel('mem.copy').cost(copy).bytes);
    expect(profile.totalMs()).toBeCloseTo(rows[0].ms + rows[1].ms, 9);
    expect(profile.hostOnly).toBe(false);
    profile.reset();
    expect(profile.rows()).toEqual([]);
  });

  it('keeps the runtime itself, records nothing for a dispatch that throws, and marks async runtimes', async () => {
    const { rt, seen } = stub('webgpu');
    const profile = new DispatchProfile();
    const p = profiledRuntime(rt, profile);
    expect(p).toBe(rt);
    expect(p.name).toBe('webgpu');
    expect(p.extra).toBe(42);
    expect(p.info().description).toBe('stub');
    p.write(p.alloc('f32', [1]), new Float32Array(1));
    expect(await p.read(p.alloc('f32', [1]))).toHaveLength(4);
    expect(() => p.dispatch('nn.bogus', {}, {})).toThrow('no such kernel');
    expect(profile.rows()).toEqual([]);
    p.dispose();
    expect(seen).toEqual(['write', 'nn.bogus', 'dispose']);
    expect(profile.hostOnly).toBe(true);
  });
});
