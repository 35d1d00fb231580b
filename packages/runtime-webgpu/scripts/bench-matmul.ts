/**
 * Times linalg.matmul and linalg.matmul_4bit(_dq) on this machine's WebGPU adapter (lavapipe
 * without a GPU) and prints GFLOP/s and the 4-bit / dense time ratio at the same shape. Results
 * are not validated here: the conformance suite checks every kernel bit for bit first.
 *
 *   pnpm --filter @kvant/runtime-webgpu exec tsx scripts/bench-matmul.ts [M K N]...
 *   (default: 512 512 512, then the linear-layer shape 256 1024 1024)
 */
import { NF4_CODE, type Params, type Tensor, upload } from '@kvant/abi';
import { createWebGpuRuntime } from '../src/index';

const rt = await createWebGpuRuntime();
console.log(rt.info().description);

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256));

/** Median milliseconds of `reps` dispatches (after one warm-up, which also compiles). */
async function time(kernel: string, bindings: Record<string, Tensor>, params: Params, reps = 5): Promise<number> {
  rt.dispatch(kernel, bindings, params);
  await rt.flush();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    rt.dispatch(kernel, bindings, params);
    await rt.flush();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

const args = process.argv.slice(2).map(Number);
const shapes: [number, number, number][] = [];
for (let i = 0; i + 2 < args.length; i += 3) shapes.push([args[i], args[i + 1], args[i + 2]]);
if (shapes.length === 0) shapes.push([512, 512, 512], [256, 1024, 1024]);

for (const [m, k, n] of shapes) {
  const flops = 2 * m * n * k;
  const x = upload(rt, 'f32', [m * k], rand(m * k));
  const w = upload(rt, 'f32', [n * k], rand(n * k));
  const y = rt.alloc('f32', [m * n]);
  const dense = await time(
    'linalg.matmul',
    { a: x, b: w, c: y },
    {
      m,
      n,
      k,
      trans_a: 0,
      trans_b: 1,
      batch: 1,
      stride_a: 0,
      stride_b: 0,
      stride_c: 0,
      alpha: 1,
      beta: 0,
    },
  );
  const blocksize = 64;
  const blocks = Math.ceil((n * k) / blocksize);
  const packed = upload(rt, 'u8', [Math.ceil((n * k) / 2)], bytes(Math.ceil((n * k) / 2)));
  const absmax = upload(rt, 'f32', [blocks], rand(blocks));
  const code = upload(rt, 'f32', [16], NF4_CODE);
  const q4 = await time('linalg.matmul_4bit', { x, packed, absmax, code, y }, { m, n, k, trans: 0, beta: 0, blocksize });
  const q4t = await time('linalg.matmul_4bit', { x: y, packed, absmax, code, y: x }, { m, n, k, trans: 1, beta: 0, blocksize });
  const gf = (ms: number) => (flops / ms / 1e6).toFixed(1);
  console.log(
    `M=${m} K=${k} N=${n}: matmul ${dense.toFixed(1)} ms (${gf(dense)} GFLOP/s); ` +
      `matmul_4bit fwd ${q4.toFixed(1)} ms (${gf(q4)} GFLOP/s, ${(q4 / dense).toFixed(2)}x dense), ` +
      `dx ${q4t.toFixed(1)} ms (${(q4t / dense).toFixed(2)}x dense)`,
  );
  for (const t of [x, w, y, packed, absmax, code]) rt.free(t);
}
rt.dispose();
