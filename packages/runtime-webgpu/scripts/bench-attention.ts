/**
 * Times nn.attention (forward) and nn.attention_backward on this machine's WebGPU adapter
 * (lavapipe without a GPU) next to linalg.matmul at 512³, and prints GFLOP/s (the spec's cost) and
 * the attention / matmul rate ratio. Validation is the conformance suite's job.
 *
 *   pnpm --filter @kvant/runtime-webgpu exec tsx scripts/bench-attention.ts [T H D]...
 *   (default: 1024 8 64)
 */
import { NN_KERNELS, type Params, type Tensor, upload } from '@kvant/abi';
import { createWebGpuRuntime } from '../src/index';

const rt = await createWebGpuRuntime();
console.log(rt.info().description);
const rand = (n: number) =>
  Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

async function time(
  kernel: string,
  bindings: Record<string, Tensor>,
  params: Params,
  reps = 3,
): Promise<number> {
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

const mm = 512;
const a = upload(rt, 'f32', [mm * mm], rand(mm * mm));
const b = upload(rt, 'f32', [mm * mm], rand(mm * mm));
const c = rt.alloc('f32', [mm * mm]);
const mmParams = {
  m: mm,
  n: mm,
  k: mm,
  trans_a: 0,
  trans_b: 0,
  batch: 1,
  stride_a: 0,
  stride_b: 0,
  stride_c: 0,
  alpha: 1,
  beta: 0,
};
const mmMs = await time('linalg.matmul', { a, b, c }, mmParams);
const mmRate = (2 * mm ** 3) / mmMs / 1e6;
console.log(
  `linalg.matmul 512^3: ${mmMs.toFixed(1)} ms, ${mmRate.toFixed(2)} GFLOP/s`,
);

const args = process.argv.slice(2).map(Number);
const shapes: [number, number, number][] = [];
for (let i = 0; i + 2 < args.length; i += 3)
  shapes.push([args[i], args[i + 1], args[i + 2]]);
if (shapes.length === 0) shapes.push([1024, 8, 64]);
const cost = (id: string, p: Params) =>
  NN_KERNELS.find((k) => k.id === id)?.cost(p).flops ?? 0;

for (const [t, h, d] of shapes) {
  const p = {
    b: 1,
    t,
    h,
    h_kv: h,
    d,
    window: 0,
    scale: Math.fround(1 / Math.sqrt(d)),
  };
  const n = t * h * d;
  const [q, k, v, dout] = [0, 1, 2, 3].map(() =>
    upload(rt, 'f32', [n], rand(n)),
  );
  const pos = upload(
    rt,
    'i32',
    [t],
    Int32Array.from({ length: t }, (_, i) => i),
  );
  const o = rt.alloc('f32', [n]);
  const lse = rt.alloc('f32', [h * t]);
  const fwd = await time('nn.attention', { q, k, v, pos, o, lse }, p);
  const fwdRate = cost('nn.attention', p) / fwd / 1e6;
  console.log(
    `nn.attention T=${t} H=${h} D=${d}: ${fwd.toFixed(1)} ms, ${fwdRate.toFixed(2)} GFLOP/s, ${(fwdRate / mmRate).toFixed(2)} of matmul`,
  );
  const [dq, dk, dv] = [0, 1, 2].map(() => rt.alloc('f32', [n]));
  const delta = rt.alloc('f32', [h * t]);
  const bwd = await time(
    'nn.attention_backward',
    { q, k, v, pos, o, lse, dout, dq, dk, dv, delta },
    p,
  );
  const bwdRate = cost('nn.attention_backward', p) / bwd / 1e6;
  console.log(
    `nn.attention_backward T=${t} H=${h} D=${d}: ${bwd.toFixed(1)} ms, ${bwdRate.toFixed(2)} GFLOP/s, ${(bwdRate / mmRate).toFixed(2)} of matmul`,
  );
}
rt.dispose();
