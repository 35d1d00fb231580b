/**
 * LoraModel: named adapters over the linear modules of one base model, as PEFT's PeftModel /
 * LoraModel manage them — add, set active, disable (the base alone), delete, a weighted combination,
 * merge and unmerge, modules_to_save, and the trainable-parameter report.
 *
 * The model itself (attention, MLP, the order of layers) is @kvant/model's business: it calls
 * `layer(name).forward` for each adapted module and the base's forward for the others.
 */
import { ConfigError, type Runtime, type Tensor, upload } from '@kvant/abi';
import type { BaseWeight } from './base';
import { type LoraConfig, type ResolvedLoraConfig, resolveLoraConfig, type TargetModules } from './config';
import { type AdapterWeights, LoraLinear } from './layer';
import { type MergeOptions, type MergeReport, mergeLayer, unmergeLayer } from './merge';
import { seedFor } from './random';
import { axpy } from './ops';
import { effectiveTargetSpec, rankAndAlpha, selectTargets, type TargetableModel } from './targets';

/** One linear module of the base: its frozen weight and (optional) bias [N]. */
export interface BaseLinearModule {
  /** Full module path, e.g. model.layers.0.self_attn.q_proj. */
  readonly name: string;
  readonly base: BaseWeight;
  readonly bias?: Tensor;
}

/** What LoraModel needs to know about the base model. */
export interface BaseModel {
  readonly runtime: Runtime;
  /** `model_type` (llama, mistral, qwen2, phi3…): picks the default target_modules. */
  readonly modelType?: string;
  /** Every linear module, the output head included. */
  readonly linears: readonly BaseLinearModule[];
  /** The output head's module name (lm_head), which "all-linear" leaves out. */
  readonly outputHead?: string;
  /** Every other parameter (embeddings, norms…) by full name, e.g. model.norm.weight: counted, and copied by modules_to_save. */
  readonly otherParameters?: Readonly<Record<string, Tensor>>;
  /** Recorded as base_model_name_or_path when the config does not say. */
  readonly nameOrPath?: string;
}

/** An adapter's config as it applies to this base: resolved, with the modules it adapts. */
export interface AdapterConfig extends ResolvedLoraConfig {
  /** The modules this adapter adapts, in the base's order. */
  readonly targets: readonly string[];
  /** target_modules with the architecture default applied (what adapter_config.json records). */
  readonly targetSpec: TargetModules;
}

export interface AddAdapterOptions {
  /** Seed of A's init (mixed with module and adapter names). Default 0. */
  readonly seed?: number;
  /** Whether the adapter trains (default true; a loaded adapter is frozen unless is_trainable). */
  readonly trainable?: boolean;
  /** Set the weights of each module instead of initializing them (used by loadAdapter). */
  readonly weights?: (module: string) => AdapterWeights;
}

/** PEFT's print_trainable_parameters numbers. */
export interface TrainableParameters {
  readonly trainable: number;
  readonly all: number;
}

/** Bytes of an adapter on the runtime, its gradients and its AdamW states (2 f32 per parameter). */
export interface AdapterMemory {
  readonly parameters: number;
  readonly adapterBytes: number;
  readonly gradientBytes: number;
  readonly optimizerBytes: number;
  /** The frozen base's linear weights as stored (4-bit: codes + statistics). */
  readonly baseBytes: number;
}

export class LoraModel implements TargetableModel {
  /** The adapted modules, by name (a module is wrapped when the first adapter targets it). */
  readonly layers = new Map<string, LoraLinear>();
  readonly configs = new Map<string, AdapterConfig>();
  /** modules_to_save copies per adapter: adapter → full parameter name (lm_head.weight) → trainable tensor. */
  readonly modulesToSave = new Map<string, Map<string, Tensor>>();
  private activeName: string | undefined;
  private adaptersDisabled = false;
  private readonly linearByName: Map<string, BaseLinearModule>;

  private constructor(readonly baseModel: BaseModel) {
    this.linearByName = new Map(baseModel.linears.map((l) => [l.name, l]));
  }

  /** PEFT's get_peft_model: wrap `base` and add the first adapter (named "default" by default). */
  static async create(base: BaseModel, config: LoraConfig = {}, adapterName = 'default', options: AddAdapterOptions = {}): Promise<LoraModel> {
    const model = new LoraModel(base);
    await model.addAdapter(adapterName, config, options);
    return model;
  }

  /** A model with no adapter yet (to loadAdapter into, as PeftModel.from_pretrained). */
  static empty(base: BaseModel): LoraModel {
    return new LoraModel(base);
  }

  get runtime(): Runtime {
    return this.baseModel.runtime;
  }

  get linearModules(): string[] {
    return this.baseModel.linears.map((l) => l.name);
  }

  get outputHead(): string | undefined {
    return this.baseModel.outputHead;
  }

  get modelType(): string | undefined {
    return this.baseModel.modelType;
  }

  /** The active adapter's name. */
  get activeAdapter(): string {
    if (this.activeName === undefined) throw new ConfigError('LoraModel.activeAdapter', 'at least one adapter', 'none');
    return this.activeName;
  }

  get disabled(): boolean {
    return this.adaptersDisabled;
  }

  /** The adapted module `name`. */
  layer(name: string): LoraLinear {
    const l = this.layers.get(name);
    if (!l) throw new ConfigError('LoraModel.layer', `an adapted module (${[...this.layers.keys()].slice(0, 4).join(', ')}${this.layers.size > 4 ? ', …' : ''})`, JSON.stringify(name));
    return l;
  }

  /** The config of adapter `name`. */
  config(name: string): AdapterConfig {
    const c = this.configs.get(name);
    if (!c) throw new ConfigError('adapter', `one of ${[...this.configs.keys()].map((k) => JSON.stringify(k)).join(', ') || '(none)'}`, JSON.stringify(name));
    return c;
  }

  /** Resolve a config against this base: defaults, validation, targets. */
  resolve(config: LoraConfig | ResolvedLoraConfig, where = 'LoraConfig'): AdapterConfig {
    const c = resolveLoraConfig('targets' in config ? stripResolved(config as AdapterConfig) : config, where);
    return { ...c, targets: selectTargets(c, this), targetSpec: effectiveTargetSpec(c, this) };
  }

  /** PEFT's add_adapter: add adapter `name` to every module its config targets. The first adapter becomes active. */
  async addAdapter(name: string, config: LoraConfig | ResolvedLoraConfig, options: AddAdapterOptions = {}): Promise<AdapterConfig> {
    if (typeof name !== 'string' || name === '' || name.includes('/') || name.includes('\\')) {
      throw new ConfigError('adapter name', 'a non-empty name without path separators', JSON.stringify(name));
    }
    if (this.configs.has(name)) throw new ConfigError('adapter name', 'a name not used by another adapter', JSON.stringify(name));
    const c = this.resolve(config);
    const seed = options.seed ?? 0;
    for (const module of c.targets) {
      const { r, alpha } = rankAndAlpha(c, module);
      const layer = this.wrap(module);
      const spec = {
        r,
        loraAlpha: alpha,
        loraDropout: c.lora_dropout,
        useRslora: c.use_rslora,
        useDora: c.use_dora,
        init: c.init_lora_weights,
        seed: seedFor(seed, module, name),
        trainable: options.trainable ?? true,
      };
      if (options.weights) await layer.addAdapterWeights(name, spec, options.weights(module));
      else await layer.addAdapter(name, spec);
    }
    this.configs.set(name, c);
    this.modulesToSave.set(name, this.copyModulesToSave(c));
    this.setAdapter(this.activeName ?? name);
    return c;
  }

  private wrap(module: string): LoraLinear {
    let layer = this.layers.get(module);
    if (!layer) {
      const lin = this.linearByName.get(module)!;
      layer = new LoraLinear(lin.base, { bias: lin.bias, name: module });
      layer.active = [];
      this.layers.set(module, layer);
    }
    return layer;
  }

  /** Trainable copies of the modules_to_save parameters (weights dequantized to f32). */
  private copyModulesToSave(c: AdapterConfig): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const rt = this.runtime;
    for (const m of c.modules_to_save ?? []) {
      const re = new RegExp(`(^|\\.)${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
      let found = false;
      for (const lin of this.baseModel.linears) {
        if (!re.test(lin.name)) continue;
        found = true;
        const w = rt.alloc('f32', [lin.base.outFeatures, lin.base.inFeatures]);
        lin.base.dequantizeInto(w);
        out.set(`${lin.name}.weight`, w);
        if (lin.bias) out.set(`${lin.name}.bias`, copyTensor(rt, lin.bias));
      }
      for (const [pname, t] of Object.entries(this.baseModel.otherParameters ?? {})) {
        const module = pname.slice(0, pname.lastIndexOf('.'));
        if (!re.test(module)) continue;
        found = true;
        out.set(pname, copyTensor(rt, t));
      }
      if (!found) throw new ConfigError('LoraConfig.modules_to_save', 'names of modules of the base', JSON.stringify(m));
    }
    return out;
  }

  /** PEFT's set_adapter: `name` becomes the active adapter in every module; it trains, the others are frozen. */
  setAdapter(name: string): void {
    this.config(name);
    for (const layer of this.layers.values()) {
      layer.active = layer.adapters.has(name) ? [name] : [];
      for (const a of layer.adapters.values()) a.trainable = a.name === name && this.isTrainable.get(name) !== false;
      const c = this.configs.get(name);
      layer.biasTrainable = c !== undefined && c.bias !== 'none' && layer.adapters.has(name);
    }
    this.activeName = name;
  }

  /** Adapters loaded frozen (is_trainable false) stay frozen when set active. */
  readonly isTrainable = new Map<string, boolean>();

  /** PEFT's disable_adapter: forward runs the base alone (merged adapters are unmerged first). */
  async disableAdapters(options: MergeOptions = {}): Promise<MergeReport[]> {
    const reports = await this.unmerge(options);
    for (const layer of this.layers.values()) layer.disabled = true;
    this.adaptersDisabled = true;
    return reports;
  }

  /** Undo disableAdapters. */
  enableAdapters(): void {
    for (const layer of this.layers.values()) layer.disabled = false;
    this.adaptersDisabled = false;
  }

  /** PEFT's delete_adapter: remove adapter `name` everywhere; if it was active, the first remaining one becomes active. */
  deleteAdapter(name: string): void {
    this.config(name);
    for (const [module, layer] of this.layers) {
      if (!layer.adapters.has(name)) continue;
      layer.deleteAdapter(name);
      if (layer.adapters.size === 0) {
        this.layers.delete(module);
        layer.free({ base: false });
      }
    }
    for (const t of this.modulesToSave.get(name)?.values() ?? []) this.runtime.free(t);
    this.modulesToSave.delete(name);
    this.configs.delete(name);
    this.isTrainable.delete(name);
    if (this.activeName === name) {
      this.activeName = undefined;
      const next = [...this.configs.keys()][0];
      if (next !== undefined) this.setAdapter(next);
    }
  }

  /**
   * PEFT's add_weighted_adapter with combination_type "linear": adapters of equal rank combine as
   * A = Σ sign(wᵢsᵢ)·sqrt(|wᵢsᵢ|)·Aᵢ and B = Σ sqrt(|wᵢsᵢ|)·Bᵢ, with r and lora_alpha = r (scaling 1).
   * This is not Σ wᵢ·sᵢ·Bᵢ·Aᵢ (cross terms remain) — PEFT calls it "a very rough approximation".
   * Unlike PEFT, an existing name is an error rather than a silent no-op.
   */
  async addWeightedAdapter(adapters: readonly string[], weights: readonly number[], name: string, combinationType: 'linear' = 'linear'): Promise<AdapterConfig> {
    if (combinationType !== 'linear') throw new ConfigError('add_weighted_adapter combination_type', '"linear" (svd, cat, ties, dare_* are not implemented)', JSON.stringify(combinationType));
    if (adapters.length === 0 || adapters.length !== weights.length) {
      throw new ConfigError('add_weighted_adapter', 'one weight per adapter and at least one adapter', `${adapters.length} adapters, ${weights.length} weights`);
    }
    weights.forEach((w, i) => {
      if (!Number.isFinite(w)) throw new ConfigError(`add_weighted_adapter weights[${i}]`, 'a finite number', String(w));
    });
    const configs = adapters.map((a) => this.config(a));
    const ranks = new Set(configs.flatMap((c) => c.targets.map((t) => rankAndAlpha(c, t).r)));
    if (ranks.size !== 1) throw new ConfigError('add_weighted_adapter adapters', 'adapters of one rank (combination_type linear)', `ranks ${[...ranks].join(', ')}`);
    if (configs.some((c) => c.use_dora)) throw new ConfigError('add_weighted_adapter adapters', 'plain LoRA adapters (DoRA magnitudes do not combine linearly)', 'a DoRA adapter');
    const kinds = new Set(configs.map((c) => typeof c.targetSpec));
    if (kinds.size > 1) throw new ConfigError('add_weighted_adapter adapters', 'target_modules all lists or all regexes', 'a mix');
    const r = [...ranks][0];
    const targetSpec: TargetModules =
      typeof configs[0].targetSpec === 'string'
        ? configs.map((c) => `(${c.targetSpec as string})`).join('|')
        : [...new Set(configs.flatMap((c) => c.targetSpec as readonly string[]))];
    const rt = this.runtime;
    const weightsOf = new Map<string, AdapterWeights>();
    const combined = { ...configs[0], r, lora_alpha: r, rank_pattern: {}, alpha_pattern: {}, target_modules: targetSpec, use_rslora: false };
    const targets = [...new Set(configs.flatMap((c) => c.targets))];
    for (const module of targets) {
      const layer = this.layer(module);
      const sources = adapters.map((a, i) => ({ a: layer.adapters.get(a), w: weights[i] })).filter((s) => s.a !== undefined);
      const A = upload(rt, 'f32', [r, layer.inFeatures], new Float32Array(r * layer.inFeatures));
      const B = upload(rt, 'f32', [layer.outFeatures, r], new Float32Array(layer.outFeatures * r));
      for (const { a, w } of sources) {
        const ws = w * a!.scaling;
        const root = Math.sqrt(Math.abs(ws));
        axpy(rt, ws >= 0 ? root : -root, a!.A, A, A.size);
        axpy(rt, root, a!.B, B, B.size);
      }
      weightsOf.set(module, { A, B });
    }
    const c = await this.addAdapter(name, { ...stripResolved(combined) }, { weights: (m) => weightsOf.get(m)!, trainable: false });
    return c;
  }

  /** PEFT's get_nb_trainable_parameters: 4-bit weights at their original element count; "all" includes every adapter and the modules_to_save copies. */
  trainableParameters(): TrainableParameters {
    let all = 0;
    let trainable = 0;
    const active = this.activeName;
    const activeConfig = active === undefined ? undefined : this.configs.get(active);
    const adapted = new Set(this.layers.keys());
    for (const lin of this.baseModel.linears) {
      all += lin.base.elementCount;
      if (lin.bias) {
        all += lin.bias.size;
        if (activeConfig && (activeConfig.bias === 'all' || (activeConfig.bias === 'lora_only' && adapted.has(lin.name) && this.layer(lin.name).adapters.has(active!)))) {
          trainable += lin.bias.size;
        }
      }
    }
    for (const [pname, t] of Object.entries(this.baseModel.otherParameters ?? {})) {
      all += t.size;
      if (activeConfig?.bias === 'all' && pname.endsWith('.bias')) trainable += t.size;
    }
    for (const layer of this.layers.values()) {
      for (const a of layer.adapters.values()) {
        all += a.parameterCount;
        if (a.trainable) trainable += a.parameterCount;
      }
    }
    for (const [adapter, copies] of this.modulesToSave) {
      for (const t of copies.values()) {
        all += t.size;
        if (adapter === active && this.isTrainable.get(adapter) !== false) trainable += t.size;
      }
    }
    return { trainable, all };
  }

  /** The line PEFT prints: `trainable params: 9,216 || all params: 99,648 || trainable%: 9.2486`. */
  printTrainableParameters(log: (line: string) => void = console.log): string {
    const { trainable, all } = this.trainableParameters();
    const line = `trainable params: ${withCommas(trainable)} || all params: ${withCommas(all)} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
    log(line);
    return line;
  }

  /** Memory of the trainable parameters (f32), their gradients and AdamW's two f32 states, next to the frozen base. */
  memoryReport(): AdapterMemory {
    const { trainable } = this.trainableParameters();
    let baseBytes = 0;
    for (const lin of this.baseModel.linears) baseBytes += lin.base.byteLength;
    return { parameters: trainable, adapterBytes: 4 * trainable, gradientBytes: 4 * trainable, optimizerBytes: 8 * trainable, baseBytes };
  }

  /** Merge the active adapter into every adapted module's base (4-bit bases warn about the rounding). */
  async merge(options: MergeOptions = {}): Promise<MergeReport[]> {
    const name = this.activeAdapter;
    const reports: MergeReport[] = [];
    for (const layer of this.layers.values()) if (layer.adapters.has(name)) reports.push(...(await mergeLayer(layer, [name], options)));
    return reports;
  }

  /** Take merged adapters out of every base again. */
  async unmerge(options: MergeOptions = {}): Promise<MergeReport[]> {
    const reports: MergeReport[] = [];
    for (const layer of this.layers.values()) reports.push(...(await unmergeLayer(layer, options)));
    return reports;
  }

  /** Free every adapter, gradient and copy (the base weights belong to the caller and stay). */
  free(): void {
    for (const name of [...this.configs.keys()]) this.deleteAdapter(name);
  }
}

function copyTensor(rt: Runtime, t: Tensor): Tensor {
  const c = rt.alloc(t.dtype, t.shape);
  rt.dispatch('linalg.scale', { x: t, y: c }, { n: t.size, alpha: 1 });
  return c;
}

/** A resolved config as plain LoraConfig fields (drops targets/targetSpec). */
export function stripResolved(c: AdapterConfig | ResolvedLoraConfig): ResolvedLoraConfig {
  const { targets: _t, targetSpec: _s, ...rest } = c as AdapterConfig;
  return rest;
}

function withCommas(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
