/**
 * Interop with PyTorch (python3 + CPU torch, interop/torch_optim.py): AdamW, SGD and
 * clip_grad_norm_ on random params and gradients of awkward sizes, and transformers' schedules.
 * In CI (process.env.CI set) a missing python3/torch fails these tests instead of skipping them.
 */
import { downloadF32 } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from './adamw';
import { clipGradNorm } from './clip';
import { LrScheduler, type ScheduleName, schedule } from './schedules';
import { SGD, SGD_DEFAULTS, type SGDHyper } from './sgd';
import {
  AWKWARD_SHAPES,
  inCi,
  makeParams,
  maxRelError,
  pyArrays,
  pyTensors,
  pythonEnv,
  readParams,
  runtimesUnderTest,
  seededArrays,
  setGrads,
  torch,
} from './test-support';

const py = pythonEnv();
if (!py.ok && !inCi) console.warn(`torch interop tests skipped: python3 with torch is not available (${py.reason})`);

const STEPS = 10;
/**
 * |kvant - torch| <= 1e-6 · max(|torch|, rms of the tensor), element by element. The floor at the
 * tensor's RMS is there because torch's CPU kernels fuse some multiply-adds (add with alpha, lerp)
 * where kvant's spec rounds twice: the two differ by an ulp of the operands, which is a large
 * relative error only for an element that cancels to near zero.
 */
const TOL = 1e-6;

/** Gradients of each step, seeded; a few exact zeros and one large value on the way. */
function gradSteps(seed: number): Record<string, Float32Array>[] {
  return Array.from({ length: STEPS }, (_, s) => {
    const g = seededArrays(AWKWARD_SHAPES, seed + s, 0.1);
    g['w.large'][5] = 0;
    g['w.matrix'][3] = s === 4 ? 25 : g['w.matrix'][3];
    return g;
  });
}

/** Largest relative error over every named tensor, with the place it occurs. */
function worst(got: Record<string, Float32Array>, want: Record<string, number[]>): { rel: number; where: string } {
  let rel = 0;
  let where = '';
  for (const name of Object.keys(want)) {
    const w = want[name];
    const rms = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / Math.max(1, w.length));
    const e = maxRelError(got[name], w, rms || 1e-30);
    if (e.rel >= rel) [rel, where] = [e.rel, `${name}[${e.index}]`];
  }
  return { rel, where };
}

const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(`torch interop (max |kvant - torch| / max(|torch|, rms of the tensor)):\n  ${report.join('\n  ')}`);
});

const runtimes = await runtimesUnderTest();

// ---------------------------------------------------------------------------------------------
// The cases, as data: the same seeded inputs go to kvant and (in one batch, one Python process) to torch.

const ADAMW_HYPER = { lr: 1e-2, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.1 };
const ADAMW_INIT = seededArrays(AWKWARD_SHAPES, 1);
const ADAMW_GRADS = gradSteps(100);

const SGD_CASES: [string, Partial<SGDHyper>][] = [
  ['plain, weight decay', { lr: 0.05, weightDecay: 0.05 }],
  ['momentum, dampening, weight decay', { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }],
  ['momentum, no dampening', { lr: 0.05, momentum: 0.8 }],
  ['nesterov, weight decay', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.02 }],
];
const SGD_INIT = seededArrays(AWKWARD_SHAPES, 2);
const SGD_GRADS = gradSteps(200);

const CLIP_CASES: [string, number][] = [
  ['clipping', 1.0],
  ['below the max norm, no clipping', 1e4],
];
const CLIP_GRADS = seededArrays(AWKWARD_SHAPES, 3);

const SCHEDULE_CASES = [
  { name: 'constant', num_warmup_steps: 0, num_training_steps: 20, steps: 25 },
  { name: 'constant_with_warmup', num_warmup_steps: 4, num_training_steps: 20, steps: 25 },
  { name: 'linear', num_warmup_steps: 3, num_training_steps: 20, steps: 25 },
  { name: 'linear', num_warmup_steps: 0, num_training_steps: 7, steps: 10 },
  { name: 'cosine', num_warmup_steps: 5, num_training_steps: 30, steps: 35 },
  { name: 'cosine', num_warmup_steps: 0, num_training_steps: 1, steps: 3 },
] as const;

interface OptimizerAnswer {
  params: Record<string, number[]>;
  exp_avg?: Record<string, number[]>;
  exp_avg_sq?: Record<string, number[]>;
  momentum_buffer?: Record<string, number[]>;
}
interface ClipAnswer {
  total_norm: number;
  grads: Record<string, number[]>;
}

/** torch's answers to every case, by key (filled in beforeAll). */
const answers = new Map<string, unknown>();

function torchRequests(): [string, Record<string, unknown>][] {
  const h = (x: Partial<SGDHyper>) => ({ ...SGD_DEFAULTS, ...x });
  return [
    [
      'adamw',
      {
        op: 'adamw',
        params: pyTensors(AWKWARD_SHAPES, ADAMW_INIT),
        grads: ADAMW_GRADS.map(pyArrays),
        lr: ADAMW_HYPER.lr,
        betas: ADAMW_HYPER.betas,
        eps: ADAMW_HYPER.eps,
        weight_decay: ADAMW_HYPER.weightDecay,
      },
    ],
    ...SGD_CASES.map(([label, x]): [string, Record<string, unknown>] => [
      `sgd ${label}`,
      {
        op: 'sgd',
        params: pyTensors(AWKWARD_SHAPES, SGD_INIT),
        grads: SGD_GRADS.map(pyArrays),
        lr: h(x).lr,
        momentum: h(x).momentum,
        dampening: h(x).dampening,
        weight_decay: h(x).weightDecay,
        nesterov: h(x).nesterov,
      },
    ]),
    ...CLIP_CASES.map(([label, maxNorm]): [string, Record<string, unknown>] => [`clip ${label}`, { op: 'clip', grads: pyTensors(AWKWARD_SHAPES, CLIP_GRADS), max_norm: maxNorm }]),
    ...(py.ok && py.transformers ? [['schedules', { op: 'schedules', cases: SCHEDULE_CASES }] as [string, Record<string, unknown>]] : []),
  ];
}

describe.skipIf(!py.ok && !inCi)('interop with PyTorch', () => {
  beforeAll(() => {
    if (!py.ok) throw new Error(`CI requires python3 with torch for the optimizer interop tests: ${py.reason}`);
    const requests = torchRequests();
    const got = torch<{ answers: unknown[] }>({ op: 'batch', requests: requests.map(([, r]) => r) }).answers;
    requests.forEach(([key], i) => {
      answers.set(key, got[i]);
    });
  });

  describe.each(runtimes)('on $name', ({ name: rtName, make }) => {
    it(`AdamW over ${STEPS} steps matches torch.optim.AdamW within 1e-6 relative`, async () => {
      const rt = await make();
      const params = makeParams(rt, AWKWARD_SHAPES, ADAMW_INIT);
      const opt = new AdamW(rt, params, ADAMW_HYPER);
      for (const g of ADAMW_GRADS) {
        setGrads(rt, params, g);
        opt.step();
      }
      const got = await readParams(params);
      const m: Record<string, Float32Array> = {};
      const v: Record<string, Float32Array> = {};
      for (const p of params) ({ m: m[p.name], v: v[p.name] } = await opt.moments(p.name));
      const want = answers.get('adamw') as OptimizerAnswer;
      const ep = worst(got, want.params);
      const em = worst(m, want.exp_avg!);
      const ev = worst(v, want.exp_avg_sq!);
      report.push(`${rtName} AdamW: params ${ep.rel.toExponential(2)} (${ep.where}), exp_avg ${em.rel.toExponential(2)} (${em.where}), exp_avg_sq ${ev.rel.toExponential(2)} (${ev.where})`);
      expect(ep.rel, `params at ${ep.where}`).toBeLessThanOrEqual(TOL);
      expect(em.rel, `exp_avg at ${em.where}`).toBeLessThanOrEqual(TOL);
      expect(ev.rel, `exp_avg_sq at ${ev.where}`).toBeLessThanOrEqual(TOL);
      opt.dispose();
      rt.dispose();
    });

    it.each(SGD_CASES)('SGD (%s) matches torch.optim.SGD within 1e-6 relative', async (label, hyper) => {
      const rt = await make();
      const params = makeParams(rt, AWKWARD_SHAPES, SGD_INIT);
      const opt = new SGD(rt, params, hyper);
      for (const g of SGD_GRADS) {
        setGrads(rt, params, g);
        opt.step();
      }
      const got = await readParams(params);
      const want = answers.get(`sgd ${label}`) as OptimizerAnswer;
      const ep = worst(got, want.params);
      let line = `${rtName} SGD (${label}): params ${ep.rel.toExponential(2)} (${ep.where})`;
      expect(ep.rel, `params at ${ep.where}`).toBeLessThanOrEqual(TOL);
      if (want.momentum_buffer) {
        const bufs: Record<string, Float32Array> = {};
        for (const p of params) bufs[p.name] = await downloadF32(opt.stateTensors(p.name).get('momentum_buffer')!);
        const eb = worst(bufs, want.momentum_buffer);
        line += `, momentum_buffer ${eb.rel.toExponential(2)} (${eb.where})`;
        expect(eb.rel, `momentum_buffer at ${eb.where}`).toBeLessThanOrEqual(TOL);
      }
      report.push(line);
      opt.dispose();
      rt.dispose();
    });

    it.each(CLIP_CASES)('clipGradNorm (%s) matches torch.nn.utils.clip_grad_norm_', async (label, maxNorm) => {
      const rt = await make();
      const params = makeParams(rt, AWKWARD_SHAPES, CLIP_GRADS);
      setGrads(rt, params, CLIP_GRADS);
      const total = await clipGradNorm(rt, Object.fromEntries(params.map((p) => [p.name, p.grad])), maxNorm);
      const got: Record<string, Float32Array> = {};
      for (const p of params) got[p.name] = await downloadF32(p.grad);
      const want = answers.get(`clip ${label}`) as ClipAnswer;
      const normRel = Math.abs(total - want.total_norm) / want.total_norm;
      const eg = worst(got, want.grads);
      report.push(`${rtName} clip_grad_norm_ (${label}): total norm ${total} vs ${want.total_norm} (rel ${normRel.toExponential(2)}), grads ${eg.rel.toExponential(2)}`);
      expect(normRel).toBeLessThanOrEqual(TOL);
      expect(eg.rel, `grads at ${eg.where}`).toBeLessThanOrEqual(TOL);
      rt.dispose();
    });
  });

  it("schedules match transformers' get_scheduler (or the formulas, without transformers)", () => {
    const ours = SCHEDULE_CASES.map((c) => {
      const factors: number[] = [];
      let lr = Number.NaN;
      const fake = { setLrFactor: (x: number) => (lr = x) };
      const sched = new LrScheduler(fake, c.name as ScheduleName, { warmupSteps: c.num_warmup_steps, numTrainingSteps: c.num_training_steps });
      for (let s = 0; s < c.steps; s++) {
        factors.push(lr);
        sched.step();
      }
      return factors;
    });
    const fromTransformers = answers.get('schedules') as { factors: number[][] } | undefined;
    // Without transformers: its lr lambdas, written out.
    const want =
      fromTransformers?.factors ??
      SCHEDULE_CASES.map((c) =>
        Array.from({ length: c.steps }, (_, s) => {
          const w = c.num_warmup_steps;
          if (c.name === 'constant') return 1;
          if (s < w) return s / Math.max(1, w);
          if (c.name === 'constant_with_warmup') return 1;
          if (c.name === 'linear') return Math.max(0, (c.num_training_steps - s) / Math.max(1, c.num_training_steps - w));
          const progress = (s - w) / Math.max(1, c.num_training_steps - w);
          return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
        }),
      );
    let maxAbs = 0;
    ours.forEach((f, i) => {
      f.forEach((x, s) => {
        maxAbs = Math.max(maxAbs, Math.abs(x - want[i][s]));
      });
    });
    report.push(`schedules vs ${fromTransformers ? 'transformers.get_scheduler' : 'the formulas'}: max abs difference of the lr factor ${maxAbs.toExponential(2)}`);
    expect(maxAbs).toBeLessThanOrEqual(1e-15);
    // The pure function gives the same numbers as the scheduler object.
    expect(Array.from({ length: 35 }, (_, s) => schedule('cosine', { warmupSteps: 5, numTrainingSteps: 30 })(s))).toEqual(ours[4]);
  });
});
