/**
 * SGD with momentum, torch.optim.SGD's semantics (single-tensor path), composed from the element-wise
 * kernels linalg.scale, linalg.axpy and linalg.add:
 *
 *   g' = g + weight_decay·p                               (when weight_decay != 0; the grad itself is not changed)
 *   buf = g'                                              (first step)
 *   buf = momentum·buf + (1 - dampening)·g'               (later steps)
 *   d = nesterov ? g' + momentum·buf : buf                (when momentum != 0; else d = g')
 *   p = p - lr·d
 *
 * State: `momentum_buffer` (f32, 4 bytes per parameter) when momentum != 0. Two scratch tensors
 * as large as the largest param hold g' and the new buffer (linalg.scale is out of place).
 */
import { ConfigError, type Runtime, type Tensor } from '@kvant/abi';
import { type StateSpec, Optimizer } from './optimizer';
import { checkLr, checkNonNegative, type NamedParam, type ParamsInput, type ResolvedGroup } from './params';

/** Hyper-parameters of SGD (torch's defaults). */
export interface SGDHyper {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Momentum factor (default 0: plain SGD, no state). */
  momentum: number;
  /** Dampening of the gradient in the momentum update (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient: g + weightDecay·p (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
}

export const SGD_DEFAULTS: Readonly<SGDHyper> = Object.freeze({ lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });

const f = Math.fround;

/** torch.optim.SGD over any runtime. */
export class SGD extends Optimizer<SGDHyper> {
  readonly kind: string = 'SGD';
  /** Params whose group had momentum != 0 when the optimizer was made: they own a momentum buffer. */
  private readonly withMomentum: ReadonlySet<string>;
  private scratch: [Tensor, Tensor] | undefined;

  constructor(runtime: Runtime, params: ParamsInput<SGDHyper>, options: Partial<SGDHyper> = {}) {
    super(runtime, params, { ...SGD_DEFAULTS, ...options }, ['linalg.scale', 'linalg.axpy', 'linalg.add']);
    this.withMomentum = new Set(this.groups.filter((g) => g.hyper.momentum !== 0).flatMap((g) => g.params.map((p) => p.name)));
    this.allocStates();
  }

  protected checkHyper(where: string, h: SGDHyper): void {
    checkLr(where, h.lr);
    checkNonNegative(where, 'momentum', h.momentum);
    checkNonNegative(where, 'weightDecay', h.weightDecay);
    if (typeof h.dampening !== 'number' || !Number.isFinite(h.dampening)) throw new ConfigError(`${where}: dampening`, 'a finite number', String(h.dampening));
    if (typeof h.nesterov !== 'boolean') throw new ConfigError(`${where}: nesterov`, 'true or false', String(h.nesterov));
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new ConfigError(`${where}: nesterov`, 'momentum > 0 and dampening 0 (Nesterov momentum)', `momentum ${h.momentum}, dampening ${h.dampening}`);
    }
  }

  protected stateLayout(p: NamedParam): StateSpec[] {
    return this.withMomentum.has(p.name) ? [{ key: 'momentum_buffer', dtype: 'f32', shape: p.param.shape }] : [];
  }

  /** Two scratch tensors of the largest param's size, allocated at the first step that needs them. */
  private scratchTensors(): [Tensor, Tensor] {
    if (!this.scratch) {
      const n = Math.max(1, ...this.params().map((p) => p.param.size));
      this.scratch = [this.runtime.alloc('f32', [n]), this.runtime.alloc('f32', [n])];
    }
    return this.scratch;
  }

  protected stepGroup(group: ResolvedGroup<SGDHyper>, t: number): void {
    const { lr, momentum, dampening, weightDecay, nesterov } = group.hyper;
    const rt = this.runtime;
    for (const p of group.params) {
      const n = p.param.size;
      if (n === 0) continue;
      let d = p.grad;
      if (weightDecay !== 0) {
        // g' = g + wd·p into scratch 0: f(f(wd·p) + f(1·g)) = f(g + f(wd·p)).
        const [s0] = this.scratchTensors();
        rt.dispatch('linalg.scale', { x: p.grad, y: s0 }, { n, alpha: 1 });
        rt.dispatch('linalg.axpy', { x: p.param, y: s0 }, { n, alpha: f(weightDecay) });
        d = s0;
      }
      const buf = this.states.get(p.name)?.get('momentum_buffer');
      if (momentum !== 0) {
        if (!buf) throw new ConfigError(`SGD: param ${p.name}`, 'a momentum buffer (momentum was 0 when the optimizer was made)', `momentum ${momentum}`);
        if (t === 1) {
          rt.dispatch('linalg.scale', { x: d, y: buf }, { n, alpha: 1 }); // buf = clone(g')
        } else {
          const s1 = this.scratchTensors()[1];
          rt.dispatch('linalg.scale', { x: buf, y: s1 }, { n, alpha: f(momentum) }); // momentum·buf
          if (dampening === 0) {
            rt.dispatch('linalg.add', { a: s1, b: d, c: buf }, { n }); // f(1·g') = g': one add
          } else {
            rt.dispatch('linalg.axpy', { x: d, y: s1 }, { n, alpha: f(1 - dampening) });
            rt.dispatch('linalg.scale', { x: s1, y: buf }, { n, alpha: 1 });
          }
        }
        if (nesterov) {
          const [s0] = this.scratchTensors();
          if (d !== s0) rt.dispatch('linalg.scale', { x: d, y: s0 }, { n, alpha: 1 });
          rt.dispatch('linalg.axpy', { x: buf, y: s0 }, { n, alpha: f(momentum) }); // g' + momentum·buf
          d = s0;
        } else {
          d = buf;
        }
      }
      rt.dispatch('linalg.axpy', { x: d, y: p.param }, { n, alpha: f(-lr) }); // p - lr·d
    }
  }

  override dispose(): void {
    if (this.scratch) for (const t of this.scratch) this.runtime.free(t);
    this.scratch = undefined;
    super.dispose();
  }
}
