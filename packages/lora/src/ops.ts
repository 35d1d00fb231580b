/**
 * The kernel calls the LoRA layer is made of, with their shapes. Every one is a `dispatch` on the
 * runtime; nothing here reads data back. Dimension letters: M tokens, K in-features, N out-features,
 * R rank.
 *
 * Row-wise helpers are built from `linalg.matmul`'s batch: with m = k = 1 and one batch per row, a
 * product of 1x1 by 1xcols matrices is an element-wise scale of that row (`rowScale`), and with
 * m = n = 1, k = cols it is a dot product of two rows (`rowDots`). There is no column-wise
 * equivalent, which is why DoRA (dora.ts) scales rows of weights rather than columns of outputs.
 */
import { type Runtime, type Tensor, TensorError } from '@kvant/abi';

/** Arguments of one `linalg.matmul`: c[m,n] = alpha·op(a)·op(b) + beta·c. */
export interface MatmulArgs {
  readonly a: Tensor;
  readonly b: Tensor;
  readonly c: Tensor;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** a is stored [k, m] (op(a) = aᵀ). */
  readonly transA?: boolean;
  /** b is stored [n, k] (op(b) = bᵀ). */
  readonly transB?: boolean;
  readonly alpha?: number;
  readonly beta?: number;
}

/** c = alpha·op(a)·op(b) + beta·c (one product, no batch). */
export function matmul(rt: Runtime, g: MatmulArgs): void {
  rt.dispatch(
    'linalg.matmul',
    { a: g.a, b: g.b, c: g.c },
    {
      m: g.m,
      n: g.n,
      k: g.k,
      trans_a: g.transA ? 1 : 0,
      trans_b: g.transB ? 1 : 0,
      batch: 1,
      stride_a: 0,
      stride_b: 0,
      stride_c: 0,
      alpha: g.alpha ?? 1,
      beta: g.beta ?? 0,
    },
  );
}

/** out[t, j] = v[t]·x[t, j] for t < rows, j < cols (x, out: [rows, cols]; v: [rows]). */
export function rowScale(rt: Runtime, v: Tensor, x: Tensor, out: Tensor, rows: number, cols: number): void {
  rt.dispatch(
    'linalg.matmul',
    { a: v, b: x, c: out },
    { m: 1, n: cols, k: 1, trans_a: 0, trans_b: 0, batch: rows, stride_a: 1, stride_b: cols, stride_c: cols, alpha: 1, beta: 0 },
  );
}

/** out[t] = Σ_j x[t, j]·y[t, j], summed in order j = 0..cols-1 (x, y: [rows, cols]; out: [rows]). */
export function rowDots(rt: Runtime, x: Tensor, y: Tensor, out: Tensor, rows: number, cols: number, beta = 0): void {
  rt.dispatch(
    'linalg.matmul',
    { a: x, b: y, c: out },
    { m: 1, n: 1, k: cols, trans_a: 0, trans_b: 1, batch: rows, stride_a: cols, stride_b: cols, stride_c: 1, alpha: 1, beta },
  );
}

/** out[i] = a[i]·b[i] (+ beta·out[i]) for i < n. */
export function multiply(rt: Runtime, a: Tensor, b: Tensor, out: Tensor, n: number, beta = 0): void {
  rt.dispatch('linalg.matmul', { a, b, c: out }, { m: 1, n: 1, k: 1, trans_a: 0, trans_b: 0, batch: n, stride_a: 1, stride_b: 1, stride_c: 1, alpha: 1, beta });
}

/** y[i] = alpha·x[i] + y[i]. */
export function axpy(rt: Runtime, alpha: number, x: Tensor, y: Tensor, n: number): void {
  rt.dispatch('linalg.axpy', { x, y }, { n, alpha });
}

/** y = alpha·x (alpha = 1: a bit copy). */
export function scale(rt: Runtime, alpha: number, x: Tensor, y: Tensor, n: number): void {
  rt.dispatch('linalg.scale', { x, y }, { n, alpha });
}

/** y[i, j] += bias[j] for every row i < m: the outer product ones[m]·bias[n] added with beta = 1. */
export function addBias(rt: Runtime, ones: Tensor, bias: Tensor, y: Tensor, m: number, n: number): void {
  matmul(rt, { a: ones, b: bias, c: y, m, n, k: 1, beta: 1 });
}

/** out[j] = Σ_i dy[i, j] (+ beta·out[j]): the bias gradient, onesᵀ·dy. */
export function columnSums(rt: Runtime, ones: Tensor, dy: Tensor, out: Tensor, m: number, n: number, beta = 0): void {
  matmul(rt, { a: ones, b: dy, c: out, m: 1, n, k: m, beta });
}

/** Philox dropout parameters for drop probability p (threshold and scale as linalg.dropout's spec says). */
export function dropoutParams(p: number): { threshold: number; scale: number } {
  return { threshold: Math.min(0xffffffff, Math.round(p * 2 ** 32)), scale: Math.fround(1 / (1 - p)) };
}

/** y = dropout(x) with a 32-bit seed and a 64-bit call counter; the same call on dy gives the backward. */
export function dropout(rt: Runtime, x: Tensor, y: Tensor, n: number, p: number, seed: number, offset: number): void {
  const { threshold, scale: s } = dropoutParams(p);
  rt.dispatch(
    'linalg.dropout',
    { x, y },
    { n, seed_lo: seed >>> 0, seed_hi: 0, offset_lo: offset % 2 ** 32 >>> 0, offset_hi: Math.floor(offset / 2 ** 32) >>> 0, threshold, scale: s },
  );
}

/** A fresh f32 tensor filled with `value` (uploaded once: used for ones vectors). */
export function filled(rt: Runtime, shape: readonly number[], value: number): Tensor {
  const t = rt.alloc('f32', shape);
  rt.write(t, new Float32Array(t.size).fill(value));
  return t;
}

/** A fresh zero f32 tensor. */
export function zeros(rt: Runtime, shape: readonly number[]): Tensor {
  return filled(rt, shape, 0);
}

/** Rows of an activation tensor whose last dimension is `features` (x may be [M, K] or [B, T, K]). */
export function rowsOf(x: Tensor, features: number, where: string): number {
  if (x.dtype !== 'f32') throw new TensorError(where, 'an f32 tensor', `dtype ${x.dtype}`);
  if (x.shape.length === 0 || x.shape[x.shape.length - 1] !== features || x.size === 0) {
    throw new TensorError(where, `a tensor [..., ${features}] with at least one row`, `shape [${x.shape.join(', ')}]`);
  }
  return x.size / features;
}
