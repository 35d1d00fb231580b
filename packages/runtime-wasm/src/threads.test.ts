/**
 * The threaded wasm runtime: workers over one shared memory, heavy kernels split by output tiles,
 * and the same bits for every thread count.
 */
import { availableParallelism } from 'node:os';
import { ConfigError, type DType, type Params, runOnce } from '@kvant/abi';
import { randn, randomBytes } from '@kvant/reference';
import { afterAll, describe, expect, it } from 'vitest';
import { createWasmRuntime, type WasmRuntime } from './index';

const open: WasmRuntime[] = [];
afterAll(() => {
  for (const rt of open) rt.dispose();
});
async function make(threads?: number): Promise<WasmRuntime> {
  const rt = await createWasmRuntime(threads === undefined ? {} : { threads });
  open.push(rt);
  return rt;
}

interface SplitCase {
  readonly kernel: string;
  readonly params: Params;
  readonly inputs: Record<string, Float32Array | Uint8Array>;
  readonly outputs: Record<string, { dtype: DType; count: number }>;
}

/** Shapes that do not divide into tiles or threads, every transpose, a batch with a broadcast operand; each over the runtime's split threshold (2^22 flops). */
function splitCases(): SplitCase[] {
  const out: SplitCase[] = [];
  let seed = 1;
  for (const [m, n, k, ta, tb, batch] of [
    [257, 129, 300, 0, 1, 1],
    [131, 67, 259, 1, 0, 1],
    [96, 200, 129, 1, 1, 1],
    [65, 77, 161, 0, 0, 3],
    // Units spread evenly (M 128: 66 + 62 rows, not 120 + 8), then more row units for 2 and 3 parts.
    [128, 300, 70, 0, 1, 1],
    [250, 40, 300, 1, 0, 1],
  ]) {
    const a = randn((batch - 1) * m * k + m * k, seed++);
    const b = randn(n * k, seed++); // stride_b = 0: one B for every batch
    const c = randn(batch * m * n, seed++);
    out.push({
      kernel: 'linalg.matmul',
      params: { m, n, k, trans_a: ta, trans_b: tb, batch, stride_a: m * k, stride_b: 0, stride_c: m * n, alpha: 0.5, beta: batch > 1 ? 1 : 0 },
      inputs: { a, b, c },
      outputs: {},
    });
  }
  for (const trans of [0, 1]) {
    const [m, n, k] = [97, 130, 192];
    const blocksize = 64;
    const blocks = Math.ceil((n * k) / blocksize);
    out.push({
      kernel: 'linalg.matmul_4bit',
      params: { m, n, k, trans, beta: 0, blocksize },
      inputs: {
        x: randn(m * (trans ? n : k), seed++),
        packed: randomBytes(Math.ceil((n * k) / 2), seed++),
        absmax: randn(blocks, seed++).map(Math.abs),
        code: randn(16, seed++),
        y: new Float32Array(m * (trans ? k : n)),
      },
      outputs: {},
    });
  }
  // Dropout: 70001 elements (a partial last group of 32), split over the threads by groups.
  out.push({
    kernel: 'linalg.dropout',
    params: { n: 70001, seed_lo: 0x12345678, seed_hi: 9, offset_lo: 0xfffffff0, offset_hi: 1, threshold: 2 ** 31, scale: 2 },
    inputs: { x: randn(70001, seed++), y: new Float32Array(70001) },
    outputs: {},
  });
  // 4099 work items (not a multiple of 4 or of the threads), 2^22+ flops.
  out.push({ kernel: 'linalg.peak_flops', params: { threads: 4099, iters: 80, x: 0.999, y: 0.001 }, inputs: { out: new Float32Array(4099) }, outputs: {} });
  return out;
}

describe('threads', () => {
  it('default to the machine\'s cores and say so', async () => {
    const rt = await make();
    expect(rt.threads).toBe(availableParallelism());
    expect(rt.info().description).toMatch(availableParallelism() > 1 ? /SIMD, \d+ threads/ : /single thread/);
  });

  it('one thread runs without workers; a bad thread count is a typed error', async () => {
    const rt = await make(1);
    expect(rt.threads).toBe(1);
    expect(rt.info().description).toMatch(/single thread/);
    await expect(createWasmRuntime({ threads: 0 })).rejects.toThrow(ConfigError);
    await expect(createWasmRuntime({ threads: 1.5 })).rejects.toThrow(ConfigError);
  });

  it('split the matmul family over the workers', async () => {
    const rt = await make(2);
    expect(rt.info().details?.splitKernels).toEqual(expect.arrayContaining(['linalg.matmul', 'linalg.matmul_4bit', 'linalg.matmul_4bit_dq', 'linalg.peak_flops', 'linalg.dropout']));
  });

  it('give the same bits for 1, 2 and 3 threads', async () => {
    const runtimes = [await make(1), await make(2), await make(3)];
    for (const c of splitCases()) {
      const results: Uint8Array[] = [];
      for (const rt of runtimes) {
        // The written binding is readwrite here (c or y): pass it as an input and read it back.
        const written = c.kernel === 'linalg.matmul' ? 'c' : c.kernel === 'linalg.peak_flops' ? 'out' : 'y'; // dropout writes y too
        const { [written]: init, ...inputs } = c.inputs;
        const t = rt.alloc('f32', [init.length]);
        rt.write(t, init);
        const tensors: Record<string, ReturnType<typeof rt.alloc>> = { [written]: t };
        for (const [name, data] of Object.entries(inputs)) {
          const u = rt.alloc(data instanceof Float32Array ? 'f32' : 'u8', [data.length]);
          rt.write(u, data);
          tensors[name] = u;
        }
        rt.dispatch(c.kernel, tensors, c.params);
        await rt.flush();
        results.push(await rt.read(t));
        for (const x of Object.values(tensors)) rt.free(x);
      }
      expect(results[1], `${c.kernel} ${JSON.stringify(c.params)} on 2 threads`).toEqual(results[0]);
      expect(results[2], `${c.kernel} ${JSON.stringify(c.params)} on 3 threads`).toEqual(results[0]);
    }
  });

  it('dispose stops the workers; many runtimes in a row work', async () => {
    for (let i = 0; i < 6; i++) {
      const rt = await createWasmRuntime({ threads: 2 });
      const out = await runOnce(rt, 'mem.copy', { words: 3 }, { src: new Uint32Array([1, 2, 3]) }, { dst: { dtype: 'u32', count: 3 } });
      expect(new Uint32Array(out.dst.buffer, 0, 3)).toEqual(new Uint32Array([1, 2, 3]));
      rt.dispose();
    }
  });
});
