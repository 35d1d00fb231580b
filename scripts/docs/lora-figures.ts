/**
 * The figures of docs/lora.md, from real runs of @kvant/lora on the reference runtime with seeded data.
 *
 *   tsx scripts/docs/lora-figures.ts
 *
 * 1. lora-rank-and-loss.svg — a toy regression: W0 [32, 32] frozen, the target is W0 + ΔW* with ΔW* of
 *    rank 3; LoRA r = 8 (alpha 8) trained by plain SGD on the mean squared error. Left: the singular
 *    values of the learned s·B·A next to those of ΔW* (the adapter finds the rank it needs; the other
 *    five directions stay near zero). Right: log10 of the loss per step, LoRA and DoRA.
 * 2. lora-dora-magnitude.svg — the same problem with a target whose rows are also rescaled
 *    (W* = diag(g)·(W0 + ΔW*)); DoRA's learned magnitude m per output row next to ‖W0‖, ‖W0 + s·B·A‖
 *    and the target ‖W*‖: magnitude and direction are learned separately.
 * 3. lora-4bit-merge-error.svg — a 256 x 256 NF4 base with a random r = 16 adapter: the relative error
 *    of the layer's output after merging into the 4-bit weight (re-quantization), by blocksize, with and
 *    without double quantization, next to merging into a dense copy (mergedDenseCopy).
 * Prints the numbers the page quotes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadF32, type Runtime, type Tensor, upload } from '@kvant/abi';
import { DenseBase, FourBitBase, LoraLinear, mergedDenseCopy, mergeLayer } from '@kvant/lora';
import { ReferenceRuntime, randn } from '@kvant/reference';
import { lineChart, type Series, svgDocument } from './svg';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIGURES = join(ROOT, 'docs', 'figures');
const SEED = 20240611;
const [M, K, N, R] = [64, 32, 32, 8];
const STEPS = 150;

/** Eigenvalues of a symmetric n x n matrix (cyclic Jacobi), descending. */
function symmetricEigenvalues(a: Float64Array, n: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => m[i * n + i]).sort((x, y) => y - x);
}

/** Singular values of an [n, k] matrix (descending). */
function singularValues(w: ArrayLike<number>, n: number, k: number): number[] {
  const g = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let t = 0; t < n; t++) g[i * k + j] += w[t * k + i] * w[t * k + j];
  return symmetricEigenvalues(g, k).map((v) => Math.sqrt(Math.max(0, v)));
}

function hostMatmulT(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number): Float32Array {
  // a [m, k] · b[n, k]ᵀ
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
    c[i * n + j] = s;
  }
  return c;
}

/** The toy regression problem. */
function problem(rowScale: boolean) {
  const w0 = randn(N * K, SEED, 0.3);
  const u = randn(N * 3, SEED + 1, 0.5);
  const v = randn(3 * K, SEED + 2, 0.5);
  const delta = new Float32Array(N * K);
  for (let i = 0; i < N; i++) for (let j = 0; j < K; j++) for (let t = 0; t < 3; t++) delta[i * K + j] += u[i * 3 + t] * v[t * K + j] * (t + 1) * 0.3;
  const g = Float32Array.from({ length: N }, (_, i) => (rowScale ? 1 + 0.4 * Math.sin(i) : 1));
  const target = Float32Array.from(w0, (w, i) => g[Math.floor(i / K)] * (w + delta[i]));
  const x = randn(M * K, SEED + 3);
  return { w0, delta, target, x, yStar: hostMatmulT(x, target, M, N, K) };
}

/** Train one adapter by SGD on the mean squared error; returns the loss per step and the layer. */
async function train(rt: Runtime, p: ReturnType<typeof problem>, useDora: boolean, lr: number) {
  const layer = new LoraLinear(DenseBase.fromValues(rt, p.w0, [N, K]), { name: 'toy' });
  const a = await layer.addAdapter('default', { r: R, loraAlpha: R, useDora, seed: SEED });
  const x = upload(rt, 'f32', [M, K], p.x);
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const { y, saved } = await layer.forward(x, { training: true });
    const yv = await downloadF32(y);
    rt.free(y);
    let loss = 0;
    const dy = new Float32Array(M * N);
    for (let i = 0; i < dy.length; i++) {
      const e = yv[i] - p.yStar[i];
      loss += (e * e) / dy.length;
      dy[i] = (2 * e) / dy.length;
    }
    losses.push(loss);
    const dyT = upload(rt, 'f32', [M, N], dy);
    await layer.backward(saved, dyT, { inputGradient: false });
    rt.free(dyT);
    const g = a.grads();
    const steps: [Tensor, Tensor][] = [[a.A, g.A], [a.B, g.B], ...(a.magnitude ? ([[a.magnitude, g.magnitude!]] as [Tensor, Tensor][]) : [])];
    for (const [param, grad] of steps) rt.dispatch('linalg.axpy', { x: grad, y: param }, { n: param.size, alpha: -lr });
  }
  return { layer, adapter: a, losses };
}

async function rankAndLoss(rt: Runtime): Promise<string> {
  const p = problem(false);
  const lora = await train(rt, p, false, 0.5);
  const dora = await train(rt, p, true, 0.5);
  const [A, B] = [await downloadF32(lora.adapter.A), await downloadF32(lora.adapter.B)];
  const ba = new Float32Array(N * K);
  for (let i = 0; i < N; i++) for (let j = 0; j < K; j++) for (let t = 0; t < R; t++) ba[i * K + j] += lora.adapter.scaling * B[i * R + t] * A[t * K + j];
  const learned = singularValues(ba, N, K).slice(0, 10);
  const target = singularValues(p.delta, N, K).slice(0, 10);
  console.log(`lora-figures: singular values of s·B·A (r = ${R}): ${learned.map((v) => v.toFixed(3)).join(', ')}`);
  console.log(`lora-figures: singular values of ΔW*: ${target.map((v) => v.toFixed(3)).join(', ')}`);
  console.log(`lora-figures: loss ${lora.losses[0].toExponential(3)} → LoRA ${lora.losses.at(-1)!.toExponential(3)}, DoRA ${dora.losses.at(-1)!.toExponential(3)} after ${STEPS} steps`);
  const idx = (v: number[]) => v.map((s, i) => [i + 1, s] as [number, number]);
  const left = lineChart({
    title: `Singular values: learned s·B·A (r = ${R}) vs the target ΔW* (rank 3)`,
    xLabel: 'index',
    yLabel: 'singular value',
    xTicks: Array.from({ length: 10 }, (_, i) => ({ at: i + 1, label: String(i + 1) })),
    series: [
      { label: 'target ΔW*', color: '#888888', points: idx(target), dashed: true, marker: 'cross' },
      { label: 'LoRA s·B·A after training', color: '#1a73e8', points: idx(learned) },
    ],
  });
  const curve = (l: number[]): [number, number][] => l.map((v, i) => [i, Math.log10(v)]);
  const right = lineChart({
    title: 'Training loss (mean squared error), SGD lr 0.5',
    xLabel: 'step',
    yLabel: 'log10 loss',
    xTicks: [0, 50, 100, 150].map((t) => ({ at: t, label: String(t) })),
    series: [
      { label: 'LoRA', color: '#1a73e8', points: curve(lora.losses) },
      { label: 'DoRA', color: '#e8711a', points: curve(dora.losses), dashed: true },
    ],
  });
  lora.layer.free();
  dora.layer.free();
  return svgDocument(1100, 420, [left.render(0, 0, 550, 420), right.render(550, 0, 550, 420)], 'LoRA on a toy regression: rank and loss');
}

async function doraMagnitude(rt: Runtime): Promise<string> {
  const p = problem(true);
  const dora = await train(rt, p, true, 0.5);
  const a = dora.adapter;
  const [A, B, mag] = [await downloadF32(a.A), await downloadF32(a.B), await downloadF32(a.magnitude!)];
  const rowNorm = (w: ArrayLike<number>, j: number) => Math.sqrt(Array.from({ length: K }, (_, c) => w[j * K + c] ** 2).reduce((s, v) => s + v, 0));
  const wp = Float32Array.from(p.w0, (w, i) => {
    const [j, c] = [Math.floor(i / K), i % K];
    let d = 0;
    for (let t = 0; t < R; t++) d += B[j * R + t] * A[t * K + c];
    return w + a.scaling * d;
  });
  const rows = (f: (j: number) => number): [number, number][] => Array.from({ length: N }, (_, j) => [j, f(j)]);
  console.log(`lora-figures: DoRA |m − ‖W*‖| max ${Math.max(...rows((j) => Math.abs(mag[j] - rowNorm(p.target, j))).map((q) => q[1])).toFixed(4)}, loss ${dora.losses.at(-1)!.toExponential(3)}`);
  const chart = lineChart({
    title: 'DoRA: W\' = m ⊙ (W0 + s·B·A) / ‖W0 + s·B·A‖ — magnitude and direction learned apart',
    xLabel: 'output row j',
    yLabel: 'row norm',
    xTicks: [0, 8, 16, 24, 31].map((t) => ({ at: t, label: String(t) })),
    series: [
      { label: '‖W0_j‖ (frozen base)', color: '#888888', points: rows((j) => rowNorm(p.w0, j)), dashed: true },
      { label: '‖W0 + s·B·A‖_j (direction part, normalized away)', color: '#34a853', points: rows((j) => rowNorm(wp, j)) },
      { label: 'target ‖W*_j‖', color: '#000000', points: rows((j) => rowNorm(p.target, j)), marker: 'cross' },
      { label: 'learned magnitude m_j', color: '#e8711a', points: rows((j) => mag[j]) },
    ],
  });
  dora.layer.free();
  return svgDocument(900, 460, [chart.render(0, 0, 900, 460)], 'DoRA magnitude per output row');
}

async function mergeError(rt: Runtime): Promise<string> {
  const [n, k, r, m] = [256, 256, 16, 16];
  const w = randn(n * k, SEED + 10, 0.02);
  const x = upload(rt, 'f32', [m, k], randn(m * k, SEED + 11));
  const blocksizes = [32, 64, 128, 256, 512, 1024];
  const series: Record<string, [number, number][]> = { nf4: [], 'nf4 + double quant': [], dense: [] };
  for (const bs of blocksizes) {
    for (const dq of [false, true]) {
      const layer = new LoraLinear(await FourBitBase.quantize(rt, w, [n, k], { quantType: 'nf4', blocksize: bs, doubleQuant: dq }));
      const a = await layer.addAdapter('default', { r, loraAlpha: 32, init: false, seed: SEED });
      rt.write(a.B, randn(n * r, SEED + 12, 0.002));
      const want = await downloadF32((await layer.forward(x)).y);
      const dense = await mergedDenseCopy(layer);
      const yd = rt.alloc('f32', [m, n]);
      dense.forward(x, yd, m);
      const gotDense = await downloadF32(yd);
      await mergeLayer(layer, ['default'], { onWarning: () => {} });
      const got = await downloadF32((await layer.forward(x)).y);
      const rel = (g: Float32Array) => Math.sqrt(g.reduce((s, v, i) => s + (v - want[i]) ** 2, 0) / want.reduce((s, v) => s + v * v, 0));
      series[dq ? 'nf4 + double quant' : 'nf4'].push([Math.log2(bs), rel(got)]);
      if (!dq) series.dense.push([Math.log2(bs), Math.max(rel(gotDense), 1e-9)]);
      dense.free();
      layer.free();
    }
  }
  for (const [name, pts] of Object.entries(series)) console.log(`lora-figures: merge output error (${name}) by blocksize: ${pts.map(([b, e]) => `${2 ** b}: ${e.toExponential(2)}`).join(', ')}`);
  const chart = lineChart({
    title: 'Output error of a merged layer: ‖y_merged − y_adapter‖ / ‖y_adapter‖ (256 x 256, r = 16)',
    xLabel: 'blocksize',
    yLabel: 'log10 relative error',
    xTicks: blocksizes.map((b) => ({ at: Math.log2(b), label: String(b) })),
    series: [
      { label: 'merge into the NF4 weight (re-quantized)', color: '#1a73e8', points: series.nf4.map(([b, e]) => [b, Math.log10(e)]) },
      { label: 'NF4 + double quant', color: '#e8711a', points: series['nf4 + double quant'].map(([b, e]) => [b, Math.log10(e)]), dashed: true },
      { label: 'mergedDenseCopy (dequantize, merge in f32)', color: '#34a853', points: series.dense.map(([b, e]) => [b, Math.log10(e)]), marker: 'cross' },
    ] satisfies Series[],
  });
  return svgDocument(900, 460, [chart.render(0, 0, 900, 460)], 'Output error of a 4-bit merge by blocksize');
}

/** Write the three figures; returns the exit code. */
export async function main(): Promise<number> {
  const rt = new ReferenceRuntime();
  try {
    mkdirSync(FIGURES, { recursive: true });
    writeFileSync(join(FIGURES, 'lora-rank-and-loss.svg'), await rankAndLoss(rt));
    writeFileSync(join(FIGURES, 'lora-dora-magnitude.svg'), await doraMagnitude(rt));
    writeFileSync(join(FIGURES, 'lora-4bit-merge-error.svg'), await mergeError(rt));
    return 0;
  } finally {
    rt.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(await main());
