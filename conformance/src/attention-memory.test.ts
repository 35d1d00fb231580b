/**
 * Attention's memory grows with T, not T²: at T = 2048, forward and backward on each runtime CI
 * runs, every allocation is recorded (the caller's tensors) and the runtime's own device memory is
 * read before and after the dispatches. No T×T buffer of scores may exist anywhere.
 */
import type { DType, Runtime, Tensor } from '@kvant/abi';
import { randn } from '@kvant/reference';
import { createRuntime } from '@kvant/runtimes';
import { afterAll, describe, expect, it } from 'vitest';

const T = 2048;
const H = 2;
const HKV = 1;
const D = 64;
/** One T×T f32 buffer of scores per head: what a non-tiled attention would need. */
const T_BY_T = T * T * 4;

const open: Runtime[] = [];
afterAll(() => {
  for (const rt of open) rt.dispose();
});

/** The runtime's own device memory (what a dispatch could grow behind the caller's back). */
function deviceMemory(rt: Runtime): number {
  const d = rt.info().details as Record<string, unknown> | undefined;
  if (rt.name === 'wasm') return d?.memoryBytes as number;
  if (rt.name === 'webgpu') {
    const held = (rt as unknown as { held: { live: number; pooledBytes: number } }).held;
    return held.live * 2 ** 32 + held.pooledBytes;
  }
  return (rt as unknown as { liveBuffers: number }).liveBuffers;
}

describe.each(['wasm', 'webgpu', 'cuda-emu'])('attention on %s at T = 2048', (name) => {
  it('allocates no T×T buffer, forward or backward', async () => {
    const rt = await createRuntime(name);
    open.push(rt);
    let largest = 0;
    const tensors: Tensor[] = [];
    const alloc = (dtype: DType, shape: number[], data?: Float32Array | Int32Array): Tensor => {
      const t = rt.alloc(dtype, shape);
      largest = Math.max(largest, t.byteLength);
      if (data) rt.write(t, data);
      tensors.push(t);
      return t;
    };
    const p = { b: 1, t: T, h: H, h_kv: HKV, d: D, window: 0, scale: 1 / Math.sqrt(D) };
    const q = alloc('f32', [T * H * D], randn(T * H * D, 1));
    const k = alloc('f32', [T * HKV * D], randn(T * HKV * D, 2));
    const v = alloc('f32', [T * HKV * D], randn(T * HKV * D, 3));
    const pos = alloc('i32', [T], Int32Array.from({ length: T }, (_, i) => i % 700)); // three documents
    const o = alloc('f32', [T * H * D]);
    const lse = alloc('f32', [H * T]);
    const dout = alloc('f32', [T * H * D], randn(T * H * D, 4));
    const dq = alloc('f32', [T * H * D]);
    const dk = alloc('f32', [T * HKV * D]);
    const dv = alloc('f32', [T * HKV * D]);
    const delta = alloc('f32', [H * T]);
    await rt.flush();
    const before = deviceMemory(rt);
    rt.dispatch('nn.attention', { q, k, v, pos, o, lse }, p);
    rt.dispatch('nn.attention_backward', { q, k, v, pos, o, lse, dout, dq, dk, dv, delta }, p);
    await rt.flush();
    expect(deviceMemory(rt), 'device memory grew during the dispatches').toBe(before);
    expect(largest).toBeLessThan(T_BY_T / 4);
    const out = new Float32Array((await rt.read(dq)).buffer);
    expect(out.every(Number.isFinite)).toBe(true);
    for (const t of tensors) rt.free(t);
  }, 600_000);
});
