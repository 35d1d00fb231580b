/**
 * The figure of docs/optimizers.md: how far bitsandbytes' 8-bit blockwise states drift from 32-bit
 * Adam states over a real run, computed with @kvant/optim on the reference runtime and seeded data.
 *
 *   tsx scripts/docs/optimizer-figures.ts
 *
 * The problem: a random ill-conditioned quadratic, loss = 1/2 · Σ h_i (x_i - x*_i)², curvatures
 * h_i log-uniform over two decades (0.1 to 10), a gradient noise of 10% of the gradient scale, 2^16 parameters
 * (256 blocks), 300 steps of lr 1e-2. Three optimizers:
 * - AdamW8bit trains its own params; a shadow AdamW is fed exactly the same gradients, so its f32
 *   states are what the 8-bit states would be without quantization. The left panel is the relative
 *   error ||deq(m8) - m32|| / ||m32|| (and the same for v) per step: accumulated quantization error only.
 * - AdamW trains params of its own from the same start: the right panel shows both losses.
 * Writes docs/figures/optimizer-8bit-state-error.svg and prints the numbers quoted in the page.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadF32, type Runtime, upload } from '@kvant/abi';
import { AdamW, AdamW8bit, type NamedParam } from '@kvant/optim';
import { ReferenceRuntime, randn, rng } from '@kvant/reference';
import { lineChart, type Series, svgDocument } from './svg';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIGURES = join(ROOT, 'docs', 'figures');
const SEED = 20240229;
const N = 1 << 16;
const STEPS = 300;
const LR = 1e-2;

/** The quadratic: curvatures, optimum and start. */
function problem() {
  const u = rng(SEED);
  const h = Float32Array.from({ length: N }, () => 10 ** (-1 + 2 * u()));
  return { h, target: randn(N, SEED + 1), start: randn(N, SEED + 2) };
}

/** Gradient at x (with seeded noise for step t) and the loss. */
function gradient(x: Float32Array, p: ReturnType<typeof problem>, t: number): { g: Float32Array; loss: number } {
  const noise = randn(N, SEED + 100 + t, 0.1);
  const g = new Float32Array(N);
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const d = x[i] - p.target[i];
    loss += 0.5 * p.h[i] * d * d;
    g[i] = p.h[i] * d + noise[i] * Math.sqrt(p.h[i]);
  }
  return { g, loss: loss / N };
}

function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const named = (rt: Runtime, name: string, x: Float32Array): NamedParam => ({ name, param: upload(rt, 'f32', [N], x), grad: rt.alloc('f32', [N]) });

export interface OptimizerRun {
  step: number[];
  mError: number[];
  vError: number[];
  loss8: number[];
  loss32: number[];
}

/** Run the three optimizers; errors and losses per step. */
export async function optimizerRun(): Promise<OptimizerRun> {
  const rt = new ReferenceRuntime();
  const p = problem();
  const p8 = named(rt, 'x', p.start);
  const shadow = named(rt, 'x', p.start);
  const p32 = named(rt, 'x', p.start);
  const opt8 = new AdamW8bit(rt, [p8], { lr: LR, weightDecay: 0 });
  const optShadow = new AdamW(rt, [shadow], { lr: LR, weightDecay: 0 });
  const opt32 = new AdamW(rt, [p32], { lr: LR, weightDecay: 0 });
  const out: OptimizerRun = { step: [], mError: [], vError: [], loss8: [], loss32: [] };
  for (let t = 1; t <= STEPS; t++) {
    const a = gradient(await downloadF32(p8.param), p, t);
    rt.write(p8.grad, a.g);
    rt.write(shadow.grad, a.g);
    const b = gradient(await downloadF32(p32.param), p, t);
    rt.write(p32.grad, b.g);
    opt8.step();
    optShadow.step();
    opt32.step();
    const q = await opt8.moments('x');
    const s = await optShadow.moments('x');
    out.step.push(t);
    out.mError.push(relError(q.m, s.m));
    out.vError.push(relError(q.v, s.v));
    out.loss8.push(a.loss);
    out.loss32.push(b.loss);
  }
  rt.dispose();
  return out;
}

function figure(run: OptimizerRun): string {
  const ticks = [1, 50, 100, 150, 200, 250, 300].map((t) => ({ at: t, label: String(t) }));
  const pick = (ys: number[], scale = 1): [number, number][] => run.step.filter((t) => t % 5 === 0 || t === 1).map((t) => [t, ys[t - 1] * scale]);
  const errors: Series[] = [
    { label: 'first moment m (signed map)', color: '#1a73e8', points: pick(run.mError, 100) },
    { label: 'second moment v (unsigned map)', color: '#d93025', points: pick(run.vError, 100), marker: 'cross' },
  ];
  const losses: Series[] = [
    { label: 'AdamW (f32 states)', color: '#188038', points: pick(run.loss32) },
    { label: 'AdamW8bit', color: '#e37400', points: pick(run.loss8), dashed: true, marker: 'cross' },
  ];
  const left = lineChart({ title: '8-bit states vs f32 states fed the same gradients', xLabel: 'step', yLabel: 'relative error ||deq(q) - s|| / ||s|| (%)', xTicks: ticks, series: errors });
  const right = lineChart({ title: 'Loss on the quadratic (2^16 params, lr 1e-2)', xLabel: 'step', yLabel: 'loss per parameter', xTicks: ticks, series: losses });
  return svgDocument(1100, 420, [left.render(0, 0, 550, 420), right.render(550, 0, 550, 420)], 'Quantization error of 8-bit AdamW states over a run');
}

export async function main(): Promise<number> {
  const run = await optimizerRun();
  mkdirSync(FIGURES, { recursive: true });
  writeFileSync(join(FIGURES, 'optimizer-8bit-state-error.svg'), figure(run));
  const at = (t: number) => `step ${t}: m ${(100 * run.mError[t - 1]).toFixed(2)}%, v ${(100 * run.vError[t - 1]).toFixed(2)}%, loss AdamW ${run.loss32[t - 1].toFixed(4)} vs AdamW8bit ${run.loss8[t - 1].toFixed(4)}`;
  for (const t of [1, 10, 100, STEPS]) console.log(at(t));
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(await main());
