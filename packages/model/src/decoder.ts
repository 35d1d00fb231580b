/**
 * The Llama-family decoder (Llama, Mistral, Qwen2, Phi-3) as two straight lists of kernel calls over
 * named buffers, llm.c style: `forward` runs embedding → L blocks → final norm → lm_head → loss;
 * `backward` runs the same calls in reverse, each op's backward kernel in the place of its forward.
 * There is no autograd: every buffer is allocated once for a batch shape (activations.ts) and every
 * call below states its shapes. M = B·T rows, C hidden, Q = H·D, KV = Hkv·D, I intermediate, V vocab.
 *
 * Trainable parameters are either LoRA adapters (through @kvant/lora's LoraModel and LoraLinear, on any
 * set of linear modules, over a dense or 4-bit frozen base) or every weight (full fine-tuning, dense
 * f32 base only). A 4-bit base never gets a gradient.
 */
import { ConfigError, NonFiniteError, type Runtime, type Tensor, TensorError, IGNORE_INDEX, upload } from '@kvant/abi';
import { type HfModelFolder, openHfModel } from '@kvant/formats';
import {
  addBias,
  type BaseModel,
  columnSums,
  DenseBase,
  LoraModel,
  type LoraConfig,
  type LoraLinear,
  loadAdapter,
  releaseSaved,
  saveAdapter,
  type SavedForward,
  PEFT_PREFIX,
  parseAdapterConfig,
  ADAPTER_CONFIG_NAME,
} from '@kvant/lora';
import { readRegularFile } from '@kvant/formats';
import { join } from 'node:path';
import { type ActivationMemory, type Activations, activationMemory, allocateActivations, type BlockActivations, freeActivations } from './activations';
import { putColumns, Selectors, takeColumns } from './columns';
import { type DecoderConfig, decoderConfig, kvWidth, qWidth } from './decoder-config';
import {
  type DecoderWeights,
  freeDecoderWeights,
  type LinearModule,
  linearModules,
  loadDecoderWeights,
  otherParameters,
  type WeightLoadOptions,
  type WeightLoadReport,
} from './decoder-weights';
import { type RopeProvider, RopeTables } from './rope-tables';
import { decodeForward, KvCache } from './kv-cache';

/** A batch of B rows of T tokens, row-major (element b·T + t). */
export interface Batch {
  readonly b: number;
  readonly t: number;
  readonly inputIds: ArrayLike<number>;
  /** Position ids restarting at 0 for each packed document; default 0..T-1 in every row. */
  readonly positionIds?: ArrayLike<number>;
  /**
   * Labels aligned with input_ids (transformers' `labels`): the loss of row b predicts labels[b, t+1]
   * from logits[b, t] (the shift happens here); -100 is ignored. Omit for no loss.
   */
  readonly labels?: ArrayLike<number>;
}

export interface ForwardOptions {
  /** Training forward: LoRA dropout on, and everything backward needs is kept. Default false. */
  readonly training?: boolean;
}

export interface ForwardOutput {
  /** Mean cross-entropy over the label tokens (transformers' loss), when labels were given. */
  readonly loss?: number;
  /** Tokens that have a label after the shift (the divisor of the mean). */
  readonly labelTokens: number;
  /** logits [B·T, V] on the runtime (overwritten by backward, which turns them into their gradient in place). */
  readonly logits: Tensor;
}

export interface BackwardOptions {
  /** Add into the gradients instead of overwriting them (gradient accumulation over micro-batches). */
  readonly accumulate?: boolean;
  /**
   * The loss's divisor (default: this batch's label tokens, i.e. the gradient of the mean). For
   * accumulation pass the label tokens of all micro-batches (transformers' num_items_in_batch).
   */
  readonly divisor?: number;
  /** Multiplies the gradient (loss scaling); default 1. */
  readonly scale?: number;
}

/** One trainable tensor with its gradient. */
export interface TrainableTensor {
  /** PEFT key (base_model.model.<module>.lora_A.weight) for LoRA, Hugging Face name for full fine-tuning. */
  readonly name: string;
  readonly param: Tensor;
  readonly grad: Tensor;
}

export interface DecoderOptions {
  /** How the rope tables are computed (default: @kvant/abi's ropeInvFreq / ropeTables, transformers' rules). */
  readonly rope?: RopeProvider;
  /** Recompute each block's forward in backward instead of keeping its activations. Default false. */
  readonly checkpointing?: boolean;
}

export interface LoadDecoderOptions extends DecoderOptions, WeightLoadOptions {}

/** Kernels a forward (and a backward) dispatches: check them with `rt.supports`. */
export const DECODER_FORWARD_KERNELS = ['nn.embedding', 'nn.rmsnorm', 'nn.rope', 'nn.attention', 'nn.swiglu', 'nn.cross_entropy', 'linalg.matmul', 'linalg.add', 'linalg.scale', 'linalg.sum'] as const;
export const DECODER_BACKWARD_KERNELS = [
  'nn.embedding_backward',
  'nn.rmsnorm_backward',
  'nn.rope_backward',
  'nn.attention_backward',
  'nn.swiglu_backward',
  'nn.cross_entropy_backward',
  'linalg.axpy',
] as const;
export const DECODER_4BIT_KERNELS = ['linalg.matmul_4bit', 'linalg.matmul_4bit_dq'] as const;
/** Kernels of a bf16/f16 base (`baseDtype`). */
export const DECODER_16BIT_KERNELS = ['linalg.matmul_16bit', 'quant.dequantize_16bit'] as const;

/** Which LoRA state a module's forward left for backward. */
interface ModuleSaved {
  saved?: SavedForward;
  /** The LoRA dropout call counter of the training forward (reused when a checkpointed block is recomputed). */
  dropoutOffset?: number;
}

export class Decoder {
  /** LoRA adapters, when added or loaded. */
  lora: LoraModel | undefined;
  /** Full fine-tuning gradients by Hugging Face name (when enabled). */
  private fullGrads: Map<string, Tensor> | undefined;
  private acts: Activations | undefined;
  private readonly ropeTables: RopeTables;
  private readonly selectors: Selectors;
  private readonly moduleState = new Map<string, ModuleSaved>();
  /** The batch of the last forward (what backward differentiates). */
  private last: { training: boolean; labelTokens: number; hasLabels: boolean; maxPos: number } | undefined;
  checkpointing: boolean;

  constructor(
    readonly runtime: Runtime,
    readonly config: DecoderConfig,
    readonly weights: DecoderWeights,
    options: DecoderOptions = {},
    /** The folder it was read from, when loaded from one (recorded in saved adapters). */
    readonly source?: string,
    readonly loadReport?: WeightLoadReport,
  ) {
    this.ropeTables = new RopeTables(runtime, config, options.rope);
    this.selectors = new Selectors(runtime);
    this.checkpointing = options.checkpointing ?? false;
  }

  /** Open a Hugging Face folder and load its weights (dense f32 or bf16/f16 with `baseDtype`, quantized on load, or bitsandbytes 4-bit as stored). */
  static async fromFolder(rt: Runtime, dir: string, options: LoadDecoderOptions = {}): Promise<Decoder> {
    const folder: HfModelFolder = await openHfModel(dir);
    try {
      const config = decoderConfig(folder.config, join(dir, 'config.json'));
      const { weights, report } = await loadDecoderWeights(rt, folder, config, options);
      return new Decoder(rt, config, weights, options, dir, report);
    } finally {
      await folder.close();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Adapters and trainable parameters
  // -------------------------------------------------------------------------------------------

  /** The base model as @kvant/lora sees it: every linear module (lm_head included when untied) and the other parameters. */
  baseModel(): BaseModel {
    return {
      runtime: this.runtime,
      modelType: this.config.modelType,
      linears: linearModules(this.weights),
      outputHead: this.weights.lmHead ? 'lm_head' : undefined,
      otherParameters: otherParameters(this.weights),
      nameOrPath: this.source,
    };
  }

  /** PEFT's get_peft_model: add a LoRA adapter (A kaiming-uniform, B zero) on the config's target modules. */
  async addAdapter(config: LoraConfig, name = 'default', options: { seed?: number } = {}): Promise<LoraModel> {
    if (this.fullGrads) throw new ConfigError('Decoder.addAdapter', 'a model without full fine-tuning', 'full fine-tuning enabled');
    if (this.lora) await this.lora.addAdapter(name, config, options);
    else this.lora = await LoraModel.create(this.baseModel(), config, name, options);
    return this.lora;
  }

  /** PEFT's PeftModel.from_pretrained: read an adapter folder (frozen unless isTrainable) and make it active. */
  async loadAdapter(dir: string, options: { name?: string; isTrainable?: boolean } = {}): Promise<LoraModel> {
    if (this.fullGrads) throw new ConfigError('Decoder.loadAdapter', 'a model without full fine-tuning', 'full fine-tuning enabled');
    const name = options.name ?? 'default';
    if (!this.lora) {
      // LoraModel is created with a first adapter; build it from the folder's config, then load the real one.
      const path = join(dir, ADAPTER_CONFIG_NAME);
      const raw = parseAdapterConfig((await readRegularFile(path, 'an adapter_config.json (a regular file)')).toString('utf8'), path);
      const placeholder = `${name}.placeholder`;
      this.lora = await LoraModel.create(this.baseModel(), raw, placeholder);
      await loadAdapter(dir, this.lora, { adapterName: name, isTrainable: options.isTrainable });
      this.lora.setAdapter(name);
      this.lora.deleteAdapter(placeholder);
    } else {
      await loadAdapter(dir, this.lora, { adapterName: name, isTrainable: options.isTrainable });
      this.lora.setAdapter(name);
    }
    return this.lora;
  }

  /** PEFT's save_pretrained for the active adapter: adapter_config.json + adapter_model.safetensors, atomically. */
  async saveAdapter(dir: string, options: { force?: boolean; adapterName?: string } = {}): Promise<void> {
    if (!this.lora) throw new ConfigError('Decoder.saveAdapter', 'a model with a LoRA adapter', 'none');
    await saveAdapter(this.lora, dir, { ...options, inputs: this.source ? [this.source] : [] });
  }

  /**
   * Train every weight (embeddings, norms, linear weights and biases): needs a dense f32 base.
   * Gradients are allocated now, one f32 tensor per parameter.
   */
  enableFullFineTuning(): void {
    if (this.lora) throw new ConfigError('Decoder.enableFullFineTuning', 'a model without LoRA adapters', 'adapters');
    if (this.fullGrads) return;
    const grads = new Map<string, Tensor>();
    const zeros = (shape: readonly number[]) => upload(this.runtime, 'f32', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
    for (const m of linearModules(this.weights)) {
      if (!(m.base instanceof DenseBase)) throw new ConfigError(`full fine-tuning: ${m.name}`, 'a dense f32 weight', m.base.describe());
      grads.set(`${m.name}.weight`, zeros([m.base.outFeatures, m.base.inFeatures]));
      if (m.bias) grads.set(`${m.name}.bias`, zeros(m.bias.shape));
    }
    for (const [name, t] of Object.entries(otherParameters(this.weights))) grads.set(name, zeros(t.shape));
    this.fullGrads = grads;
  }

  /** Every trainable tensor with its gradient: the active adapter's A and B (PEFT keys), or every weight. */
  trainable(): TrainableTensor[] {
    const out: TrainableTensor[] = [];
    if (this.fullGrads) {
      const params = otherParameters(this.weights);
      for (const m of linearModules(this.weights)) {
        out.push({ name: `${m.name}.weight`, param: (m.base as DenseBase).weight, grad: this.fullGrads.get(`${m.name}.weight`)! });
        if (m.bias) out.push({ name: `${m.name}.bias`, param: m.bias, grad: this.fullGrads.get(`${m.name}.bias`)! });
      }
      for (const [name, t] of Object.entries(params)) out.push({ name, param: t, grad: this.fullGrads.get(name)! });
      return out;
    }
    if (!this.lora) return out;
    for (const [module, layer] of this.lora.layers) {
      for (const a of layer.adapters.values()) {
        if (!a.trainable) continue;
        const g = a.grads();
        out.push({ name: `${PEFT_PREFIX}${module}.lora_A.weight`, param: a.A, grad: g.A });
        out.push({ name: `${PEFT_PREFIX}${module}.lora_B.weight`, param: a.B, grad: g.B });
        if (a.magnitude && g.magnitude) out.push({ name: `${PEFT_PREFIX}${module}.lora_magnitude_vector`, param: a.magnitude, grad: g.magnitude });
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Memory
  // -------------------------------------------------------------------------------------------

  /** Activation memory of a batch [B, T] for this model (with and without checkpointing), without allocating. */
  activationMemory(b: number, t: number, training = true): ActivationMemory {
    return activationMemory(this.config, b, t, { checkpointing: this.checkpointing, training });
  }

  /** Bytes of LoRA's own saved activations (u = x·Aᵀ [M, R] per adapted module, held by LoraLinear between forward and backward). */
  loraActivationBytes(m: number): number {
    if (!this.lora) return 0;
    let r = 0;
    for (const layer of this.lora.layers.values()) for (const a of layer.runningAdapters) r += a.r;
    return 4 * m * r;
  }

  /** Buffers for a batch [B, T], allocated once (reallocated only when the shape or the training flag changes). */
  private plan(b: number, t: number, training: boolean): Activations {
    const a = this.acts;
    if (a && a.b === b && a.t === t && a.checkpointing === this.checkpointing && (a.grads !== undefined || !training)) return a;
    this.releaseSaved();
    if (a) freeActivations(this.runtime, a);
    this.acts = allocateActivations(this.runtime, this.config, b, t, { checkpointing: this.checkpointing, training });
    return this.acts;
  }

  // -------------------------------------------------------------------------------------------
  // Forward
  // -------------------------------------------------------------------------------------------

  /** Forward a batch; with labels, the loss. The logits stay on the runtime. */
  async forward(batch: Batch, options: ForwardOptions = {}): Promise<ForwardOutput> {
    const rt = this.runtime;
    const c = this.config;
    const training = options.training ?? false;
    const saved = this.lora && !this.lora.disabled ? this.lora.modulesToSave.get(this.lora.activeAdapter) : undefined;
    if (saved && saved.size > 0) {
      // The copies would have to replace the base tensors in forward and get gradients in backward.
      throw new ConfigError('Decoder.forward: modules_to_save', 'an adapter without modules_to_save copies (the decoder does not run them yet; kvant merge and export-gguf do use them)', [...saved.keys()].join(', '));
    }
    const { b, t } = batch;
    const m = b * t;
    const host = this.hostInputs(batch);
    const a = this.plan(b, t, training);
    this.releaseSaved();
    rt.write(a.ids, host.ids);
    rt.write(a.pos, host.pos);
    rt.write(a.labels, host.labels);
    this.ropeTables.ensure(host.maxPos);

    // x0 = embed_tokens[ids]                                               (M, C)
    rt.dispatch('nn.embedding', { ids: a.ids, table: this.weights.embed, out: a.residual[0] }, { n: m, c: c.hidden, v: c.vocab });
    for (let l = 0; l < c.layers; l++) {
      const blk = a.blocks[this.checkpointing ? 0 : l];
      // With checkpointing, nothing of the block is kept: its LoRA state is released, only the dropout offsets stay.
      await this.blockForward(l, a, blk, training, training && !this.checkpointing);
    }
    // final norm and head: lnf = rmsnorm(x_L) (M, C); logits = lnf·Wᵀ (M, V)
    rt.dispatch('nn.rmsnorm', { x: a.residual[c.layers], w: this.weights.norm, y: a.lnf, rstd: a.rstdf }, { n: m, c: c.hidden, eps: c.eps });
    if (this.weights.lmHead) await this.linearForward(this.weights.lmHead, a.lnf, a.logits, m, training, training);
    else this.matmul(a.lnf, this.weights.embed, a.logits, m, c.vocab, c.hidden, { transB: true });

    let loss: number | undefined;
    if (host.hasLabels) {
      // per-row loss (M) of logits[t] against labels[t+1]; mean over the label tokens
      rt.dispatch('nn.cross_entropy', { logits: a.logits, labels: a.labels, loss: a.loss, lse: a.lseCe }, { n: m, v: c.vocab, ignore_index: IGNORE_INDEX });
      rt.dispatch('linalg.sum', { x: a.loss, partials: a.partials, out: a.lossSum }, { n: m, accumulate: 0 });
      const sum = new Float32Array((await rt.read(a.lossSum)).buffer.slice(0, 4))[0];
      loss = host.labelTokens > 0 ? sum / host.labelTokens : Number.NaN;
      if (host.labelTokens > 0 && !Number.isFinite(sum)) throw new NonFiniteError('Decoder.forward loss', 0, sum);
    }
    this.last = { training, labelTokens: host.labelTokens, hasLabels: host.hasLabels, maxPos: host.maxPos };
    return { loss, labelTokens: host.labelTokens, logits: a.logits };
  }

  /** One decoder block: x_l → x_{l+1}, every intermediate into `blk`. */
  private async blockForward(l: number, a: Activations, blk: BlockActivations, training: boolean, keep: boolean, recompute = false): Promise<void> {
    const rt = this.runtime;
    const c = this.config;
    const w = this.weights.layers[l];
    const { b, t } = a;
    const m = b * t;
    const [Q, KV, I, C] = [qWidth(c), kvWidth(c), c.intermediate, c.hidden];
    const x = a.residual[l];
    const rope = { cos: this.ropeTables.cos!, sin: this.ropeTables.sin! };
    const maxPos = this.ropeTables.maxPos;
    const lin = (mod: LinearModule, input: Tensor, out: Tensor) => this.linearForward(mod, input, out, m, training, keep, recompute);

    // ln1 = rmsnorm(x) (M, C), rstd1 (M)
    rt.dispatch('nn.rmsnorm', { x, w: w.inputNorm, y: blk.ln1, rstd: blk.rstd1 }, { n: m, c: C, eps: c.eps });
    // qRaw = ln1·Wqᵀ (+bq) (M, Q); kRaw (M, KV); v (M, KV) — Phi-3: qkv (M, Q + 2KV), then split
    if (w.qkv) {
      await lin(w.qkv, blk.ln1, blk.qkv!);
      const F = Q + 2 * KV;
      takeColumns(rt, this.selectors, blk.qkv!, blk.qRaw, m, F, 0, Q);
      takeColumns(rt, this.selectors, blk.qkv!, blk.kRaw, m, F, Q, KV);
      takeColumns(rt, this.selectors, blk.qkv!, blk.v, m, F, Q + KV, KV);
    } else {
      await lin(w.q!, blk.ln1, blk.qRaw);
      await lin(w.k!, blk.ln1, blk.kRaw);
      await lin(w.v!, blk.ln1, blk.v);
    }
    // q = rope(qRaw) (M, H, D); k = rope(kRaw) (M, Hkv, D)
    rt.dispatch('nn.rope', { x: blk.qRaw, pos: a.pos, ...rope, y: blk.q }, { n: m, h: c.heads, d: c.headDim, max_pos: maxPos });
    rt.dispatch('nn.rope', { x: blk.kRaw, pos: a.pos, ...rope, y: blk.k }, { n: m, h: c.kvHeads, d: c.headDim, max_pos: maxPos });
    // att = softmax(q·kᵀ·scale + causal/document/window mask)·v (B, T, H, D); lse (B, H, T)
    rt.dispatch('nn.attention', { q: blk.q, k: blk.k, v: blk.v, pos: a.pos, o: blk.att, lse: blk.lse }, this.attentionParams(l, b, t));
    // resMid = x + att·Woᵀ (M, C)
    await lin(w.o, blk.att, a.proj);
    rt.dispatch('linalg.add', { a: x, b: a.proj, c: blk.resMid }, { n: m * C });
    // ln2 = rmsnorm(resMid) (M, C)
    rt.dispatch('nn.rmsnorm', { x: blk.resMid, w: w.postNorm, y: blk.ln2, rstd: blk.rstd2 }, { n: m, c: C, eps: c.eps });
    // gate = ln2·Wgᵀ, up = ln2·Wuᵀ (M, I) — Phi-3: gateUp (M, 2I), then split
    if (w.gateUp) {
      await lin(w.gateUp, blk.ln2, blk.gateUp!);
      takeColumns(rt, this.selectors, blk.gateUp!, blk.gate, m, 2 * I, 0, I);
      takeColumns(rt, this.selectors, blk.gateUp!, blk.up, m, 2 * I, I, I);
    } else {
      await lin(w.gate!, blk.ln2, blk.gate);
      await lin(w.up!, blk.ln2, blk.up);
    }
    // act = silu(gate)·up (M, I)
    rt.dispatch('nn.swiglu', { gate: blk.gate, up: blk.up, out: blk.act }, { n: m, inter: I });
    // x_{l+1} = resMid + act·Wdᵀ (M, C)
    await lin(w.down, blk.act, a.proj);
    rt.dispatch('linalg.add', { a: blk.resMid, b: a.proj, c: a.residual[l + 1] }, { n: m * C });
  }

  private attentionParams(l: number, b: number, t: number) {
    const c = this.config;
    return { b, t, h: c.heads, h_kv: c.kvHeads, d: c.headDim, window: c.windows[l], scale: Math.fround(1 / Math.sqrt(c.headDim)) };
  }

  /** The LoRA layer of a module when it has running adapters. */
  private loraLayer(name: string): LoraLinear | undefined {
    const layer = this.lora?.layers.get(name);
    return layer && layer.runningAdapters.length > 0 ? layer : undefined;
  }

  /** y (M, N) = x (M, K)·Wᵀ (+ bias) (+ Σ s·B·A·x through LoraLinear). */
  private async linearForward(mod: LinearModule, x: Tensor, y: Tensor, m: number, training: boolean, keep: boolean, recompute = false): Promise<void> {
    const rt = this.runtime;
    const layer = this.loraLayer(mod.name);
    if (!layer) {
      mod.base.forward(x, y, m);
      if (mod.bias) addBias(rt, this.acts!.ones, mod.bias, y, m, mod.base.outFeatures);
      return;
    }
    const state = this.moduleState.get(mod.name) ?? {};
    // Straight into the named buffer (the bits of forward's own output; nothing allocated).
    const saved = await layer.forwardInto(x, y, { training, dropoutOffset: recompute ? state.dropoutOffset : undefined });
    if (!recompute) state.dropoutOffset = saved.branches[0]?.dropoutOffset;
    if (keep) state.saved = saved;
    else releaseSaved(saved);
    this.moduleState.set(mod.name, state);
  }

  /** c (M, N) = alpha·a·op(b) + beta·c, one product. */
  private matmul(a: Tensor, b: Tensor, c: Tensor, m: number, n: number, k: number, o: { transA?: boolean; transB?: boolean; beta?: number; alpha?: number } = {}): void {
    this.runtime.dispatch(
      'linalg.matmul',
      { a, b, c },
      { m, n, k, trans_a: o.transA ? 1 : 0, trans_b: o.transB ? 1 : 0, batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, alpha: o.alpha ?? 1, beta: o.beta ?? 0 },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Generation with a KV cache (kv-cache.ts): inference only, independent of forward's buffers
  // -------------------------------------------------------------------------------------------

  /** A KV cache for one row of up to `capacity` tokens (2·L·KV·4 bytes per token). */
  createKvCache(capacity: number): KvCache {
    return new KvCache(this.runtime, this.config, capacity);
  }

  /**
   * Inference forward of the next tokens of one row with a KV cache (a prompt's prefill, then one
   * token per step): appends their keys and values and returns the last token's logits [1, V] (the
   * cache's tensor, overwritten by the next call). The same bits as `forward`'s last row.
   */
  forwardCached(cache: KvCache, inputIds: ArrayLike<number>): Promise<Tensor> {
    return decodeForward({ model: this, rope: this.ropeTables, selectors: this.selectors }, cache, inputIds);
  }

  // -------------------------------------------------------------------------------------------
  // Backward
  // -------------------------------------------------------------------------------------------

  /**
   * Gradients of the last training forward's loss with respect to every trainable tensor (LoRA A, B
   * of the active adapter, or every weight). The logits buffer is consumed (it holds dlogits after).
   */
  async backward(options: BackwardOptions = {}): Promise<void> {
    const rt = this.runtime;
    const c = this.config;
    const a = this.acts;
    const last = this.last;
    if (!a || !last?.training || !a.grads) throw new ConfigError('Decoder.backward', 'a training forward (forward(batch, { training: true })) just before', 'none');
    if (!last.hasLabels) throw new ConfigError('Decoder.backward', 'a forward with labels', 'a forward without labels');
    if (!this.lora && !this.fullGrads) throw new ConfigError('Decoder.backward', 'trainable parameters (addAdapter, loadAdapter with isTrainable, or enableFullFineTuning)', 'none');
    const g = a.grads;
    const { b, t } = a;
    const m = b * t;
    const C = c.hidden;
    const acc = options.accumulate ? 1 : 0;
    const full = this.fullGrads;
    const divisor = options.divisor ?? last.labelTokens;
    rt.write(g.dloss, new Float32Array(m).fill(divisor > 0 ? (options.scale ?? 1) / divisor : 0));

    // dlogits = (softmax(logits) - onehot(labels))·dloss, in place over the logits (M, V)
    rt.dispatch('nn.cross_entropy_backward', { dlogits: a.logits, labels: a.labels, lse: a.lseCe, dloss: g.dloss }, { n: m, v: c.vocab, ignore_index: IGNORE_INDEX });
    // dlnf = dlogits·W (M, C); dW (+)= dlogitsᵀ·lnf (V, C) — tied: W is the embedding table
    if (this.weights.lmHead) await this.linearBackward(this.weights.lmHead, a.lnf, a.logits, g.dLn, m, 0, acc);
    else {
      this.matmul(a.logits, this.weights.embed, g.dLn, m, C, c.vocab);
      if (full) this.matmul(a.logits, a.lnf, full.get('model.embed_tokens.weight')!, c.vocab, C, m, { transA: true, beta: acc });
    }
    // dx_L = rmsnorm_backward(x_L, dlnf) (M, C); dw_norm (+)= Σ dlnf·xhat
    this.rmsnormBackward(a.residual[c.layers], this.weights.norm, a.rstdf, g.dLn, g.dRes, 'model.norm.weight', acc);
    for (let l = c.layers - 1; l >= 0; l--) {
      const blk = a.blocks[this.checkpointing ? 0 : l];
      if (this.checkpointing) await this.blockForward(l, a, blk, true, true, true);
      await this.blockBackward(l, a, blk, acc);
    }
    // dtable (+)= Σ over tokens of dx_0 at their ids (tied: added to the head's gradient above)
    if (full) {
      const tiedAcc = this.weights.lmHead ? acc : 1;
      rt.dispatch('nn.embedding_backward', { ids: a.ids, dout: g.dRes, dtable: full.get('model.embed_tokens.weight')! }, { n: m, c: C, v: c.vocab, accumulate: tiedAcc });
    }
    this.last = { ...last, training: false };
  }

  /** One block's backward: dRes holds d loss / d x_{l+1} on entry and d loss / d x_l on exit. */
  private async blockBackward(l: number, a: Activations, blk: BlockActivations, acc: 0 | 1): Promise<void> {
    const rt = this.runtime;
    const c = this.config;
    const w = this.weights.layers[l];
    const g = a.grads!;
    const { b, t } = a;
    const m = b * t;
    const [Q, KV, I, C] = [qWidth(c), kvWidth(c), c.intermediate, c.hidden];
    const p = `model.layers.${l}`;
    const rope = { cos: this.ropeTables.cos!, sin: this.ropeTables.sin! };
    const maxPos = this.ropeTables.maxPos;

    // MLP: x_{l+1} = resMid + down(act). dAct = dRes·Wd (M, I)
    await this.linearBackward(w.down, blk.act, g.dRes, g.dAct, m, 0, acc);
    // dgate = dAct·up·silu'(gate), dup = dAct·silu(gate) (M, I)
    rt.dispatch('nn.swiglu_backward', { gate: blk.gate, up: blk.up, dout: g.dAct, dgate: g.dGate, dup: g.dUp }, { n: m, inter: I });
    // dln2 = dgate·Wg + dup·Wu (M, C) — Phi-3: [dgate | dup] through gate_up_proj
    if (w.gateUp) {
      putColumns(rt, this.selectors, g.dUp, g.dGateUp!, m, 2 * I, I, I, 0);
      putColumns(rt, this.selectors, g.dGate, g.dGateUp!, m, 2 * I, 0, I, 1);
      await this.linearBackward(w.gateUp, blk.ln2, g.dGateUp!, g.dLn, m, 0, acc);
    } else {
      await this.linearBackward(w.gate!, blk.ln2, g.dGate, g.dLn, m, 0, acc);
      await this.linearBackward(w.up!, blk.ln2, g.dUp, g.dLn, m, 1, acc);
    }
    // dRes += rmsnorm_backward(resMid, dln2): now d loss / d resMid
    this.rmsnormBackward(blk.resMid, w.postNorm, blk.rstd2, g.dLn, g.dTmp, `${p}.post_attention_layernorm.weight`, acc);
    rt.dispatch('linalg.axpy', { x: g.dTmp, y: g.dRes }, { n: m * C, alpha: 1 });
    // Attention: resMid = x_l + o(att). dAtt = dRes·Wo (M, Q)
    await this.linearBackward(w.o, blk.att, g.dRes, g.dAtt, m, 0, acc);
    // dq (M, Q), dk, dv (M, KV) — dk, dv summed over the heads of each group
    rt.dispatch(
      'nn.attention_backward',
      { q: blk.q, k: blk.k, v: blk.v, pos: a.pos, o: blk.att, lse: blk.lse, dout: g.dAtt, dq: g.dQ, dk: g.dK, dv: g.dV, delta: g.delta },
      this.attentionParams(l, b, t),
    );
    // dqRaw = rope_backward(dq), dkRaw = rope_backward(dk): the transpose rotation
    rt.dispatch('nn.rope_backward', { dy: g.dQ, pos: a.pos, ...rope, dx: g.dQr }, { n: m, h: c.heads, d: c.headDim, max_pos: maxPos });
    rt.dispatch('nn.rope_backward', { dy: g.dK, pos: a.pos, ...rope, dx: g.dKr }, { n: m, h: c.kvHeads, d: c.headDim, max_pos: maxPos });
    // dln1 = dqRaw·Wq + dkRaw·Wk + dv·Wv (M, C) — Phi-3: [dq | dk | dv] through qkv_proj
    if (w.qkv) {
      const F = Q + 2 * KV;
      putColumns(rt, this.selectors, g.dV, g.dQkv!, m, F, Q + KV, KV, 0);
      putColumns(rt, this.selectors, g.dKr, g.dQkv!, m, F, Q, KV, 1);
      putColumns(rt, this.selectors, g.dQr, g.dQkv!, m, F, 0, Q, 1);
      await this.linearBackward(w.qkv, blk.ln1, g.dQkv!, g.dLn, m, 0, acc);
    } else {
      await this.linearBackward(w.q!, blk.ln1, g.dQr, g.dLn, m, 0, acc);
      await this.linearBackward(w.k!, blk.ln1, g.dKr, g.dLn, m, 1, acc);
      await this.linearBackward(w.v!, blk.ln1, g.dV, g.dLn, m, 1, acc);
    }
    // dRes += rmsnorm_backward(x_l, dln1): now d loss / d x_l
    this.rmsnormBackward(a.residual[l], w.inputNorm, blk.rstd1, g.dLn, g.dTmp, `${p}.input_layernorm.weight`, acc);
    rt.dispatch('linalg.axpy', { x: g.dTmp, y: g.dRes }, { n: m * C, alpha: 1 });
  }

  /** dx = rmsnorm_backward(x, w, rstd, dy); dw into the full fine-tuning gradient or scratch. */
  private rmsnormBackward(x: Tensor, w: Tensor, rstd: Tensor, dy: Tensor, dx: Tensor, name: string, acc: 0 | 1): void {
    const a = this.acts!;
    const dw = this.fullGrads?.get(name);
    this.runtime.dispatch('nn.rmsnorm_backward', { x, w, rstd, dy, dx, dw: dw ?? a.grads!.dwJunk }, { n: a.b * a.t, c: this.config.hidden, accumulate: dw ? acc : 0 });
  }

  /**
   * dx (M, K) (beta: 0 writes, 1 adds) = dy (M, N)·W (+ LoRA's input gradient); the LoRA gradients
   * (LoraLinear.backward), or dW (+)= dyᵀ·x and db (+)= Σ dy for full fine-tuning.
   */
  private async linearBackward(mod: LinearModule, x: Tensor, dy: Tensor, dx: Tensor | undefined, m: number, beta: 0 | 1, acc: 0 | 1): Promise<void> {
    const rt = this.runtime;
    const [n, k] = [mod.base.outFeatures, mod.base.inFeatures];
    const state = this.moduleState.get(mod.name);
    const layer = this.loraLayer(mod.name);
    if (layer && state?.saved) {
      // Into dx (beta 1: added as linalg.axpy of the fresh gradient, the bits of a copy-then-add).
      await layer.backward(state.saved, dy, { accumulate: acc === 1, inputGradient: dx !== undefined, dx, dxBeta: beta });
      state.saved = undefined;
    } else if (dx) mod.base.inputGrad(dy, dx, m, beta);
    const full = this.fullGrads;
    if (full) {
      this.matmul(dy, x, full.get(`${mod.name}.weight`)!, n, k, m, { transA: true, beta: acc });
      if (mod.bias) columnSums(rt, this.acts!.ones, dy, full.get(`${mod.name}.bias`)!, m, n, acc);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Host-side inputs
  // -------------------------------------------------------------------------------------------

  /** Validate a batch and build the i32 arrays the kernels read (labels shifted by one). */
  private hostInputs(batch: Batch): { ids: Int32Array; pos: Int32Array; labels: Int32Array; labelTokens: number; hasLabels: boolean; maxPos: number } {
    const c = this.config;
    const { b, t } = batch;
    if (!(Number.isInteger(b) && b > 0 && Number.isInteger(t) && t > 0)) throw new TensorError('batch', 'positive integers b and t', `b ${b}, t ${t}`);
    const m = b * t;
    const check = (name: string, v: ArrayLike<number> | undefined) => {
      if (v !== undefined && v.length !== m) throw new TensorError(`batch.${name}`, `${m} values (b·t = ${b}·${t})`, `${v.length}`);
    };
    check('inputIds', batch.inputIds);
    check('positionIds', batch.positionIds);
    check('labels', batch.labels);
    const ids = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      const id = batch.inputIds[i];
      if (!(Number.isInteger(id) && id >= 0 && id < c.vocab)) throw new TensorError(`batch.inputIds[${i}]`, `a token id in [0, ${c.vocab}) (vocab_size)`, String(id));
      ids[i] = id;
    }
    const pos = new Int32Array(m);
    let maxPos = 0;
    for (let i = 0; i < m; i++) {
      const p = batch.positionIds ? batch.positionIds[i] : i % t;
      if (!(Number.isInteger(p) && p >= 0 && p < 2 ** 31)) throw new TensorError(`batch.positionIds[${i}]`, 'a non-negative integer', String(p));
      pos[i] = p;
      if (p > maxPos) maxPos = p;
    }
    const labels = new Int32Array(m).fill(IGNORE_INDEX);
    let labelTokens = 0;
    if (batch.labels) {
      for (let r = 0; r < b; r++) {
        for (let i = 0; i < t - 1; i++) {
          const y = batch.labels[r * t + i + 1];
          if (y !== IGNORE_INDEX && !(Number.isInteger(y) && y >= 0 && y < c.vocab)) {
            throw new TensorError(`batch.labels[${r * t + i + 1}]`, `a token id in [0, ${c.vocab}) or ${IGNORE_INDEX}`, String(y));
          }
          labels[r * t + i] = y;
          if (y !== IGNORE_INDEX) labelTokens++;
        }
      }
    }
    return { ids, pos, labels, labelTokens, hasLabels: batch.labels !== undefined, maxPos };
  }

  /** Free the LoRA states kept for a backward that will not come. */
  private releaseSaved(): void {
    for (const s of this.moduleState.values()) {
      if (s.saved) releaseSaved(s.saved);
      s.saved = undefined;
    }
  }

  /** Free everything: activations, tables, adapters, gradients and the weights. */
  dispose(): void {
    this.releaseSaved();
    if (this.acts) freeActivations(this.runtime, this.acts);
    this.acts = undefined;
    this.ropeTables.free();
    this.selectors.free();
    this.lora?.free();
    this.lora = undefined;
    for (const g of this.fullGrads?.values() ?? []) this.runtime.free(g);
    this.fullGrads = undefined;
    freeDecoderWeights(this.runtime, this.weights);
  }
}
