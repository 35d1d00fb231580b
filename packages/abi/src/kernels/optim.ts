/**
 * The `optim` family: one optimizer step over a flat parameter tensor. `optim.adamw_step` is
 * PyTorch's AdamW (torch.optim.AdamW, single-tensor path) with f32 states; `optim.adamw8bit_step`
 * is bitsandbytes' 8-bit blockwise AdamW (blocks of 256, dynamic-map states, §3.2 of the
 * bitsandbytes notes).
 *
 * Scalars that depend on the step number t (bias corrections, step size) and on lr (the decay
 * factor) are computed by the caller in f64 and rounded once to f32, so no kernel needs pow or
 * per-step host arithmetic of its own, and every runtime receives the same bits.
 *
 * Numerics as in linalg.ts: `f(...)` is one f32 operation rounded to nearest even, no fma, the
 * order as written; sqrt and division are IEEE (correctly rounded). On a runtime that declares a
 * kernel approximate (WGSL: division 2.5 ulp, sqrt inherited from 1/inverseSqrt, about 4.5 ulp)
 * only the outputs that depend on a division or a square root get the `approximate` bound.
 */
import { defineKernel, type Params, type Precondition, requires } from '../spec';
import { AMBIGUOUS_BUDGET, MIDPOINT_EPS } from './quant';

const u32 = (name: string, doc: string) => ({ name, type: 'u32', doc }) as const;
const f32 = (name: string, doc: string) => ({ name, type: 'f32', doc }) as const;

const allFinite = (names: readonly string[]): Precondition[] => names.map((n) => requires.finite(n));

/**
 * The bound on p for a runtime with WGSL's division and square root, derived in units of
 * e = 2^-23 (the largest relative size of one ulp): sqrt(v) is within 4.5e, the division by
 * bias_c2_sqrt adds 2.5e, adding eps (exact) keeps the relative error and rounds (1e): denom
 * within 8e; the update u = f(step_size*m)/denom within 8e + 2.5e + 0.5e = 11e of |u|; the final
 * subtraction (and, in the 8-bit kernel, the decay multiply) may round the other way: 1-2 ulp of
 * the new p. So |got - want| <= 11e*|u| + 2e*|p|. The absolute part holds for |u| <= 2^-5: with
 * Adam states built from the gradients |m^|/sqrt(v^) <= 7.3 (betas 0.9, 0.999), so lr <= 4e-3;
 * every conformance case stays inside it.
 */
export const ADAMW_APPROXIMATE_P = { kind: 'close', maxAbs: 12 * 2 ** -23 * 2 ** -5, maxRel: 4 * 2 ** -23 } as const;

const pBinding = { name: 'p', dtype: 'f32', shape: ['n'], access: 'readwrite', doc: 'parameters, updated in place' } as const;
const gBinding = { name: 'g', dtype: 'f32', shape: ['n'], access: 'read', doc: 'gradients' } as const;

export const adamwStep = defineKernel({
  id: 'optim.adamw_step',
  summary: "One step of PyTorch's AdamW (decoupled weight decay, bias correction, eps outside the sqrt) with f32 states.",
  math: [
    'Per element i < n, in this order (torch.optim.AdamW, foreach=False, _single_tensor_adam, op for op):',
    '  p1 = f(p * decay)                                         param.mul_(1 - lr*weight_decay)',
    '  d = f(g - m); w = one_minus_beta1',
    '  m1 = |w| < 0.5 ? f(m + f(w * d)) : f(g - f(d * f(1 - w)))   exp_avg.lerp_(grad, 1 - beta1) (torch\'s lerp)',
    '  v1 = f(f(v * beta2) + f(f(one_minus_beta2 * g) * g))      exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)',
    '  denom = f(f(f(sqrt(v1)) / bias_c2_sqrt) + eps)            (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)',
    '  p2 = f(p1 - f(f(step_size * m1) / denom))                param.addcdiv_(exp_avg, denom, value=-step_size)',
    '  write p = p2, m = m1, v = v1.',
    'Caller (f64, then rounded once to f32): decay = 1 - lr*weight_decay; one_minus_beta1 = 1 - beta1;',
    '  one_minus_beta2 = 1 - beta2; step_size = lr / (1 - beta1^t); bias_c2_sqrt = sqrt(1 - beta2^t); t >= 1.',
    'decay == 1 (no weight decay) is the identity, so the multiply is always done. torch\'s vectorized CPU lerp uses',
    'an fma where this spec rounds twice, so torch and kvant may differ by an ulp of m per step; nothing else differs.',
    'Non-finite values propagate (no check here: the trainer checks gradients before the step).',
  ].join('\n'),
  params: [
    u32('n', 'number of elements'),
    f32('beta2', 'decay of the second moment'),
    f32('one_minus_beta1', 'lerp weight of the first moment: f32(1 - beta1) computed in f64'),
    f32('one_minus_beta2', 'f32(1 - beta2) computed in f64'),
    f32('eps', 'added to the bias-corrected sqrt(v)'),
    f32('decay', 'f32(1 - lr * weight_decay) computed in f64; 1 for no weight decay'),
    f32('step_size', 'f32(lr / (1 - beta1^t)) computed in f64'),
    f32('bias_c2_sqrt', 'f32(sqrt(1 - beta2^t)) computed in f64'),
  ],
  derived: {},
  preconditions: [
    requires.positive('n'),
    ...allFinite(['beta2', 'one_minus_beta1', 'one_minus_beta2', 'eps', 'decay', 'step_size']),
    { param: 'bias_c2_sqrt', requirement: 'bias_c2_sqrt is finite and > 0', check: (p) => Number.isFinite(p.bias_c2_sqrt) && p.bias_c2_sqrt > 0 },
  ],
  bindings: [
    pBinding,
    gBinding,
    { name: 'm', dtype: 'f32', shape: ['n'], access: 'readwrite', doc: 'first moment (exp_avg)' },
    { name: 'v', dtype: 'f32', shape: ['n'], access: 'readwrite', doc: 'second moment (exp_avg_sq)' },
  ],
  tolerance: { p: { kind: 'exact' }, m: { kind: 'exact' }, v: { kind: 'exact' } },
  // m and v use no division or square root: exact everywhere. p does.
  approximate: { p: ADAMW_APPROXIMATE_P },
  cost: (p) => ({ flops: 16 * p.n, bytes: 28 * p.n }),
});

/** Elements per block of the 8-bit optimizer states (bitsandbytes >= 0.44). */
export const ADAMW8BIT_BLOCK = 256;

const blocks = (p: Params) => Math.ceil(p.n / ADAMW8BIT_BLOCK);
const codesTol = { kind: 'codes', midpointEps: MIDPOINT_EPS, packing: 'byte', ambiguousBudget: AMBIGUOUS_BUDGET } as const;

export const adamw8bitStep = defineKernel({
  id: 'optim.adamw8bit_step',
  summary: "One step of bitsandbytes' 8-bit blockwise AdamW: dynamic-map states in blocks of 256, requantized with the new block absmax.",
  math: [
    'Block b = i / 256 (the last block may be shorter; only its n - 256b valid elements take part). Per element i:',
    '  g finite:   m0 = f(code_signed[m_q[i]] * m_absmax[b]);  v0 = f(code_unsigned[v_q[i]] * v_absmax[b])',
    '              m1 = f(f(beta1 * m0) + f(one_minus_beta1 * g))',
    '              v1 = f(f(beta2 * v0) + f(f(one_minus_beta2 * g) * g))',
    '  g NaN/Inf:  m1 = +0.0, v1 = +0.0 (the element\'s states are zeroed)',
    'Per block: am = max |m1|, av = max |v1| over its valid elements (start 0; a NaN is ignored, as fmaxf);',
    '  write m_absmax[b] = am, v_absmax[b] = av.',
    'Parameter, g finite:  denom = f(f(sqrt(v1)) + eps_hat); p1 = f(p - f(step_size * f(m1 / denom))); p = f(p1 * decay)',
    '  (bitsandbytes: the step first, then the decoupled decay). g NaN/Inf: p is left unchanged (no decay either).',
    'Requantize (division, then the nearest code; a midpoint goes to the lower code, NaN gives code 0):',
    '  sm = am > 0 ? f(m1 / am) : 0;  m_q[i] = nearest(code_signed, sm);',
    '  sign fix: if signbit(code_signed[m_q[i]]) != signbit(m1): m_q[i] += (m1 > 0 ? 1 : -1)',
    '    (in effect a negative or -0 m1 whose nearest code is 0.0, index 127, takes index 126, the smallest negative code);',
    '  sv = av > 0 ? f(v1 / av) : 0;  v_q[i] = nearest(code_unsigned, sv).',
    '  nearest(code, s) = the number of j in [0, 254] with s > f(f(code[j] + code[j+1]) * 0.5), as quant.blockwise8_quantize.',
    'Caller (f64, then rounded once to f32): one_minus_beta1 = 1 - beta1; one_minus_beta2 = 1 - beta2;',
    '  step_size = lr * sqrt(1 - beta2^t) / (1 - beta1^t); eps_hat = eps * sqrt(1 - beta2^t); decay = 1 - lr*weight_decay.',
    '  (bitsandbytes computes these in f32 in the kernel with powf; the algebra is the same.)',
    'Tensors under 4096 elements keep 32-bit states in AdamW8bit (optim.adamw_step); this kernel takes any n >= 1.',
  ].join('\n'),
  params: [
    u32('n', 'number of elements'),
    f32('beta1', 'decay of the first moment'),
    f32('beta2', 'decay of the second moment'),
    f32('one_minus_beta1', 'f32(1 - beta1) computed in f64'),
    f32('one_minus_beta2', 'f32(1 - beta2) computed in f64'),
    f32('eps_hat', 'f32(eps * sqrt(1 - beta2^t)) computed in f64: eps as bitsandbytes applies it'),
    f32('decay', 'f32(1 - lr * weight_decay) computed in f64; 1 for no weight decay'),
    f32('step_size', 'f32(lr * sqrt(1 - beta2^t) / (1 - beta1^t)) computed in f64'),
  ],
  derived: { blocks },
  preconditions: [requires.positive('n'), ...allFinite(['beta1', 'beta2', 'one_minus_beta1', 'one_minus_beta2', 'eps_hat', 'decay', 'step_size'])],
  bindings: [
    pBinding,
    gBinding,
    { name: 'm_q', dtype: 'u8', shape: ['n'], access: 'readwrite', doc: 'first moment: one code of the signed dynamic map per byte' },
    { name: 'v_q', dtype: 'u8', shape: ['n'], access: 'readwrite', doc: 'second moment: one code of the unsigned dynamic map per byte' },
    { name: 'm_absmax', dtype: 'f32', shape: ['blocks'], access: 'readwrite', doc: 'absmax of m per block of 256' },
    { name: 'v_absmax', dtype: 'f32', shape: ['blocks'], access: 'readwrite', doc: 'absmax of v per block of 256' },
    { name: 'code_signed', dtype: 'f32', shape: [256], access: 'read', doc: 'the signed dynamic map (qmap1), sorted ascending' },
    { name: 'code_unsigned', dtype: 'f32', shape: [256], access: 'read', doc: 'the unsigned dynamic map (qmap2), sorted ascending' },
  ],
  tolerance: {
    p: { kind: 'exact' },
    m_q: codesTol,
    v_q: codesTol,
    m_absmax: { kind: 'exact' },
    v_absmax: { kind: 'exact' },
  },
  // m1, v1 and the absmax use no division or sqrt: exact everywhere. p uses both; the codes use a
  // division (m1 / am), so an element whose scaled value the reference finds within MIDPOINT_EPS * |midpoint|
  // of a midpoint may move by one code (at most AMBIGUOUS_BUDGET per case).
  approximate: { p: ADAMW_APPROXIMATE_P },
  cost: (p) => ({ flops: 30 * p.n, bytes: 10 * p.n + 16 * blocks(p) + 2048 }),
});

export const OPTIM_KERNELS = [adamwStep, adamw8bitStep] as const;

/** The hyper-parameters the AdamW kernels' params derive from (PyTorch's names). */
export interface AdamStepHyper {
  readonly lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
}

/** Params of optim.adamw_step at step t (t >= 1) as the caller computes them: in f64, each rounded once to f32. */
export function adamwStepParams(n: number, h: AdamStepHyper, t: number): Params {
  const f = Math.fround;
  const [beta1, beta2] = h.betas;
  return {
    n,
    beta2: f(beta2),
    one_minus_beta1: f(1 - beta1),
    one_minus_beta2: f(1 - beta2),
    eps: f(h.eps),
    decay: f(1 - h.lr * h.weightDecay),
    step_size: f(h.lr / (1 - beta1 ** t)),
    bias_c2_sqrt: f(Math.sqrt(1 - beta2 ** t)),
  };
}

/** Params of optim.adamw8bit_step at step t (bitsandbytes' algebra: in f64, each rounded once to f32). */
export function adamw8bitStepParams(n: number, h: AdamStepHyper, t: number): Params {
  const f = Math.fround;
  const [beta1, beta2] = h.betas;
  const c2 = Math.sqrt(1 - beta2 ** t);
  return {
    n,
    beta1: f(beta1),
    beta2: f(beta2),
    one_minus_beta1: f(1 - beta1),
    one_minus_beta2: f(1 - beta2),
    eps_hat: f(h.eps * c2),
    decay: f(1 - h.lr * h.weightDecay),
    step_size: f((h.lr * c2) / (1 - beta1 ** t)),
  };
}
