/**
 * DoRA (Liu et al. 2024, arXiv 2402.09353) as PEFT computes it (`tuners/lora/dora.py`):
 *
 *   W' = W + s·B·A                      (dense [N, K]; a 4-bit W is dequantized first, as PEFT does)
 *   norm_j = ‖W'_j‖₂                    one L2 norm per output row, treated as a constant (detached)
 *   k_j = m_j / norm_j                  m [N] is the trainable magnitude
 *   y = base(x) + x̃·Dᵀ,  D = diag(k)·W' − W,   x̃ = dropout(x)
 *
 * which is PEFT's `base(x) + (k − 1)·(W·x̃) + k·s·B·A·x̃` written as one weight: k scales *output
 * features*, and the kernels can scale rows of a weight (ops.rowScale) but not columns of an
 * output. With x̃ = x it is k ⊙ (W'·x) + bias.
 *
 * Backward, with the norm held constant (dy [M, N], u = x̃·Aᵀ [M, R]):
 *   dB = s·diag(k)·dyᵀ·u        dA = (s·dy·diag(k)·B)ᵀ·x̃
 *   dm_j = (1/norm_j)·⟨W'_j, (dyᵀ·x̃)_j⟩
 *   dx += dropoutᵀ(dy·D)        (the base's dy·W comes from BaseWeight.inputGrad)
 *
 * The row norms are composed from kernels (ops.rowDots: one sum of squares per row); the square
 * root and the division m / norm run on the host on N values, f32 as PEFT (there is no sqrt or
 * divide kernel): one read of N norms and N magnitudes per DoRA forward.
 */
import { downloadF32, NonFiniteError, type Runtime, type Tensor, upload } from '@kvant/abi';
import type { LoraAdapter } from './adapter';
import { type BaseWeight, denseCopy } from './base';
import { axpy, matmul, multiply, rowDots, rowScale } from './ops';

/** W += sign·s·B·A in place (W [N, K]): the delta weight of an adapter. */
export function addDelta(rt: Runtime, a: LoraAdapter, w: Tensor, sign: 1 | -1): void {
  const [n, k] = [a.B.shape[0], a.A.shape[1]];
  matmul(rt, { a: a.B, b: a.A, c: w, m: n, n: k, k: a.r, alpha: sign * a.scaling, beta: 1 });
}

/** ‖W_j‖₂ per row of W [N, K], as f32: sums of squares on the runtime, square roots on the host. */
export async function rowNorms(rt: Runtime, w: Tensor, n: number, k: number): Promise<Float32Array> {
  const sq = rt.alloc('f32', [n]);
  rowDots(rt, w, w, sq, n, k);
  const s = await downloadF32(sq);
  rt.free(sq);
  return Float32Array.from(s, (v) => Math.sqrt(v));
}

/** The DoRA weight W + s·B·A [N, K] (a new tensor) and its row norms. */
export async function doraWeight(base: BaseWeight, a: LoraAdapter): Promise<{ weight: Tensor; norms: Float32Array }> {
  const weight = denseCopy(base);
  addDelta(base.runtime, a, weight, 1);
  return { weight, norms: await rowNorms(base.runtime, weight, base.outFeatures, base.inFeatures) };
}

/** What a DoRA forward keeps for backward. */
export interface DoraSaved {
  /** W' = W + s·B·A [N, K]. */
  readonly weight: Tensor;
  /** D = diag(k)·W' − W [N, K]. */
  readonly delta: Tensor;
  /** k = m / norm [N]. */
  readonly k: Tensor;
  /** 1 / norm [N]. */
  readonly invNorm: Tensor;
}

/** k_j = m_j / norm_j in f32 (one division, as PEFT's magnitude / weight_norm); refuses a non-finite k. */
function magnitudeScale(mag: Float32Array, norms: Float32Array, where: string): Float32Array {
  const k = new Float32Array(norms.length);
  for (let j = 0; j < k.length; j++) {
    k[j] = mag[j] / norms[j];
    if (!Number.isFinite(k[j])) throw new NonFiniteError(`${where}: DoRA scale m / ‖W + s·B·A‖ (row norm ${norms[j]}, magnitude ${mag[j]})`, j, k[j]);
  }
  return k;
}

/** y += x̃·Dᵀ for one DoRA adapter (y [M, N] already holds base(x) + bias). */
export async function doraForward(base: BaseWeight, a: LoraAdapter, xt: Tensor, y: Tensor, m: number, where: string): Promise<DoraSaved> {
  const rt = base.runtime;
  const [n, kIn] = [base.outFeatures, base.inFeatures];
  const { weight, norms } = await doraWeight(base, a);
  const k = magnitudeScale(await downloadF32(a.magnitude!), norms, where);
  const kT = upload(rt, 'f32', [n], k);
  const invNorm = upload(rt, 'f32', [n], Float32Array.from(norms, (v) => 1 / v));
  const delta = rt.alloc('f32', [n, kIn]);
  rowScale(rt, kT, weight, delta, n, kIn);
  const w0 = denseCopy(base);
  axpy(rt, -1, w0, delta, n * kIn);
  rt.free(w0);
  matmul(rt, { a: xt, b: delta, c: y, m, n, k: kIn, transB: true, beta: 1 });
  return { weight, delta, k: kT, invNorm };
}

/**
 * Gradients of one DoRA adapter into its grad tensors (beta 1: accumulate), and dy·D [M, K] into
 * `dxt` (the gradient with respect to x̃, before dropout's backward; dxtBeta 1 adds into it). `u` = x̃·Aᵀ from the forward.
 */
export function doraBackward(rt: Runtime, a: LoraAdapter, s: DoraSaved, xt: Tensor, u: Tensor, dy: Tensor, dxt: Tensor | undefined, dxtBeta: number, m: number, beta: number): void {
  const [n, kIn, r] = [a.B.shape[0], a.A.shape[1], a.r];
  if (a.trainable) {
    const g = a.grads();
    // dB = diag(k)·(s·dyᵀ·u)
    const t = rt.alloc('f32', [n, r]);
    matmul(rt, { a: dy, b: u, c: t, m: n, n: r, k: m, transA: true, alpha: a.scaling });
    if (beta === 0) rowScale(rt, s.k, t, g.B, n, r);
    else {
      const t2 = rt.alloc('f32', [n, r]);
      rowScale(rt, s.k, t, t2, n, r);
      axpy(rt, 1, t2, g.B, n * r);
      rt.free(t2);
    }
    // dA = (s·dy·diag(k)·B)ᵀ·x̃
    rowScale(rt, s.k, a.B, t, n, r);
    const gu = rt.alloc('f32', [m, r]);
    matmul(rt, { a: dy, b: t, c: gu, m, n: r, k: n, alpha: a.scaling });
    matmul(rt, { a: gu, b: xt, c: g.A, m: r, n: kIn, k: m, transA: true, beta });
    rt.free(gu);
    rt.free(t);
    // dm = (1/norm) ⊙ rowDots(W', dyᵀ·x̃)
    const G = rt.alloc('f32', [n, kIn]);
    matmul(rt, { a: dy, b: xt, c: G, m: n, n: kIn, k: m, transA: true });
    const rd = rt.alloc('f32', [n]);
    rowDots(rt, s.weight, G, rd, n, kIn);
    multiply(rt, s.invNorm, rd, g.magnitude!, n, beta);
    rt.free(rd);
    rt.free(G);
  }
  if (dxt) matmul(rt, { a: dy, b: s.delta, c: dxt, m, n: kIn, k: n, beta: dxtBeta });
}

/** Free what a DoRA forward kept. */
export function freeDoraSaved(rt: Runtime, s: DoraSaved): void {
  rt.free(s.weight);
  rt.free(s.delta);
  rt.free(s.k);
  rt.free(s.invNorm);
}
