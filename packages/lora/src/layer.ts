/**
 * LoraLinear: one linear layer y = base(x) + bias + Σ_active s·B·A·dropout(x), written once against
 * BaseWeight (dense or 4-bit), with PEFT's `lora.Linear` semantics:
 * - the base sees x undropped; dropout (training only) is on the LoRA branch's input;
 * - a disabled layer, or a merged one, runs the base alone;
 * - W never gets a gradient; A, B (and DoRA's m) do, and the bias when `biasTrainable`.
 *
 * Forward, per active adapter (x [M, K], x̃ = dropout(x), u [M, R]):
 *   u = x̃·Aᵀ                 linalg.matmul (trans_b)
 *   y += s·u·Bᵀ              linalg.matmul (trans_b, alpha = s, beta = 1)
 * Backward (dy [M, N]):
 *   dB = s·dyᵀ·u             gu = s·dy·B  [M, R]        dA = guᵀ·x̃
 *   dx = dy·W + dropoutᵀ(gu·A)
 * The dropout mask is not stored: backward runs linalg.dropout again with the forward's seed and
 * call counter (Philox gives the same mask), on x to rebuild x̃ and on the gradient.
 *
 * Allocation: `forwardInto` writes the caller's y and `backward({ dx })` the caller's dx; the
 * small per-call tensors (u and gu, [M, R]) come from a workspace the layer keeps and reuses, so a
 * forward + backward without dropout allocates nothing in steady state. (With dropout, x̃ and the
 * gradient through the mask, [M, K] each, are still allocated per call: keeping them per layer
 * would hold several activations' worth of memory in every adapted module.)
 */
import { TensorError, type Tensor, upload } from '@kvant/abi';
import { type AdapterOptions, LoraAdapter } from './adapter';
import type { BaseWeight } from './base';
import { doraBackward, doraForward, type DoraSaved, doraWeight, freeDoraSaved } from './dora';
import { addBias, axpy, columnSums, dropout, matmul, rowsOf, scale } from './ops';

/** What one adapter's branch kept from the forward. */
interface BranchSaved {
  readonly adapter: LoraAdapter;
  /** The dropout call counter of this forward, or undefined when dropout was off. */
  readonly dropoutOffset: number | undefined;
  /** u = x̃·Aᵀ [M, R]. */
  readonly u: Tensor;
  readonly dora?: DoraSaved;
}

/** What backward needs from a forward. Hold `x` (the caller's tensor) until backward has run. */
export interface SavedForward {
  readonly layer: LoraLinear;
  readonly x: Tensor;
  readonly m: number;
  readonly branches: readonly BranchSaved[];
}

/** At most this many spare workspace tensors per layer (a bound for callers that vary M). */
const WORKSPACE_SPARES = 8;

export interface ForwardResult {
  /** y [..., N], a new tensor the caller frees. */
  readonly y: Tensor;
  readonly saved: SavedForward;
}

export interface BackwardOptions {
  /** Add into the gradient tensors instead of overwriting them (gradient accumulation). Default false. */
  readonly accumulate?: boolean;
  /** Compute dx (default true; false for a first layer whose input needs no gradient). */
  readonly inputGradient?: boolean;
  /** Write the input gradient into this f32 tensor ([M, K] elements) instead of a new one. */
  readonly dx?: Tensor;
  /**
   * With `dx`: 0 (default) overwrites it; 1 adds the input gradient to what it holds, as
   * linalg.axpy(1, fresh dx, dx) would (the same bits as computing a new dx and adding it).
   */
  readonly dxBeta?: 0 | 1;
}

/** Given weights of an adapter: host arrays or tensors on the layer's runtime. */
export interface AdapterWeights {
  /** [R, K]. */
  readonly A: Float32Array | Tensor;
  /** [N, R]. */
  readonly B: Float32Array | Tensor;
  /** DoRA's magnitude [N] (omitted: ‖W + s·B·A‖ per row). */
  readonly magnitude?: Float32Array | Tensor;
}

export interface LoraLinearOptions {
  /** The base layer's bias [N] (frozen unless biasTrainable). */
  readonly bias?: Tensor;
  /** PEFT's bias "all" / "lora_only": the bias gets a gradient. Default false. */
  readonly biasTrainable?: boolean;
  /** Module path, for messages (model.layers.0.self_attn.q_proj). */
  readonly name?: string;
}

/** A state of merging: which adapters are in the base weight, and DoRA's factors to take them out again. */
export interface MergedAdapter {
  readonly name: string;
  /** DoRA: m / ‖W + ΔW‖ per row, cached so unmerge can divide it out. */
  readonly doraFactor?: Float32Array;
}

export class LoraLinear {
  readonly name: string;
  readonly adapters = new Map<string, LoraAdapter>();
  /** Names of the active adapters, in the order their branches are added. */
  active: string[] = [];
  /** true: forward is the base alone (PEFT's disable_adapter). */
  disabled = false;
  /** Adapters merged into the base weight, in merge order. */
  readonly merged: MergedAdapter[] = [];
  readonly bias: Tensor | undefined;
  biasTrainable: boolean;
  private biasGradTensor: Tensor | undefined;
  private ones: Tensor | undefined;
  /** 64-bit call counter of dropout draws (a fresh mask for every training forward); a trainer saves and restores it to resume exactly. */
  dropoutCalls = 0;
  /** Spare [M, R] tensors (u, gu) by shape, reused instead of allocating per call. */
  private readonly spares = new Map<string, Tensor[]>();
  private spareCount = 0;
  private freed = false;

  constructor(
    readonly base: BaseWeight,
    options: LoraLinearOptions = {},
  ) {
    this.name = options.name ?? 'linear';
    if (options.bias && (options.bias.dtype !== 'f32' || options.bias.size !== base.outFeatures)) {
      throw new TensorError(`${this.name}.bias`, `f32 [${base.outFeatures}]`, `${options.bias.dtype} [${options.bias.shape.join(', ')}]`);
    }
    this.bias = options.bias;
    this.biasTrainable = options.biasTrainable ?? false;
  }

  get runtime() {
    return this.base.runtime;
  }

  get inFeatures(): number {
    return this.base.inFeatures;
  }

  get outFeatures(): number {
    return this.base.outFeatures;
  }

  /**
   * Add a named adapter (A kaiming-uniform and B zero by default, from `options.seed`). For DoRA the
   * magnitude starts at ‖W + s·B·A‖ per row. The first adapter becomes active.
   */
  async addAdapter(name: string, options: AdapterOptions): Promise<LoraAdapter> {
    const a = LoraAdapter.create(this.runtime, name, this.inFeatures, this.outFeatures, options);
    return this.attach(a);
  }

  /**
   * Add an adapter whose A and B (and m) are given: host arrays (a loaded adapter, uploaded) or
   * tensors on this runtime (a combined one; the layer owns them from now on).
   */
  async addAdapterWeights(name: string, options: AdapterOptions, weights: AdapterWeights): Promise<LoraAdapter> {
    const { r } = options;
    const where = `${this.name} adapter ${JSON.stringify(name)}`;
    const A = this.weightTensor(weights.A, [r, this.inFeatures], `${where} lora_A`);
    const B = this.weightTensor(weights.B, [this.outFeatures, r], `${where} lora_B`);
    const a = new LoraAdapter(this.runtime, name, r, options.loraAlpha, A, B, options);
    if (weights.magnitude) {
      if (!a.useDora) throw new TensorError(`${where} lora_magnitude_vector`, 'no magnitude for a plain LoRA adapter', 'one');
      a.magnitude = this.weightTensor(weights.magnitude, [this.outFeatures], `${where} lora_magnitude_vector`);
    }
    return this.attach(a);
  }

  private weightTensor(v: Float32Array | Tensor, shape: readonly number[], where: string): Tensor {
    const count = shape.reduce((x, y) => x * y, 1);
    if (v instanceof Float32Array) {
      if (v.length !== count) throw new TensorError(where, `${count} values [${shape.join(', ')}]`, `${v.length}`);
      return upload(this.runtime, 'f32', shape, v);
    }
    if (v.runtime !== this.runtime || v.dtype !== 'f32' || v.size !== count) {
      throw new TensorError(where, `an f32 tensor [${shape.join(', ')}] on ${this.runtime.name}`, `${v.dtype} [${v.shape.join(', ')}] on ${v.runtime.name}`);
    }
    return v;
  }

  private async attach(a: LoraAdapter): Promise<LoraAdapter> {
    if (this.adapters.has(a.name)) {
      a.free();
      throw new TensorError(`${this.name} adapters`, `a new adapter name`, JSON.stringify(a.name));
    }
    if (a.useDora && !a.magnitude) {
      const { weight, norms } = await doraWeight(this.base, a);
      this.runtime.free(weight);
      a.magnitude = upload(this.runtime, 'f32', [this.outFeatures], norms);
    }
    this.adapters.set(a.name, a);
    if (this.active.length === 0) this.active = [a.name];
    return a;
  }

  /** The adapter `name`, or a typed error listing the ones there are. */
  adapter(name: string): LoraAdapter {
    const a = this.adapters.get(name);
    if (!a) throw new TensorError(`${this.name} adapter`, `one of ${[...this.adapters.keys()].map((k) => JSON.stringify(k)).join(', ') || '(none)'}`, JSON.stringify(name));
    return a;
  }

  /** Make `names` the active adapters (their branches are summed). */
  setActive(names: string | readonly string[]): void {
    const list = typeof names === 'string' ? [names] : [...names];
    for (const n of list) this.adapter(n);
    this.active = list;
  }

  /** Remove an adapter and free its tensors (unmerge it first if merged). */
  deleteAdapter(name: string): void {
    const a = this.adapter(name);
    if (this.merged.some((m) => m.name === name)) throw new TensorError(`${this.name} adapter ${JSON.stringify(name)}`, 'an unmerged adapter (unmerge first)', 'a merged one');
    a.free();
    this.adapters.delete(name);
    this.active = this.active.filter((n) => n !== name);
    if (this.active.length === 0 && this.adapters.size > 0) this.active = [[...this.adapters.keys()][0]];
  }

  /** The bias gradient [N] (zero-filled on first use). */
  biasGrad(): Tensor | undefined {
    if (!this.bias || !this.biasTrainable) return undefined;
    this.biasGradTensor ??= upload(this.runtime, 'f32', [this.outFeatures], new Float32Array(this.outFeatures));
    return this.biasGradTensor;
  }

  private onesFor(m: number): Tensor {
    if (!this.ones || this.ones.size < m) {
      if (this.ones) this.runtime.free(this.ones);
      this.ones = upload(this.runtime, 'f32', [m], new Float32Array(m).fill(1));
    }
    return this.ones;
  }

  /** An f32 tensor of `shape` from the workspace (or a new one). Its contents are undefined. */
  private take(shape: readonly number[]): Tensor {
    const t = this.spares.get(shape.join('x'))?.pop();
    if (t) {
      this.spareCount--;
      return t;
    }
    return this.runtime.alloc('f32', shape);
  }

  /** Give a tensor from `take` back to the workspace (freed when the workspace is full or the layer is). */
  recycle(t: Tensor): void {
    if (this.freed || this.spareCount >= WORKSPACE_SPARES) {
      this.runtime.free(t);
      return;
    }
    const key = t.shape.join('x');
    const list = this.spares.get(key);
    if (list) list.push(t);
    else this.spares.set(key, [t]);
    this.spareCount++;
  }

  /** The adapters a forward runs now: none when disabled or merged. */
  get runningAdapters(): LoraAdapter[] {
    if (this.disabled || this.merged.length > 0) return [];
    return this.active.map((n) => this.adapter(n));
  }

  /**
   * y = base(x) + bias + Σ_active branch(x). `training` switches the branch dropout on; each training
   * forward draws a fresh mask from a call counter, unless `dropoutOffset` fixes it (recomputing a
   * forward for activation checkpointing must reuse the first one's offset).
   */
  async forward(x: Tensor, options: { training?: boolean; dropoutOffset?: number } = {}): Promise<ForwardResult> {
    rowsOf(x, this.inFeatures, `${this.name} forward input`);
    const y = this.runtime.alloc('f32', [...x.shape.slice(0, -1), this.outFeatures]);
    try {
      return { y, saved: await this.forwardInto(x, y, options) };
    } catch (e) {
      this.runtime.free(y);
      throw e;
    }
  }

  /**
   * forward, with the output written into the caller's y (f32, [M, N] elements; not x): the same
   * bits as `forward(x).y`, without allocating it.
   */
  async forwardInto(x: Tensor, y: Tensor, options: { training?: boolean; dropoutOffset?: number } = {}): Promise<SavedForward> {
    const rt = this.runtime;
    const [n, k] = [this.outFeatures, this.inFeatures];
    const m = rowsOf(x, k, `${this.name} forward input`);
    if (y.dtype !== 'f32' || y.size !== m * n || y.runtime !== rt || y === x) {
      throw new TensorError(`${this.name} forward output`, `an f32 tensor with ${m * n} elements [${m}, ${n}] on ${rt.name}, not the input`, `${y.dtype} [${y.shape.join(', ')}] on ${y.runtime.name}`);
    }
    this.base.forward(x, y, m);
    if (this.bias) addBias(rt, this.onesFor(m), this.bias, y, m, n);
    const branches: BranchSaved[] = [];
    for (const a of this.runningAdapters) {
      const dropoutOffset = options.training && a.dropout > 0 ? (options.dropoutOffset ?? this.dropoutCalls++) : undefined;
      const xt = this.dropped(a, x, m, dropoutOffset);
      const u = this.take([m, a.r]);
      matmul(rt, { a: xt, b: a.A, c: u, m, n: a.r, k, transB: true });
      let dora: DoraSaved | undefined;
      if (a.useDora) dora = await doraForward(this.base, a, xt, y, m, `${this.name} adapter ${a.name}`);
      else matmul(rt, { a: u, b: a.B, c: y, m, n, k: a.r, transB: true, alpha: a.scaling, beta: 1 });
      if (xt !== x) rt.free(xt);
      branches.push({ adapter: a, dropoutOffset, u, dora });
    }
    return { layer: this, x, m, branches };
  }

  /** x̃ = dropout(x) for this adapter's seed and call counter (x itself when dropout is off). */
  private dropped(a: LoraAdapter, x: Tensor, m: number, offset: number | undefined): Tensor {
    if (offset === undefined) return x;
    const xt = this.runtime.alloc('f32', [m, this.inFeatures]);
    dropout(this.runtime, x, xt, m * this.inFeatures, a.dropout, a.seed, offset);
    return xt;
  }

  /**
   * Gradients of A, B (m, bias) into their grad tensors, and dx (a new tensor, or `options.dx`;
   * none when inputGradient is false). Frees what the forward saved.
   */
  async backward(saved: SavedForward, dy: Tensor, options: BackwardOptions = {}): Promise<{ dx?: Tensor }> {
    if (saved.layer !== this) throw new TensorError(`${this.name} backward`, 'the saved state of this layer\'s forward', `that of ${saved.layer.name}`);
    const rt = this.runtime;
    const [n, k] = [this.outFeatures, this.inFeatures];
    const { m, x } = saved;
    if (dy.dtype !== 'f32' || dy.size !== m * n) throw new TensorError(`${this.name} backward dy`, `f32 with ${m * n} elements [${m}, ${n}]`, `${dy.dtype} [${dy.shape.join(', ')}]`);
    const beta = options.accumulate ? 1 : 0;
    const into = options.dx;
    if (into && (into.dtype !== 'f32' || into.size !== m * k || into.runtime !== rt)) {
      throw new TensorError(`${this.name} backward dx`, `an f32 tensor with ${m * k} elements [${m}, ${k}] on ${rt.name}`, `${into.dtype} [${into.shape.join(', ')}] on ${into.runtime.name}`);
    }
    // Adding into the caller's dx: the fresh gradient goes through a temporary and is added last,
    // so the bits are those of a new dx added with linalg.axpy.
    // (Also when dx is x or dy, which the gradients below still read.)
    const addInto = into !== undefined && (options.dxBeta === 1 || into === x || into === dy);
    let dx: Tensor | undefined;
    if (options.inputGradient ?? true) {
      dx = into && !addInto ? into : rt.alloc('f32', x.shape);
      this.base.inputGrad(dy, dx, m);
    }
    const gBias = this.biasGrad();
    if (gBias) columnSums(rt, this.onesFor(m), dy, gBias, m, n, beta);
    for (const br of saved.branches) {
      const a = br.adapter;
      const xt = this.dropped(a, x, m, br.dropoutOffset);
      // Gradient with respect to x̃: straight into dx without dropout, else through a temporary.
      const dxt = dx && br.dropoutOffset !== undefined ? rt.alloc('f32', [m, k]) : dx;
      const dxtBeta = dxt === dx ? 1 : 0;
      if (br.dora) doraBackward(rt, a, br.dora, xt, br.u, dy, dxt, dxtBeta, m, beta);
      else this.plainBackward(a, xt, br.u, dy, dxt, dxtBeta, m, beta);
      if (dx && dxt && dxt !== dx) {
        const back = rt.alloc('f32', [m, k]);
        dropout(rt, dxt, back, m * k, a.dropout, a.seed, br.dropoutOffset!);
        axpy(rt, 1, back, dx, m * k);
        rt.free(back);
        rt.free(dxt);
      }
      if (xt !== x) rt.free(xt);
    }
    releaseSaved(saved);
    if (dx && addInto) {
      if (options.dxBeta === 1) axpy(rt, 1, dx, into, m * k);
      else scale(rt, 1, dx, into, m * k);
      rt.free(dx);
      dx = into;
    }
    return { dx };
  }

  private plainBackward(a: LoraAdapter, xt: Tensor, u: Tensor, dy: Tensor, dxt: Tensor | undefined, dxtBeta: number, m: number, beta: number): void {
    const rt = this.runtime;
    const [n, k, r] = [this.outFeatures, this.inFeatures, a.r];
    const gu = this.take([m, r]);
    matmul(rt, { a: dy, b: a.B, c: gu, m, n: r, k: n, alpha: a.scaling });
    if (a.trainable) {
      const g = a.grads();
      matmul(rt, { a: dy, b: u, c: g.B, m: n, n: r, k: m, transA: true, alpha: a.scaling, beta });
      matmul(rt, { a: gu, b: xt, c: g.A, m: r, n: k, k: m, transA: true, beta });
    }
    if (dxt) matmul(rt, { a: gu, b: a.A, c: dxt, m, n: k, k: r, beta: dxtBeta });
    this.recycle(gu);
  }

  /** Free the adapters and every tensor the layer allocated, and the base unless `base: false` (never the bias, which the caller owns). */
  free(options: { base?: boolean } = {}): void {
    for (const a of this.adapters.values()) a.free();
    this.adapters.clear();
    if (this.ones) this.runtime.free(this.ones);
    if (this.biasGradTensor) this.runtime.free(this.biasGradTensor);
    this.ones = undefined;
    this.biasGradTensor = undefined;
    for (const list of this.spares.values()) for (const t of list) this.runtime.free(t);
    this.spares.clear();
    this.spareCount = 0;
    this.freed = true;
    if (options.base ?? true) this.base.free();
  }
}

/** Free the temporaries a forward kept (backward does this; call it when a forward has no backward). */
export function releaseSaved(saved: SavedForward): void {
  const rt = saved.layer.runtime;
  for (const br of saved.branches) {
    saved.layer.recycle(br.u);
    if (br.dora) freeDoraSaved(rt, br.dora);
  }
  (saved.branches as BranchSaved[]).length = 0;
}
