/**
 * Finite-difference checks of backward kernels: for a forward F and the backward that claims its
 * gradient, L(x) = Σ ⟨F(x)_o, w_o⟩ over F's outputs o with random weights w, and for every input x
 * that has a gradient, a random direction u: the backward's ⟨dL/dx, u⟩ must match the central
 * difference (L(x + εu) − L(x − εu)) / 2ε. Kernels run through an `Evaluator`: the reference in f64
 * (`referenceF64`: the same reference code with no rounding, so the difference is accurate to
 * ~1e-9 and a tight bound catches any wrong term) or any `Runtime` in f32 (`runtimeEvaluator`, a
 * looser bound), so the same problems can later run on wasm, webgpu or cuda.
 */
import { bindingElements, getKernel, type Params, type Runtime, type Tensor } from '@kvant/abi';
import { F64, nnArrayKernels, randn, rng, ropeInvFreq, ropeTables } from '@kvant/reference';

/** Host arrays by binding name: floats in f64, ids, labels and positions in i32. */
export type Arrays = Record<string, Float64Array | Int32Array>;

/** Runs one kernel on host arrays; returns every binding it writes (scratch aside), as f64. */
export interface Evaluator {
  readonly name: string;
  run(kernel: string, params: Params, inputs: Arrays): Promise<Record<string, Float64Array>>;
}

/** f64 matmul for the linalg.matmul problem (batch 1, beta 0): C = alpha · op(A) · op(B). */
function matmulF64(p: Params, a: Arrays): Record<string, Float64Array> {
  const A = a.a;
  const B = a.b;
  const c = new Float64Array(p.m * p.n);
  for (let i = 0; i < p.m; i++) {
    for (let j = 0; j < p.n; j++) {
      let acc = 0;
      for (let kk = 0; kk < p.k; kk++) acc += (p.trans_a ? A[kk * p.m + i] : A[i * p.k + kk]) * (p.trans_b ? B[j * p.k + kk] : B[kk * p.n + j]);
      c[i * p.n + j] = p.alpha * acc;
    }
  }
  return { c };
}

/** The reference kernels in f64 (nn family, and linalg.matmul with batch 1 and beta 0). */
export const referenceF64: Evaluator = {
  name: 'reference-f64',
  async run(kernel, params, inputs) {
    if (kernel === 'linalg.matmul') return matmulF64(params, inputs);
    const run = nnArrayKernels[kernel];
    if (!run) throw new Error(`referenceF64: no f64 reference for ${kernel}`);
    const spec = getKernel(kernel);
    const arrays: Arrays = {};
    const out: Record<string, Float64Array> = {};
    for (const b of spec.bindings) {
      if (b.scratch) continue;
      const count = bindingElements(spec, b, params);
      if (b.access === 'read') arrays[b.name] = need(inputs, kernel, b.name);
      else {
        const arr = b.access === 'readwrite' ? Float64Array.from(need(inputs, kernel, b.name)) : new Float64Array(count);
        arrays[b.name] = arr;
        out[b.name] = arr;
      }
    }
    run(params, arrays, F64);
    return out;
  },
};

function need(inputs: Arrays, kernel: string, name: string): Float64Array | Int32Array {
  const a = inputs[name];
  if (!a) throw new Error(`${kernel}: no input ${name}`);
  return a;
}

/** Any runtime, in its own arithmetic (f32): inputs are rounded to the binding's dtype. */
export function runtimeEvaluator(rt: Runtime): Evaluator {
  return {
    name: rt.name,
    async run(kernel, params, inputs) {
      const spec = getKernel(kernel);
      const tensors: Record<string, Tensor> = {};
      try {
        for (const b of spec.bindings) {
          const count = bindingElements(spec, b, params);
          const t = rt.alloc(b.dtype, [count]);
          tensors[b.name] = t;
          if (b.access === 'write' || b.scratch) continue;
          const data = need(inputs, kernel, b.name);
          rt.write(t, b.dtype === 'i32' ? Int32Array.from(data) : Float32Array.from(data));
        }
        rt.dispatch(kernel, tensors, params);
        await rt.flush();
        const out: Record<string, Float64Array> = {};
        for (const b of spec.bindings) {
          if (b.access === 'read' || b.scratch) continue;
          const bytes = await rt.read(tensors[b.name]);
          out[b.name] = Float64Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bindingElements(spec, b, params)));
        }
        return out;
      } finally {
        for (const t of Object.values(tensors)) rt.free(t);
      }
    },
  };
}

/** A forward, the gradient its backward claims, and the inputs to check at. */
export interface GradProblem {
  readonly name: string;
  readonly forward: { readonly kernel: string; readonly params: Params };
  /** Every input of the forward (floats perturbed only where named in `wrt`). */
  readonly inputs: Arrays;
  /** The forward inputs that get a gradient. */
  readonly wrt: readonly string[];
  /** The forward outputs that enter L. */
  readonly outputs: readonly string[];
  /**
   * The gradients of L with respect to each `wrt` input, through the backward kernel(s), given
   * the forward's inputs and outputs and the upstream gradient of each output (its weights w).
   */
  readonly backward: (ev: Evaluator, inputs: Arrays, outputs: Record<string, Float64Array>, upstream: Record<string, Float64Array>) => Promise<Record<string, Float64Array>>;
}

export interface DirectionalCheck {
  readonly problem: string;
  readonly input: string;
  /** ⟨dL/dx, u⟩ from the backward. */
  readonly analytic: number;
  /** (L(x + εu) − L(x − εu)) / 2ε. */
  readonly numeric: number;
  /** |analytic − numeric| / max(|analytic|, |numeric|, 1e-12). */
  readonly relErr: number;
}

export interface FdOptions {
  /** Step, relative to the RMS of the perturbed input (default 1e-5: right for f64). */
  readonly eps?: number;
  readonly seed?: number;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Check every `wrt` input of a problem along one random direction each. */
export async function checkGradients(ev: Evaluator, problem: GradProblem, options: FdOptions = {}): Promise<DirectionalCheck[]> {
  const seed = options.seed ?? 1;
  const epsRel = options.eps ?? 1e-5;
  const { kernel, params } = problem.forward;
  const out0 = await ev.run(kernel, params, problem.inputs);
  const weights: Record<string, Float64Array> = {};
  problem.outputs.forEach((o, i) => {
    weights[o] = Float64Array.from(randn(out0[o].length, seed * 101 + i));
  });
  const loss = (out: Record<string, Float64Array>) => problem.outputs.reduce((s, o) => s + dot(out[o], weights[o]), 0);
  const grads = await problem.backward(ev, problem.inputs, out0, weights);
  const checks: DirectionalCheck[] = [];
  for (const [i, name] of problem.wrt.entries()) {
    const x = problem.inputs[name];
    const u = Float64Array.from(randn(x.length, seed * 211 + i));
    const rms = Math.sqrt(dot(x, x) / x.length) || 1;
    const eps = epsRel * rms;
    const at = async (sign: number) => {
      const moved = Float64Array.from(x, (xi, j) => xi + sign * eps * u[j]);
      return loss(await ev.run(kernel, params, { ...problem.inputs, [name]: moved }));
    };
    const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
    const g = grads[name];
    if (!g) throw new Error(`${problem.name}: the backward gave no gradient for ${name}`);
    const analytic = dot(g, u);
    checks.push({ problem: problem.name, input: name, analytic, numeric, relErr: Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), 1e-12) });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// The problems: every nn backward, and linalg.matmul as its own backward
// ---------------------------------------------------------------------------------------------

const normal = (n: number, seed: number, scale = 1) => Float64Array.from(randn(n, seed, scale));
const intsIn = (n: number, lo: number, hi: number, seed: number) => {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
};
const positions = (t: number, docs: readonly number[], rows = 1) => {
  const row: number[] = [];
  for (const len of docs) for (let j = 0; j < len; j++) row.push(j);
  if (row.length !== t) throw new Error('positions: documents do not fill t');
  return Int32Array.from({ length: rows * t }, (_, i) => row[i % t]);
};

/** One backward kernel: its inputs from the forward's, its outputs mapped back to the forward's inputs. */
function viaKernel(kernel: string, params: Params, bindings: (x: Arrays, y: Record<string, Float64Array>, w: Record<string, Float64Array>) => Arrays, grads: Record<string, string>): GradProblem['backward'] {
  return async (ev, x, y, w) => {
    const out = await ev.run(kernel, params, bindings(x, y, w));
    return Object.fromEntries(Object.entries(grads).map(([input, output]) => [input, out[output]]));
  };
}

/** The nn backward problems (small shapes with every mask feature: documents, window, GQA). */
export function nnGradProblems(seed = 1): GradProblem[] {
  const problems: GradProblem[] = [];
  {
    const params = { n: 13, c: 5, v: 7 };
    problems.push({
      name: 'nn.embedding_backward',
      forward: { kernel: 'nn.embedding', params },
      inputs: { ids: intsIn(13, -1, 7, seed), table: normal(35, seed + 1) },
      wrt: ['table'],
      outputs: ['out'],
      backward: viaKernel('nn.embedding_backward', { ...params, accumulate: 0 }, (x, _y, w) => ({ ids: x.ids, dout: w.out, dtable: new Float64Array(35) }), { table: 'dtable' }),
    });
  }
  {
    const params = { n: 5, c: 37, eps: 1e-5 };
    problems.push({
      name: 'nn.rmsnorm_backward',
      forward: { kernel: 'nn.rmsnorm', params },
      inputs: { x: normal(5 * 37, seed + 2), w: normal(37, seed + 3) },
      wrt: ['x', 'w'],
      outputs: ['y'],
      backward: viaKernel('nn.rmsnorm_backward', { n: 5, c: 37, accumulate: 0 }, (x, y, w) => ({ x: x.x, w: x.w, rstd: y.rstd, dy: w.y, dw: new Float64Array(37) }), { x: 'dx', w: 'dw' }),
    });
  }
  {
    const params = { n: 9, h: 2, d: 8, max_pos: 12 };
    const { cos, sin } = ropeTables(ropeInvFreq({ base: 10000, dim: 8 }), 12);
    problems.push({
      name: 'nn.rope_backward',
      forward: { kernel: 'nn.rope', params },
      inputs: { x: normal(9 * 16, seed + 4), pos: intsIn(9, -1, 12, seed + 5), cos: Float64Array.from(cos), sin: Float64Array.from(sin) },
      wrt: ['x'],
      outputs: ['y'],
      backward: viaKernel('nn.rope_backward', params, (x, _y, w) => ({ dy: w.y, pos: x.pos, cos: x.cos, sin: x.sin }), { x: 'dx' }),
    });
  }
  const attentionShapes: [string, number, number, number, number, number, number, number[]][] = [
    // label, b, t, h, h_kv, d, window, documents
    ['GQA 2, 3 documents', 1, 13, 4, 2, 8, 0, [4, 6, 3]],
    ['GQA 4, window 5', 2, 11, 4, 1, 5, 5, [11]],
    ['MHA, 70 keys (two tiles)', 1, 70, 1, 1, 4, 0, [70]],
  ];
  for (const [label, b, t, h, h_kv, d, window, docs] of attentionShapes) {
    const params = { b, t, h, h_kv, d, window, scale: Math.fround(1 / Math.sqrt(d)) };
    problems.push({
      name: `nn.attention_backward ${label}`,
      forward: { kernel: 'nn.attention', params },
      inputs: { q: normal(b * t * h * d, seed + 6), k: normal(b * t * h_kv * d, seed + 7), v: normal(b * t * h_kv * d, seed + 8), pos: positions(t, docs, b) },
      wrt: ['q', 'k', 'v'],
      outputs: ['o'],
      backward: viaKernel('nn.attention_backward', params, (x, y, w) => ({ ...x, o: y.o, lse: y.lse, dout: w.o }), { q: 'dq', k: 'dk', v: 'dv' }),
    });
  }
  {
    const params = { n: 3, inter: 17 };
    problems.push({
      name: 'nn.swiglu_backward',
      forward: { kernel: 'nn.swiglu', params },
      inputs: { gate: normal(51, seed + 9, 3), up: normal(51, seed + 10) },
      wrt: ['gate', 'up'],
      outputs: ['out'],
      backward: viaKernel('nn.swiglu_backward', params, (x, _y, w) => ({ gate: x.gate, up: x.up, dout: w.out }), { gate: 'dgate', up: 'dup' }),
    });
  }
  {
    const params = { n: 6, v: 4100, ignore_index: -100 };
    const labels = intsIn(6, 0, 4099, seed + 11);
    labels[2] = -100;
    problems.push({
      name: 'nn.cross_entropy_backward',
      forward: { kernel: 'nn.cross_entropy', params },
      inputs: { logits: normal(6 * 4100, seed + 12, 2), labels },
      wrt: ['logits'],
      outputs: ['loss'],
      backward: viaKernel('nn.cross_entropy_backward', params, (x, y, w) => ({ dlogits: x.logits, labels: x.labels, lse: y.lse, dloss: w.loss }), { logits: 'dlogits' }),
    });
  }
  return problems;
}

/** linalg.matmul as its own backward: C = A·Bᵀ (a linear layer), dA = dC·B, dB = dCᵀ·A. */
export function matmulGradProblem(seed = 1): GradProblem {
  const [m, n, k] = [7, 5, 13];
  const base = { batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, alpha: 1, beta: 0 };
  return {
    name: 'linalg.matmul (linear layer)',
    forward: { kernel: 'linalg.matmul', params: { ...base, m, n, k, trans_a: 0, trans_b: 1 } },
    inputs: { a: normal(m * k, seed + 20), b: normal(n * k, seed + 21), c: new Float64Array(m * n) },
    wrt: ['a', 'b'],
    outputs: ['c'],
    backward: async (ev, x, _y, w) => {
      const da = await ev.run('linalg.matmul', { ...base, m, n: k, k: n, trans_a: 0, trans_b: 0 }, { a: w.c, b: x.b, c: new Float64Array(m * k) });
      const db = await ev.run('linalg.matmul', { ...base, m: n, n: k, k: m, trans_a: 1, trans_b: 0 }, { a: w.c, b: x.a, c: new Float64Array(n * k) });
      return { a: da.c, b: db.c };
    },
  };
}
