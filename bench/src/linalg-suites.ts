/**
 * The linalg and optim benchmarks (issue 9): dense matmul at 1024³ and at linear-layer shapes,
 * the 4-bit matmul next to the dense one of the same shape, the optimizer steps on 10M parameters,
 * and each runtime's peak rate (linalg.peak_flops, a register-only multiply-add loop).
 * Timed shapes are large; each is validated against the reference first at a smaller size with
 * the same kernel, flags and inputs (`check`).
 */
import type { Params } from '@kvant/abi';
import type { KernelBench } from './suites';

/** Linear-layer shapes from the issue: M = 512 tokens, K = 4096 in, N = 4096 or 11008 out. */
export interface LinalgScale {
  /** Tokens of the linear-layer benches (512; fewer for a slow software runtime). */
  readonly m: number;
  /** Side of the square matmul (1024). */
  readonly square: number;
  /** Parameters of the optimizer benches (10M). */
  readonly params: number;
}

export const FULL_SCALE: LinalgScale = { m: 512, square: 1024, params: 10_000_000 };
/** For software renderers (lavapipe): the same shapes with fewer rows, so a run takes seconds, not minutes. */
export const SMALL_SCALE: LinalgScale = { m: 64, square: 512, params: 10_000_000 };

const matmulParams = (m: number, n: number, k: number, transB: number): Params => ({
  m,
  n,
  k,
  trans_a: 0,
  trans_b: transB,
  batch: 1,
  stride_a: 0,
  stride_b: 0,
  stride_c: 0,
  alpha: 1,
  beta: 0,
});

const dense = (name: string, p: Params): KernelBench => ({
  name,
  kernel: 'linalg.matmul',
  params: p,
  inputs: { a: { gen: 'randn' }, b: { gen: 'randn' }, c: { gen: 'const', value: 0 } },
  check: { ...p, m: Math.min(p.m, 33), n: Math.min(p.n, 65), k: Math.min(p.k, 129) },
  heavy: true,
});

const fourBit = (name: string, m: number, n: number, k: number): KernelBench => {
  const p = { m, n, k, trans: 0, beta: 0, blocksize: 64 };
  return {
    name,
    kernel: 'linalg.matmul_4bit',
    params: p,
    inputs: { x: { gen: 'randn' }, packed: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 0.1 }, code: { gen: 'table', table: 'nf4' }, y: { gen: 'const', value: 0 } },
    check: { ...p, m: Math.min(m, 17), n: Math.min(n, 65), k: Math.min(k, 128) },
    heavy: true,
  };
};

/** Bench names, so reports can pair them (dense vs 4-bit of the same shape). */
export const linearShapes = (s: LinalgScale) => [
  { n: 4096, k: 4096, dense: `linear x·Wᵀ M=${s.m} K=4096 N=4096`, fourBit: `4-bit linear M=${s.m} K=4096 N=4096 (nf4 bs64)` },
  { n: 11008, k: 4096, dense: `linear x·Wᵀ M=${s.m} K=4096 N=11008`, fourBit: `4-bit linear M=${s.m} K=4096 N=11008 (nf4 bs64)` },
];
export const squareName = (s: LinalgScale) => `matmul ${s.square}³`;
export const PEAK_NAME = 'peak multiply-add rate';

export function linalgBenches(s: LinalgScale = FULL_SCALE): KernelBench[] {
  const out: KernelBench[] = [];
  // Enough independent work for every core or GPU lane; long enough to time.
  out.push({ name: PEAK_NAME, kernel: 'linalg.peak_flops', params: { threads: 1 << 16, iters: 2048, x: 0.999, y: 0.001 }, inputs: {}, check: { threads: 37, iters: 64, x: 0.999, y: 0.001 } });
  out.push(dense(squareName(s), matmulParams(s.square, s.square, s.square, 0)));
  for (const shape of linearShapes(s)) {
    out.push(dense(shape.dense, matmulParams(s.m, shape.n, shape.k, 1)));
    out.push(fourBit(shape.fourBit, s.m, shape.n, shape.k));
  }
  const n = s.params;
  const adamw = { n, beta2: 0.999, one_minus_beta1: 0.1, one_minus_beta2: 0.001, eps: 1e-8, decay: 1 - 1e-5, step_size: 1e-3, bias_c2_sqrt: 0.5 };
  out.push({
    name: `AdamW step, ${n / 1e6}M params`,
    kernel: 'optim.adamw_step',
    params: adamw,
    inputs: { p: { gen: 'randn' }, g: { gen: 'randn', std: 0.01 }, m: { gen: 'randn', std: 0.001 }, v: { gen: 'uniform', lo: 0, hi: 1e-4 } },
    check: { ...adamw, n: 4099 },
  });
  const adamw8 = { n, beta1: 0.9, beta2: 0.999, one_minus_beta1: 0.1, one_minus_beta2: 0.001, eps_hat: 1e-8, decay: 1 - 1e-5, step_size: 1e-3 };
  out.push({
    name: `AdamW8bit step, ${n / 1e6}M params`,
    kernel: 'optim.adamw8bit_step',
    params: adamw8,
    inputs: {
      p: { gen: 'randn' },
      g: { gen: 'randn', std: 0.01 },
      m_q: { gen: 'bytes' },
      v_q: { gen: 'bytes' },
      m_absmax: { gen: 'uniform', lo: 0, hi: 0.01 },
      v_absmax: { gen: 'uniform', lo: 0, hi: 1e-4 },
      code_signed: { gen: 'table', table: 'dynamic_signed' },
      code_unsigned: { gen: 'table', table: 'dynamic_unsigned' },
    },
    check: { ...adamw8, n: 4099 },
  });
  return out;
}
