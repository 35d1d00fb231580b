/**
 * One named adapter of one module: A [R, K], B [N, R], the scaling, the dropout of its branch, and
 * for DoRA the magnitude m [N]. Its gradients are allocated on the first backward.
 */
import { ConfigError, type Runtime, type Tensor, upload } from '@kvant/abi';
import type { InitLoraWeights } from './config';
import { gaussian, kaimingUniform } from './random';
import { loraScaling } from './scaling';

/** What a module's adapter is made of (already resolved for this module: rank_pattern and alpha_pattern applied). */
export interface AdapterOptions {
  readonly r: number;
  readonly loraAlpha: number;
  /** Default 0. */
  readonly loraDropout?: number;
  /** Default false. */
  readonly useRslora?: boolean;
  /** Default false. */
  readonly useDora?: boolean;
  /** Default true (A kaiming-uniform, B zero). */
  readonly init?: InitLoraWeights;
  /** Seed of the init and of the dropout mask (default 0). */
  readonly seed?: number;
  /** Whether backward computes its gradients (default true). */
  readonly trainable?: boolean;
}

/** Gradients of an adapter's parameters, same shapes. */
export interface AdapterGrads {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly magnitude?: Tensor;
}

export class LoraAdapter {
  readonly scaling: number;
  readonly dropout: number;
  readonly useRslora: boolean;
  readonly useDora: boolean;
  readonly seed: number;
  trainable: boolean;
  /** DoRA magnitude per output feature [N] (set by LoraLinear.addAdapter). */
  magnitude: Tensor | undefined;
  private gradTensors: AdapterGrads | undefined;

  constructor(
    readonly runtime: Runtime,
    readonly name: string,
    readonly r: number,
    readonly loraAlpha: number,
    /** A [R, K]. */
    readonly A: Tensor,
    /** B [N, R]. */
    readonly B: Tensor,
    options: AdapterOptions,
  ) {
    this.scaling = loraScaling(r, loraAlpha, options.useRslora ?? false);
    this.dropout = options.loraDropout ?? 0;
    this.useRslora = options.useRslora ?? false;
    this.useDora = options.useDora ?? false;
    this.seed = options.seed ?? 0;
    this.trainable = options.trainable ?? true;
  }

  /** Create A and B as PEFT's reset_lora_parameters does, from a seeded generator. */
  static create(rt: Runtime, name: string, inFeatures: number, outFeatures: number, o: AdapterOptions): LoraAdapter {
    const where = `adapter ${JSON.stringify(name)}`;
    if (!(Number.isInteger(o.r) && o.r > 0)) throw new ConfigError(`${where} r`, 'a positive integer', String(o.r));
    if (!(Number.isFinite(o.loraAlpha) && o.loraAlpha > 0)) throw new ConfigError(`${where} lora_alpha`, 'a positive finite number', String(o.loraAlpha));
    const p = o.loraDropout ?? 0;
    if (!(p >= 0 && p < 1)) throw new ConfigError(`${where} lora_dropout`, 'a probability in [0, 1)', String(p));
    const seed = o.seed ?? 0;
    const init = o.init ?? true;
    const a = init === 'gaussian' ? gaussian(o.r * inFeatures, 1 / o.r, seed) : kaimingUniform(o.r * inFeatures, inFeatures, seed);
    // false: B keeps nn.Linear's default init too (kaiming-uniform over its fan-in r), so the adapter is not a no-op.
    const b = init === false ? kaimingUniform(outFeatures * o.r, o.r, seed ^ 0x5bd1e995) : new Float32Array(outFeatures * o.r);
    return new LoraAdapter(rt, name, o.r, o.loraAlpha, upload(rt, 'f32', [o.r, inFeatures], a), upload(rt, 'f32', [outFeatures, o.r], b), o);
  }

  /** The gradient tensors (zero-filled on first use). */
  grads(): AdapterGrads {
    if (!this.gradTensors) {
      const z = (t: Tensor) => upload(this.runtime, 'f32', t.shape, new Float32Array(t.size));
      this.gradTensors = { A: z(this.A), B: z(this.B), ...(this.magnitude ? { magnitude: z(this.magnitude) } : {}) };
    }
    return this.gradTensors;
  }

  /** Whether gradients exist yet. */
  get hasGrads(): boolean {
    return this.gradTensors !== undefined;
  }

  /** Trainable parameter count: R·(K + N), plus N for DoRA's magnitude. */
  get parameterCount(): number {
    return this.A.size + this.B.size + (this.magnitude?.size ?? 0);
  }

  free(): void {
    const rt = this.runtime;
    rt.free(this.A);
    rt.free(this.B);
    if (this.magnitude) rt.free(this.magnitude);
    if (this.gradTensors) {
      rt.free(this.gradTensors.A);
      rt.free(this.gradTensors.B);
      if (this.gradTensors.magnitude) rt.free(this.gradTensors.magnitude);
    }
  }
}
