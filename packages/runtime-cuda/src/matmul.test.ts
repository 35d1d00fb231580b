/**
 * The 128x128-tile path of kernels-cuda/linalg/matmul_tiled.cuh. The conformance cases are small
 * enough for the plain-JS reference, so they all take the 64x64 tile; the large tile is chosen
 * only when its grid fills a GPU (>= 132 tiles), so these shapes are sized to reach it — dense in
 * all four transpose combinations (batched, accumulating), and 4-bit forward and input gradient.
 */
import { NF4_CODE, type Params, type Runtime } from '@kvant/abi';
import { randn, randomBytes, ReferenceRuntime, rng } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaRuntime, createCudaRuntime, cudaAvailable } from './index';

const RUNTIMES: ('cuda-emu' | 'cuda')[] = cudaAvailable(false) === true ? ['cuda-emu', 'cuda'] : ['cuda-emu'];

type Data = Float32Array | Uint8Array;

/** Upload every binding, dispatch, read back `out`. */
async function run(r: Runtime, kernel: string, params: Params, bindings: Record<string, Data>, out: string): Promise<Uint8Array> {
  const tensors = Object.fromEntries(
    Object.entries(bindings).map(([name, data]) => {
      const t = r.alloc(data instanceof Float32Array ? 'f32' : 'u8', [data.length]);
      r.write(t, data);
      return [name, t];
    }),
  );
  r.dispatch(kernel, tensors, params);
  const bytes = await r.read(tensors[out]);
  for (const t of Object.values(tensors)) r.free(t);
  return bytes;
}

/** Index of the first differing byte, -1 when equal (vitest's deep equality is slow on megabytes). */
const firstDiff = (a: Uint8Array, b: Uint8Array) => {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
};

const uniform = (n: number, seed: number, lo: number, hi: number) => {
  const u = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * u());
};

describe.each(RUNTIMES)('%s large-tile matmul', (name) => {
  let rt: CudaRuntime;
  let reference: ReferenceRuntime;
  beforeAll(async () => {
    rt = await createCudaRuntime({ emulated: name === 'cuda-emu' });
    reference = new ReferenceRuntime();
  });
  afterAll(() => {
    rt?.dispose();
    reference?.dispose();
  });

  // 2 x 3 tiles of 128 x 22 batches = 132 blocks: the large tile.
  it.each([
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ])('dense trans_a=%i trans_b=%i, batched, alpha and beta', async (ta, tb) => {
    const [m, n, k, batch] = [131, 257, 37, 22];
    const params = { m, n, k, trans_a: ta, trans_b: tb, batch, stride_a: m * k, stride_b: k * n, stride_c: m * n, alpha: -1.5, beta: 0.5 };
    const bindings = { a: randn(batch * m * k, 11 + ta), b: randn(batch * k * n, 13 + tb), c: randn(batch * m * n, 17) };
    const got = await run(rt, 'linalg.matmul', params, bindings, 'c');
    expect(firstDiff(got, await run(reference, 'linalg.matmul', params, bindings, 'c'))).toBe(-1);
  });

  // 1100 x 1900 outputs: 9 x 15 = 135 tiles of 128.
  it.each([0, 1])('4-bit trans=%i', async (trans) => {
    const [m, big, small] = [1100, 1900, 24];
    const [n, k] = trans === 0 ? [big, small] : [small, big];
    const blocksize = 64;
    const params = { m, n, k, trans, beta: 0, blocksize };
    const bindings = {
      x: randn(m * (trans === 0 ? k : n), 21 + trans),
      packed: randomBytes(Math.ceil((n * k) / 2), 23),
      absmax: uniform(Math.ceil((n * k) / blocksize), 29, 0, 2),
      code: Float32Array.from(NF4_CODE),
      y: new Float32Array(m * (trans === 0 ? n : k)),
    };
    const got = await run(rt, 'linalg.matmul_4bit', params, bindings, 'y');
    expect(firstDiff(got, await run(reference, 'linalg.matmul_4bit', params, bindings, 'y'))).toBe(-1);
  });
});
