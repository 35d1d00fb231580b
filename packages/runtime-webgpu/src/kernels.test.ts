/**
 * What is particular to the webgpu runtime: dispatch geometry past the per-dimension workgroup
 * limit, typed errors, device loss, buffer pooling. Every kernel against the reference is the
 * conformance suite's job (conformance/src/runtimes.test.ts). In CI a missing adapter fails.
 */
import { getKernel, type Params, RuntimeFailure, reducePartials, runOnce, UnsupportedError, upload } from '@kvant/abi';
import { randn, ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebGpuRuntime, LAUNCH, type WebGpuRuntime } from './index';

let rt: WebGpuRuntime | undefined;
let unavailable = '';

beforeAll(async () => {
  try {
    rt = await createWebGpuRuntime();
  } catch (e) {
    if (!(e instanceof UnsupportedError) || process.env.CI) throw e;
    unavailable = e.message;
  }
});
afterAll(() => rt?.dispose());

/** The runtime, or a failing assertion saying why there is none (outside CI the test is reported as skipped-by-reason). */
function runtime(ctx: { skip: (note?: string) => void }): WebGpuRuntime {
  if (!rt) ctx.skip(`no WebGPU adapter: ${unavailable}`);
  return rt!;
}

describe('webgpu dispatch geometry', () => {
  it('splits a dispatch over the per-dimension workgroup limit into a 2D grid', async (ctx) => {
    runtime(ctx);
    const small = await createWebGpuRuntime({ maxWorkgroupsPerDimension: 5 });
    try {
      expect(small.info().details?.limits).toMatchObject({ maxComputeWorkgroupsPerDimension: 5 });
      const { workgroupSize, perInvocation = 1 } = LAUNCH['mem.copy'];
      const words = workgroupSize * perInvocation * 13 + 5; // 14 workgroups -> a 5 x 3 grid with 1 idle workgroup
      const src = Uint32Array.from({ length: words }, (_, i) => (i * 2654435761) >>> 0);
      const a = upload(small, 'u32', [words], src);
      const b = small.alloc('u32', [words]);
      small.dispatch('mem.copy', { src: a, dst: b }, { words });
      expect(new Uint32Array((await small.read(b)).buffer)).toEqual(src);
      // A block kernel too: 41 blocks of 32 = 21 workgroups of 2 blocks (WG 64) -> 5 x 5, 4 idle.
      const ref = new ReferenceRuntime();
      const params = { n: 41 * 32 - 3, blocksize: 32 };
      const x = randn(params.n, 3);
      const outputs = { packed: { dtype: 'u8' as const, count: Math.ceil(params.n / 2) }, absmax: { dtype: 'f32' as const, count: 41 } };
      expect(await runOnce(small, 'quant.nf4_quantize', params, { x }, outputs)).toEqual(await runOnce(ref, 'quant.nf4_quantize', params, { x }, outputs));
    } finally {
      small.dispose();
    }
  });

  it('splits for real past 65535 workgroups (mem.copy of 65535 full workgroups + 1 word)', async (ctx) => {
    const r = runtime(ctx);
    const { workgroupSize, perInvocation = 1 } = LAUNCH['mem.copy'];
    const words = 65535 * workgroupSize * perInvocation + 1; // 2^25 - 511 words (128 MiB) at WG 64, PER 8
    const src = new Uint32Array(words);
    for (let i = 0; i < words; i++) src[i] = i ^ 0x5a5a5a5a;
    const a = upload(r, 'u32', [words], src);
    const b = r.alloc('u32', [words]);
    r.dispatch('mem.copy', { src: a, dst: b }, { words });
    const out = new Uint32Array((await r.read(b)).buffer);
    expect(out[words - 1]).toBe(src[words - 1]);
    expect(out.every((v, i) => v === src[i])).toBe(true);
    r.free(a);
    r.free(b);
  });

  it('runs a multi-pass kernel (linalg.sum: one pass per tree level) with a 2D grid in every pass', async (ctx) => {
    runtime(ctx);
    const small = await createWebGpuRuntime({ maxWorkgroupsPerDimension: 3 });
    try {
      const ref = new ReferenceRuntime();
      // 256^2 + 3 elements: three levels (257 -> 2 -> 1 partials); level 0 needs 5 workgroups -> a 3 x 2 grid.
      const n = 65536 + 3;
      expect(LAUNCH['linalg.sum'].passes?.({ n, accumulate: 0 })).toBe(3);
      const x = randn(n, 11);
      const outputs = { out: { dtype: 'f32' as const, count: 1 } };
      for (const kernel of ['linalg.sum', 'linalg.sum_squares']) {
        const params = { n, accumulate: 0 };
        const inputs = { x, partials: new Float32Array(reducePartials(n)) };
        expect(await runOnce(small, kernel, params, inputs, outputs)).toEqual(await runOnce(ref, kernel, params, inputs, outputs));
      }
    } finally {
      small.dispose();
    }
  });
});

describe('webgpu errors', () => {
  it('an allocation over maxBufferSize is a typed out-of-memory error from alloc', (ctx) => {
    const r = runtime(ctx);
    const limit = r.gpuDevice.limits.maxBufferSize;
    expect(() => r.alloc('u8', [limit + 8])).toThrow(RuntimeFailure);
    try {
      r.alloc('u8', [limit + 8]);
    } catch (e) {
      expect((e as RuntimeFailure).kind).toBe('out-of-memory');
    }
  });

  it('a binding over maxStorageBufferBindingSize is refused naming the kernel and binding', async (ctx) => {
    const r = runtime(ctx);
    const max = r.gpuDevice.limits.maxStorageBufferBindingSize;
    if (max >= r.gpuDevice.limits.maxBufferSize) return; // nothing to check on this adapter
    const words = max / 4 + 1;
    const a = r.alloc('u32', [words]);
    const b = r.alloc('u32', [words]);
    expect(() => r.dispatch('mem.copy', { src: a, dst: b }, { words })).toThrow(/mem\.copy: binding src: expected at most/);
    r.free(a);
    r.free(b);
  });

  it('invalid WGSL surfaces as RuntimeFailure(validation) naming the kernel, and the runtime goes on', async (ctx) => {
    runtime(ctx);
    const bad = await createWebGpuRuntime({ shaderOverrides: { 'mem.copy': 'fn main() { this is not wgsl }' } });
    try {
      const a = bad.alloc('u32', [4]);
      const b = bad.alloc('u32', [4]);
      bad.dispatch('mem.copy', { src: a, dst: b }, { words: 4 });
      const err = await bad.flush().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RuntimeFailure);
      expect((err as RuntimeFailure).kind).toBe('validation');
      expect((err as RuntimeFailure).kernelId).toBe('mem.copy');
      await expect(bad.flush()).resolves.toBeUndefined(); // reported once, then the runtime is usable
      bad.write(a, Uint32Array.of(1, 2, 3, 4));
      expect(Array.from(new Uint32Array((await bad.read(a)).buffer))).toEqual([1, 2, 3, 4]);
    } finally {
      bad.dispose();
    }
  });

  it('a lost device makes later calls throw RuntimeFailure(device-lost)', async (ctx) => {
    runtime(ctx);
    const doomed = await createWebGpuRuntime();
    const a = doomed.alloc('u32', [4]);
    const b = doomed.alloc('u32', [4]);
    doomed.gpuDevice.destroy();
    await expect(doomed.flush()).rejects.toMatchObject({ kind: 'device-lost' });
    expect(() => doomed.dispatch('mem.copy', { src: a, dst: b }, { words: 4 })).toThrow(RuntimeFailure);
    await expect(doomed.read(a)).rejects.toMatchObject({ kind: 'device-lost' });
    doomed.dispose();
  });

  it('dispose releases everything; a new runtime can be created afterwards', async (ctx) => {
    runtime(ctx);
    const first = await createWebGpuRuntime();
    const t = upload(first, 'f32', [3], Float32Array.of(1, 2, 3));
    first.free(upload(first, 'f32', [5], new Float32Array(5)));
    expect(first.liveBuffers).toBe(1);
    first.free(t);
    expect(first.liveBuffers).toBe(0);
    first.dispose();
    expect(first.alive).toBe(false);
    expect(() => first.alloc('f32', [1])).toThrow(UnsupportedError);
    const second = await createWebGpuRuntime();
    const u = upload(second, 'f32', [3], Float32Array.of(4, 5, 6));
    expect(Array.from(new Float32Array((await second.read(u)).buffer))).toEqual([4, 5, 6]);
    second.dispose();
  });

  it('an asynchronous error names the call that caused it, not the call that observed it; flush() and read() reject with it', async (ctx) => {
    runtime(ctx);
    const bad = await createWebGpuRuntime({ shaderOverrides: { 'mem.copy': 'fn main() { this is not wgsl }' } });
    try {
      const a = bad.alloc('u32', [4]);
      const b = bad.alloc('u32', [4]);
      bad.dispatch('mem.copy', { src: a, dst: b }, { words: 4 }); // fails (asynchronously)
      const x = upload(bad, 'f32', [64], new Float32Array(64)); // fine
      const packed = bad.alloc('u8', [32]);
      const absmax = bad.alloc('f32', [1]);
      bad.dispatch('quant.nf4_quantize', { x, packed, absmax }, { n: 64, blocksize: 64 }); // fine
      // read() of an unrelated tensor rejects with the failure of the mem.copy dispatch.
      const err = await bad.read(absmax).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RuntimeFailure);
      expect(err).toMatchObject({ kind: 'validation', kernelId: 'mem.copy' });
      expect((err as Error).message).toMatch(/dispatch #\d+ of mem\.copy: /);
      // Thrown once; the runtime goes on, and the same failure from flush() when it is the observer.
      expect(Array.from(new Float32Array((await bad.read(absmax)).buffer))).toEqual([0]);
      bad.dispatch('mem.copy', { src: a, dst: b }, { words: 4 });
      bad.dispatch('quant.nf4_quantize', { x, packed, absmax }, { n: 64, blocksize: 64 });
      await expect(bad.flush()).rejects.toMatchObject({ kind: 'validation', kernelId: 'mem.copy' });
      await expect(bad.flush()).resolves.toBeUndefined();
    } finally {
      bad.dispose();
    }
  });

  it('an over-limit allocation names the allocation; a destroyed device names the cause', async (ctx) => {
    const r = runtime(ctx);
    const limit = r.gpuDevice.limits.maxBufferSize;
    expect(() => r.alloc('f32', [Math.ceil(limit / 4) + 1])).toThrow(/out-of-memory: alloc of f32\[\d+\]: \d+ bytes, over this device's maxBufferSize/);
    const doomed = await createWebGpuRuntime();
    const a = doomed.alloc('u32', [4]);
    const b = doomed.alloc('u32', [4]);
    doomed.dispatch('mem.copy', { src: a, dst: b }, { words: 4 });
    doomed.gpuDevice.destroy();
    const err = await doomed.read(b).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RuntimeFailure);
    expect(err).toMatchObject({ kind: 'device-lost', kernelId: 'mem.copy' });
    expect((err as Error).message).toMatch(/reason: destroyed.*last dispatch was #\d+ of mem\.copy/);
    doomed.dispose();
  });

  it('free() pools buffers for reuse; dispose() leaves nothing held; 20 runtimes in a row work', async (ctx) => {
    runtime(ctx);
    for (let k = 0; k < 20; k++) {
      const r = await createWebGpuRuntime({ poolBytes: 1024 });
      const words = 100 + k;
      const src = Uint32Array.from({ length: words }, (_, i) => i * 31 + k);
      const a = upload(r, 'u32', [words], src);
      const b = r.alloc('u32', [words]);
      r.dispatch('mem.copy', { src: a, dst: b }, { words });
      expect(new Uint32Array((await r.read(b)).buffer)).toEqual(src);
      r.free(a);
      expect(r.held).toMatchObject({ live: 1, pooled: 1, pipelines: 1 });
      const c = r.alloc('u32', [words]); // reuses a's buffer
      expect(r.held).toMatchObject({ live: 2, pooled: 0 });
      r.free(b);
      r.free(c);
      expect(r.held).toMatchObject({ live: 0, pooled: 2 });
      r.free(r.alloc('u32', [1000])); // 4000 bytes: over poolBytes, destroyed rather than pooled
      expect(r.held).toMatchObject({ live: 0, pooled: 2 });
      const x = upload(r, 'u32', [words], src);
      const y = r.alloc('u32', [words]);
      for (let i = 0; i < 50; i++) r.dispatch('mem.copy', { src: x, dst: y }, { words });
      await r.flush();
      expect(r.held.pipelines).toBe(1); // one pipeline (and one params buffer) however many dispatches
      expect(r.held.pendingScopes).toBe(0);
      r.dispose();
      expect(r.held).toEqual({ live: 0, pooled: 0, pooledBytes: 0, pipelines: 0, pendingScopes: 0 });
      expect(r.alive).toBe(false);
    }
  });

  it('reports the adapter and limits in use', (ctx) => {
    const r = runtime(ctx);
    const info = r.info();
    expect(info.name).toBe('webgpu');
    expect(info.description.length).toBeGreaterThan(0);
    expect(info.details?.limits).toMatchObject({ maxStorageBufferBindingSize: expect.any(Number), maxComputeWorkgroupsPerDimension: expect.any(Number) });
    expect(getKernel('mem.copy').id).toBe('mem.copy');
    const p: Params = { words: 1 };
    expect(p.words).toBe(1);
  });
});
