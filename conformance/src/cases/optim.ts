/**
 * Cases for the optim family: the first step (zero states, the largest bias correction) and a late
 * one (step 1000), weight decay off and on, gradients with huge and tiny magnitudes side by side,
 * the large-weight branch of torch's lerp (beta1 < 0.5), and for the 8-bit step: sizes 1, 255,
 * 257 and 4097 (a partial last block), states taken from a simulated run and quantized as the
 * optimizer stores them, all-zero blocks (absmax 0), and NaN/Inf gradients inside a block. Every
 * case keeps the update below 2^-5 (lr <= 3e-3), where the approximate bound on p holds.
 */
import { type AdamStepHyper, adamw8bitStepParams, adamwStepParams, type Params } from '@kvant/abi';
import type { Gen } from '../gen';
import type { Case } from './types';

let seed = 7000;
const next = () => seed++;

export interface AdamHyper {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  /** The step number, from 1. */
  readonly t: number;
}

/** Params of optim.adamw_step as the caller computes them (@kvant/abi's adamwStepParams; defaults as torch's). */
export function adamwParams(n: number, h: AdamHyper): Params {
  return adamwStepParams(n, hyper(h), h.t);
}

/** Params of optim.adamw8bit_step as the caller computes them (@kvant/abi's adamw8bitStepParams). */
export function adamw8bitParams(n: number, h: AdamHyper): Params {
  return adamw8bitStepParams(n, hyper(h), h.t);
}

function hyper(h: AdamHyper): AdamStepHyper {
  return { lr: h.lr, betas: [h.beta1 ?? 0.9, h.beta2 ?? 0.999], eps: h.eps ?? 1e-8, weightDecay: h.weightDecay ?? 0 };
}

const ZERO: Gen = { gen: 'const', value: 0 };
const HUGE_AND_TINY: Gen = { gen: 'mixed_scales', scales: [1e-30, 1e-6, 1e-3, 1, 1e3, 1e15] };

function adamw(): Case[] {
  const configs: [number, AdamHyper, Gen, number][] = [
    // n, hyper-parameters, gradient, steps of simulated history for the states (0: zero states)
    [1, { lr: 1e-3, t: 1 }, { gen: 'randn' }, 0],
    [255, { lr: 1e-3, t: 1, weightDecay: 0.01 }, { gen: 'randn' }, 0],
    [257, { lr: 3e-3, t: 1000 }, { gen: 'randn' }, 20],
    [4097, { lr: 1e-3, t: 1000, weightDecay: 0.01 }, { gen: 'randn', std: 1e-2 }, 20],
    [65537, { lr: 2e-4, t: 17, weightDecay: 0.1 }, { gen: 'randn' }, 16],
    [1031, { lr: 1e-3, t: 1 }, HUGE_AND_TINY, 0],
    [1031, { lr: 1e-3, t: 1000, weightDecay: 0.01 }, HUGE_AND_TINY, 20],
    [999, { lr: 1e-3, t: 5, beta1: 0.3, beta2: 0.99 }, { gen: 'randn' }, 4],
    // Zero gradients on zero states: m and v stay +0.
    [1000, { lr: 1e-3, t: 1, weightDecay: 0.01 }, { gen: 'zero_blocks', blocksize: 64, every: 2 }, 0],
  ];
  return configs.map(([n, h, g, steps]) => {
    const stream = next();
    const state = (part: 'm' | 'v'): Gen => (steps === 0 ? ZERO : { gen: 'adam_state', part, stream, steps });
    return {
      kernel: 'optim.adamw_step',
      name: `${g.gen} n=${n} t=${h.t} lr=${h.lr} wd=${h.weightDecay ?? 0}${h.beta1 !== undefined ? ` betas=${h.beta1},${h.beta2}` : ''}`,
      params: adamwParams(n, h),
      inputs: { p: { gen: 'randn' }, g, m: state('m'), v: state('v') },
      seed: stream,
    };
  });
}

function adamw8bit(): Case[] {
  const configs: [number, AdamHyper, Gen, number][] = [
    [1, { lr: 1e-3, t: 1 }, { gen: 'randn' }, 0],
    [255, { lr: 1e-3, t: 10, weightDecay: 0.01 }, { gen: 'randn' }, 9],
    [257, { lr: 3e-3, t: 1000 }, { gen: 'randn' }, 20],
    [4097, { lr: 1e-3, t: 1000, weightDecay: 0.01 }, { gen: 'randn', std: 1e-2 }, 20],
    [4097, { lr: 1e-3, t: 3, weightDecay: 0.01 }, HUGE_AND_TINY, 2],
    [20011, { lr: 2e-4, t: 100 }, { gen: 'randn' }, 30],
    // NaN, +-Inf, +-0 gradients inside blocks: those elements' states are zeroed, p kept.
    [1031, { lr: 1e-3, t: 50, weightDecay: 0.01 }, { gen: 'nonfinite' }, 10],
    [777, { lr: 1e-3, t: 1 }, { gen: 'awkward' }, 0],
    // Zero gradients on zero states: every block's new absmax is 0.
    [600, { lr: 1e-3, t: 1, weightDecay: 0.01 }, ZERO, 0],
    [1000, { lr: 1e-3, t: 1 }, { gen: 'zero_blocks', blocksize: 256, every: 2 }, 0],
  ];
  return configs.map(([n, h, g, steps]) => {
    const stream = next();
    const part = (which: 'm_q' | 'v_q' | 'm_absmax' | 'v_absmax'): Gen => ({ gen: 'adam8_state', part: which, elements: n, stream, steps });
    return {
      kernel: 'optim.adamw8bit_step',
      name: `${g.gen} n=${n} t=${h.t} lr=${h.lr} wd=${h.weightDecay ?? 0} history=${steps}`,
      params: adamw8bitParams(n, h),
      inputs: {
        p: { gen: 'randn' },
        g,
        m_q: part('m_q'),
        v_q: part('v_q'),
        m_absmax: part('m_absmax'),
        v_absmax: part('v_absmax'),
        code_signed: { gen: 'table', table: 'dynamic_signed' },
        code_unsigned: { gen: 'table', table: 'dynamic_unsigned' },
      },
      seed: stream,
    };
  });
}

export const optimCases: Case[] = [...adamw(), ...adamw8bit()];
