/**
 * Finite differences for every nn backward (in f64 on the reference) and for linalg.matmul (in f32
 * through the reference Runtime, the path other runtimes will take); the checker itself must fail a
 * backward that is slightly wrong. Also the nn tolerances: every case stays within its `close`
 * bounds when exp and log are a few ulp off (as a runtime's expf/logf are), a 1-position mask error
 * or a wrong scale does not, and sampling picks the same ids.
 */
import { getKernel, type KernelSpec, type Tolerance } from '@kvant/abi';
import { type Arith, F32, ReferenceRuntime, rng, runNn } from '@kvant/reference';
import { describe, expect, it } from 'vitest';
import { CASES, type Case } from './cases/index';
import { checkGradients, type Evaluator, matmulGradProblem, nnGradProblems, referenceF64, runtimeEvaluator } from './fd';
import { caseInputs } from './runner';

describe('finite differences', () => {
  it.each(nnGradProblems().map((p) => [p.name, p] as const))('%s agrees with its forward (f64 reference)', async (_name, problem) => {
    for (const c of await checkGradients(referenceF64, problem)) expect(c.relErr, `${c.problem} d/d${c.input}: ${c.analytic} vs ${c.numeric}`).toBeLessThan(1e-6);
  });

  it('cover every nn backward kernel', () => {
    const covered = new Set(nnGradProblems().map((p) => p.name.split(' ')[0]));
    const backwards = CASES.map((c) => c.kernel).filter((k) => k.startsWith('nn.') && k.endsWith('_backward'));
    for (const k of new Set(backwards)) expect(covered.has(k), k).toBe(true);
  });

  it('linalg.matmul is its own backward (f64 reference, and f32 through the reference Runtime)', async () => {
    for (const c of await checkGradients(referenceF64, matmulGradProblem())) expect(c.relErr).toBeLessThan(1e-9);
    const rt = new ReferenceRuntime();
    for (const c of await checkGradients(runtimeEvaluator(rt), matmulGradProblem(), { eps: 1e-2 })) expect(c.relErr, `${c.input}`).toBeLessThan(1e-4);
    expect(rt.liveBuffers).toBe(0);
  });

  it('fail a backward that is slightly wrong', async () => {
    // One element of every gradient off by 1e-3 (a dropped or extra term is far larger).
    const perturbed: Evaluator = {
      name: 'perturbed',
      async run(kernel, params, inputs) {
        const out = await referenceF64.run(kernel, params, inputs);
        if (kernel.endsWith('_backward')) for (const g of Object.values(out)) g[g.length >> 1] += 1e-3;
        return out;
      },
    };
    for (const problem of nnGradProblems()) {
      const checks = await checkGradients(perturbed, problem);
      expect(Math.max(...checks.map((c) => c.relErr)), problem.name).toBeGreaterThan(1e-5);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The nn tolerances against a runtime-like exp and log
// ---------------------------------------------------------------------------------------------

/** An Arith whose exp and log are up to `ulps` ulp off at random (f32), as expf/logf may be. */
function sloppy(seed: number, ulps = 3): Arith {
  const r = rng(seed);
  const word = new Float32Array(1);
  const bits = new Int32Array(word.buffer);
  const nudge = (x: number) => {
    if (!Number.isFinite(x) || x === 0) return x;
    word[0] = x;
    bits[0] += Math.floor(r() * (2 * ulps + 1)) - ulps;
    return Number.isFinite(word[0]) ? word[0] : x;
  };
  return { ...F32, exp: (x) => nudge(F32.exp(x)), log: (x) => nudge(F32.log(x)) };
}

/** Run a case's reference in an arithmetic; returns the written bindings as floats. */
function runCase(c: Case, A: Arith, params = c.params, patch: Record<string, Uint8Array> = {}): Record<string, Float32Array> {
  const spec = getKernel(c.kernel);
  const inputs = { ...caseInputs(spec, c), ...patch };
  const bufs: Record<string, Uint8Array> = {};
  for (const b of spec.bindings) {
    const len = Math.ceil(((b.dtype === 'f32' || b.dtype === 'i32' || b.dtype === 'u32' ? 4 : 1) * elements(spec, b.name, params)) / 4) * 4;
    const buf = new Uint8Array(len);
    if (inputs[b.name] && b.access !== 'write') buf.set(inputs[b.name]);
    bufs[b.name] = buf;
  }
  runNn(c.kernel, params, bufs, A);
  const out: Record<string, Float32Array> = {};
  for (const name of Object.keys(spec.tolerance)) out[name] = new Float32Array(bufs[name].buffer);
  return out;
}

function elements(spec: KernelSpec, name: string, params: Case['params']): number {
  const b = spec.bindings.find((x) => x.name === name)!;
  return b.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : d in spec.derived ? spec.derived[d](params) : params[d]), 1);
}

/** The largest error as a fraction of the close bound (> 1: outside tolerance). */
function worst(tol: Tolerance, got: Float32Array, want: Float32Array): number {
  if (tol.kind !== 'close') throw new Error('close tolerances only');
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    const ratio = Math.abs(got[i] - want[i]) / (tol.maxAbs + tol.maxRel * Math.abs(want[i]));
    w = Math.max(w, Number.isNaN(ratio) ? Number.POSITIVE_INFINITY : ratio);
  }
  return w;
}

const closeCases = CASES.filter((c) => Object.values(getKernel(c.kernel).tolerance).some((t) => t.kind === 'close'));

describe('nn tolerances', () => {
  it('hold for every case when exp and log are up to 3 ulp off (three draws)', () => {
    const report: string[] = [];
    for (const c of closeCases) {
      const spec = getKernel(c.kernel);
      const want = runCase(c, F32);
      for (let s = 0; s < 3; s++) {
        const got = runCase(c, sloppy(c.seed * 7 + s));
        for (const [name, tol] of Object.entries(spec.tolerance)) {
          if (tol.kind !== 'close') continue;
          const w = worst(tol, got[name], want[name]);
          if (s === 0) report.push(`${c.kernel} [${c.name}] ${name}: ${w.toFixed(3)} of the bound`);
          expect(w, `${c.kernel} [${c.name}] ${name}`).toBeLessThanOrEqual(1);
        }
      }
    }
    console.log(report.join('\n'));
  });

  const attentionCases = CASES.filter((c) => c.kernel === 'nn.attention' && c.params.t > 1);
  it('catch a 1-position mask error and a wrong scale in attention', () => {
    const tol = getKernel('nn.attention').tolerance.o;
    let windows = 0;
    let documents = 0;
    for (const c of attentionCases) {
      const want = runCase(c, F32);
      // The scale of 1/D instead of 1/sqrt(D).
      expect(worst(tol, runCase(c, F32, { ...c.params, scale: Math.fround(1 / c.params.d) }).o, want.o), c.name).toBeGreaterThan(10);
      if (c.params.window > 0) {
        windows++;
        expect(worst(tol, runCase(c, F32, { ...c.params, window: c.params.window + 1 }).o, want.o), c.name).toBeGreaterThan(10);
      }
      const pos = new Int32Array(caseInputs(getKernel(c.kernel), c).pos.buffer.slice(0));
      if (pos.some((p, i) => p === 0 && i % c.params.t > 0)) {
        documents++;
        // Each document after the first starts one token early: its first tokens see one key of the previous one.
        const shifted = Int32Array.from(pos);
        for (let row = 0; row * c.params.t < pos.length; row++) {
          let doc = -1;
          for (let j = 0; j < c.params.t; j++) {
            const i = row * c.params.t + j;
            if (pos[i] === 0) doc++;
            if (doc > 0 && pos[i] > 0) shifted[i] = pos[i] + 1;
          }
        }
        expect(worst(tol, runCase(c, F32, c.params, { pos: new Uint8Array(shifted.buffer) }).o, want.o), c.name).toBeGreaterThan(10);
      }
    }
    expect(windows).toBeGreaterThanOrEqual(2);
    expect(documents).toBeGreaterThanOrEqual(2);
  });

  it('give the same samples when exp is up to 3 ulp off (the cases keep u away from the boundaries)', () => {
    for (const c of CASES.filter((x) => x.kernel === 'nn.sample')) {
      const want = new Int32Array(runCase(c, F32).ids.buffer);
      for (let s = 0; s < 5; s++) expect(Array.from(new Int32Array(runCase(c, sloppy(c.seed * 13 + s)).ids.buffer)), c.name).toEqual(Array.from(want));
    }
  });
});
