/**
 * AdamW with PyTorch's semantics (torch.optim.AdamW, single-tensor path): decoupled weight decay
 * `p·(1 - lr·wd)`, bias-corrected moments, eps added outside the square root. f32 states
 * `exp_avg` (m) and `exp_avg_sq` (v): 8 bytes per parameter. One `optim.adamw_step` per tensor.
 */
import { adamwStepParams, downloadF32, type Runtime } from '@kvant/abi';
import { type StateSpec, Optimizer } from './optimizer';
import { checkBetas, checkLr, checkNonNegative, type NamedParam, type ParamsInput, type ResolvedGroup } from './params';

/** Hyper-parameters of AdamW (torch's defaults). */
export interface AdamWHyper {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moments (default [0.9, 0.999]). */
  betas: readonly [number, number];
  /** Added to the bias-corrected sqrt(v) (default 1e-8). */
  eps: number;
  /** Decoupled weight decay: each step multiplies p by 1 - lr·weightDecay (default 0.01). */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: Readonly<AdamWHyper> = Object.freeze({ lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.01 });

export function checkAdamHyper(where: string, h: AdamWHyper): void {
  checkLr(where, h.lr);
  checkBetas(where, h.betas);
  checkNonNegative(where, 'eps', h.eps);
  checkNonNegative(where, 'weightDecay', h.weightDecay);
}

/** PyTorch's AdamW over any runtime. */
export class AdamW extends Optimizer<AdamWHyper> {
  readonly kind: string = 'AdamW';

  /** `options` are the defaults of every group (torch's keyword arguments). */
  constructor(runtime: Runtime, params: ParamsInput<AdamWHyper>, options: Partial<AdamWHyper> = {}) {
    super(runtime, params, { ...ADAMW_DEFAULTS, ...options }, ['optim.adamw_step']);
    this.allocStates();
  }

  protected checkHyper(where: string, h: AdamWHyper): void {
    checkAdamHyper(where, h);
  }

  protected stateLayout(p: NamedParam): StateSpec[] {
    return [
      { key: 'exp_avg', dtype: 'f32', shape: p.param.shape },
      { key: 'exp_avg_sq', dtype: 'f32', shape: p.param.shape },
    ];
  }

  protected stepGroup(group: ResolvedGroup<AdamWHyper>, t: number): void {
    for (const p of group.params) {
      if (p.param.size === 0) continue;
      const s = this.states.get(p.name)!;
      this.runtime.dispatch('optim.adamw_step', { p: p.param, g: p.grad, m: s.get('exp_avg')!, v: s.get('exp_avg_sq')! }, adamwStepParams(p.param.size, group.hyper, t));
    }
  }

  /** The moments of one param, read to the host (for inspection and tests). */
  async moments(name: string): Promise<{ m: Float32Array; v: Float32Array }> {
    const s = this.stateTensors(name);
    await this.runtime.flush();
    const [m, v] = await Promise.all([downloadF32(s.get('exp_avg')!), downloadF32(s.get('exp_avg_sq')!)]);
    return { m, v };
  }
}
