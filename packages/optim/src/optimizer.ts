/**
 * What every optimizer shares: parameter groups with their hyper-parameters, state tensors kept on
 * the runtime, the step count, zeroGrad, the bytes of the state, and the state dict (safetensors)
 * that resumes a run bit-identically.
 *
 * State file layout (one safetensors file):
 *   `<param name>.<state name>`  one tensor per state of each param (`exp_avg`, `state1`, ...), raw bits;
 *   `__metadata__`: format = "kvant-optim", optimizer = "AdamW" | "AdamW8bit" | "SGD",
 *                   state = JSON {version, step, groups: [{hyper, initial_lr, params: [names]}]}.
 * Loading checks everything before it writes anything: a file that does not fit leaves the
 * optimizer as it was and throws OptimizerStateError naming the tensor.
 */
import { ConfigError, DTYPE_BYTES, type Runtime, type Tensor, UnsupportedError } from '@kvant/abi';
import { SafetensorsFile, type SafetensorsArray, type SafetensorsDtype, writeSafetensors } from '@kvant/formats';
import { OptimizerStateError } from './errors';
import { type NamedParam, type ParamsInput, type ResolvedGroup, resolveGroups, sameShape } from './params';

/** One state tensor of one param, as an optimizer declares it. */
export interface StateSpec {
  /** Name within the param (`exp_avg`); the file key is `<param>.<key>`. */
  readonly key: string;
  readonly dtype: 'f32' | 'u8';
  readonly shape: readonly number[];
}

/** A state dict in host memory: what `saveState` writes and `loadState` reads. */
export interface OptimizerStateDict {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, { readonly dtype: SafetensorsDtype; readonly shape: readonly number[]; readonly data: SafetensorsArray }>;
}

/** Bytes of an optimizer's state on the runtime. */
export interface StateBytes {
  /** All state tensors and shared tables. */
  readonly total: number;
  /** State bytes per param name. */
  readonly byParam: Readonly<Record<string, number>>;
  /** Tables shared by every param (the 8-bit code maps), counted once. */
  readonly shared: number;
  /** total / number of parameter elements. */
  readonly bytesPerParameter: number;
}

const FORMAT = 'kvant-optim';
const VERSION = 1;
const ST_DTYPE: Record<'f32' | 'u8', SafetensorsDtype> = { f32: 'F32', u8: 'U8' };

/** Zeros for a whole tensor (its padded byte length). */
export function writeZeros(rt: Runtime, t: Tensor): void {
  rt.write(t, new Uint32Array(t.byteLength / 4));
}

/** Base class of AdamW, AdamW8bit and SGD. H: one group's hyper-parameters. */
export abstract class Optimizer<H extends { lr: number }> {
  /** The name written into state files (`AdamW`). */
  abstract readonly kind: string;
  /** Steps taken (torch's state['step']; every param steps every time). */
  protected steps = 0;
  protected readonly groups: ResolvedGroup<H>[];
  /** param name -> state key -> tensor. */
  protected readonly states = new Map<string, Map<string, Tensor>>();
  private disposed = false;

  protected constructor(
    readonly runtime: Runtime,
    params: ParamsInput<H>,
    private readonly defaults: H,
    kernels: readonly string[],
  ) {
    const where = new.target.name;
    this.checkHyper(where, defaults);
    for (const id of kernels) {
      const ok = runtime.supports(id);
      if (ok !== true) throw new UnsupportedError(runtime.name, `${where} (kernel ${id})`, ok);
    }
    this.groups = resolveGroups(where, runtime, params, defaults, (w, h) => this.checkHyper(w, h));
  }

  /** Throws ConfigError when a group's hyper-parameters are invalid. */
  protected abstract checkHyper(where: string, h: H): void;

  /** The state tensors of one param. */
  protected abstract stateLayout(p: NamedParam): StateSpec[];

  /** Dispatch one step for every param of a group; `t` is the new step number (>= 1). */
  protected abstract stepGroup(group: ResolvedGroup<H>, t: number): void;

  /** Bytes of tables shared by all params (the 8-bit maps). */
  protected sharedBytes(): number {
    return 0;
  }

  /** Allocate (and zero) every param's state; subclasses call this at the end of their constructor. */
  protected allocStates(): void {
    for (const p of this.params()) {
      const m = new Map<string, Tensor>();
      for (const s of this.stateLayout(p)) {
        const t = this.runtime.alloc(s.dtype, s.shape);
        writeZeros(this.runtime, t);
        m.set(s.key, t);
      }
      this.states.set(p.name, m);
    }
  }

  /** Every param, in group order. */
  params(): NamedParam[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Gradients by param name (for clipGradNorm). */
  namedGrads(): Record<string, Tensor> {
    return Object.fromEntries(this.params().map((p) => [p.name, p.grad]));
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The number of param groups. */
  get groupCount(): number {
    return this.groups.length;
  }

  /** Hyper-parameters of group `i` (a copy). */
  hyper(i = 0): H {
    return { ...this.groupAt(i).hyper };
  }

  /** The lr of group `i`. */
  lr(i = 0): number {
    return this.groupAt(i).hyper.lr;
  }

  /** The lr group `i` started with; a schedule multiplies it. */
  initialLr(i = 0): number {
    return this.groupAt(i).initialLr;
  }

  /** Set the lr of one group, or of every group when `group` is omitted. */
  setLr(lr: number, group?: number): void {
    const targets = group === undefined ? this.groups : [this.groupAt(group)];
    for (const g of targets) this.checkHyper(`${this.kind}.setLr`, { ...g.hyper, lr });
    for (const g of targets) g.hyper.lr = lr;
  }

  /** Set each group's lr to its initial lr times `factor` (what a schedule does each step). */
  setLrFactor(factor: number): void {
    const lrs = this.groups.map((g) => g.initialLr * factor);
    this.groups.forEach((g, i) => {
      this.checkHyper(`${this.kind}.setLrFactor(${factor}) group ${i}`, { ...g.hyper, lr: lrs[i] });
    });
    this.groups.forEach((g, i) => {
      g.hyper.lr = lrs[i];
    });
  }

  private groupAt(i: number): ResolvedGroup<H> {
    const g = this.groups[i];
    if (!g) throw new ConfigError(`${this.kind}: param group`, `an index in [0, ${this.groups.length})`, String(i));
    return g;
  }

  /** One optimizer step: kernel dispatches only, no host round trip. */
  step(): void {
    this.checkAlive();
    const t = this.steps + 1;
    for (const g of this.groups) this.stepGroup(g, t);
    this.steps = t;
  }

  /** Set every gradient to zero (one host-to-device write per gradient, no read). */
  zeroGrad(): void {
    this.checkAlive();
    for (const p of this.params()) writeZeros(this.runtime, p.grad);
  }

  /** The state tensors of a param (for inspection and tests). */
  stateTensors(name: string): ReadonlyMap<string, Tensor> {
    const s = this.states.get(name);
    if (!s) throw new ConfigError(`${this.kind}.stateTensors`, `a param name among ${[...this.states.keys()].join(', ')}`, JSON.stringify(name));
    return s;
  }

  /** Bytes of the state (what the runtime holds for this optimizer beyond params and grads). */
  stateBytes(): StateBytes {
    const byParam: Record<string, number> = {};
    let total = this.sharedBytes();
    let elements = 0;
    for (const p of this.params()) {
      let bytes = 0;
      for (const t of this.states.get(p.name)!.values()) bytes += t.byteLength;
      byParam[p.name] = bytes;
      total += bytes;
      elements += p.param.size;
    }
    return { total, byParam, shared: this.sharedBytes(), bytesPerParameter: elements ? total / elements : 0 };
  }

  /** Release the state tensors (params and grads belong to the caller). */
  dispose(): void {
    if (this.disposed) return;
    for (const m of this.states.values()) for (const t of m.values()) this.runtime.free(t);
    this.states.clear();
    this.disposed = true;
  }

  protected checkAlive(): void {
    if (this.disposed) throw new ConfigError(this.kind, 'an optimizer that was not disposed', 'a disposed optimizer');
  }

  // -------------------------------------------------------------------------------------------
  // State dict

  /** The state as host tensors and metadata (one read per state tensor). */
  async stateDict(): Promise<OptimizerStateDict> {
    this.checkAlive();
    await this.runtime.flush();
    const tensors = new Map<string, { dtype: SafetensorsDtype; shape: readonly number[]; data: SafetensorsArray }>();
    for (const p of this.params()) {
      const states = this.states.get(p.name)!;
      for (const s of this.stateLayout(p)) {
        const t = states.get(s.key)!;
        const bytes = (await this.runtime.read(t)).slice(0, t.size * DTYPE_BYTES[t.dtype]);
        const data = s.dtype === 'f32' ? new Float32Array(bytes.buffer, bytes.byteOffset, t.size) : bytes;
        tensors.set(`${p.name}.${s.key}`, { dtype: ST_DTYPE[s.dtype], shape: [...s.shape], data });
      }
    }
    const state = {
      version: VERSION,
      step: this.steps,
      groups: this.groups.map((g) => ({ hyper: g.hyper, initial_lr: g.initialLr, params: g.params.map((p) => p.name) })),
    };
    return { metadata: { format: FORMAT, optimizer: this.kind, state: JSON.stringify(state) }, tensors };
  }

  /** Write the state to a safetensors file (atomically: a crash leaves the old file or the new one). */
  async saveState(path: string): Promise<void> {
    const dict = await this.stateDict();
    await writeSafetensors(path, dict.tensors, { metadata: dict.metadata });
  }

  /** Load a state file written by `saveState` for the same params; throws OptimizerStateError when it does not fit. */
  async loadState(path: string): Promise<void> {
    this.checkAlive();
    const file = await SafetensorsFile.open(path);
    try {
      const infos = new Map(file.list().map((i) => [i.name, { dtype: i.dtype, shape: i.shape }]));
      const plan = this.planLoad(path, file.metadata, infos);
      const data = new Map<string, Uint8Array>();
      for (const key of plan.keys) data.set(key, await file.readBytes(key));
      this.applyLoad(plan, data);
    } finally {
      await file.close();
    }
  }

  /** Load a state dict held in memory (see `stateDict`). */
  loadStateDict(dict: OptimizerStateDict, source = '<state dict>'): void {
    this.checkAlive();
    const infos = new Map([...dict.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape }]));
    const plan = this.planLoad(source, dict.metadata, infos);
    const data = new Map<string, Uint8Array>();
    for (const key of plan.keys) {
      const a = dict.tensors.get(key)!.data;
      data.set(key, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    this.applyLoad(plan, data);
  }

  private planLoad(
    source: string,
    metadata: Readonly<Record<string, string>>,
    infos: ReadonlyMap<string, { dtype: SafetensorsDtype; shape: readonly number[] }>,
  ): LoadPlan<H> {
    const err = (tensor: string | undefined, expected: string, found: string) => new OptimizerStateError(source, tensor, expected, found);
    if (metadata.format !== FORMAT) throw err(undefined, `an optimizer state file (metadata format = "${FORMAT}")`, `format = ${JSON.stringify(metadata.format)}`);
    if (metadata.optimizer !== this.kind) throw err(undefined, `the state of a ${this.kind} optimizer`, `the state of ${JSON.stringify(metadata.optimizer)}`);
    let state: { version?: unknown; step?: unknown; groups?: unknown };
    try {
      state = JSON.parse(metadata.state ?? '');
    } catch {
      throw err(undefined, 'metadata "state" as JSON', JSON.stringify(metadata.state?.slice(0, 80)));
    }
    if (state.version !== VERSION) throw err(undefined, `state version ${VERSION}`, String(state.version));
    const step = state.step;
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw err(undefined, 'a step count >= 0', String(step));
    const groups = state.groups;
    if (!Array.isArray(groups) || groups.length !== this.groups.length) {
      throw err(undefined, `${this.groups.length} param group(s)`, Array.isArray(groups) ? `${groups.length}` : String(groups));
    }
    const hypers: H[] = [];
    const initialLrs: number[] = [];
    groups.forEach((g: { hyper?: Record<string, unknown>; initial_lr?: unknown; params?: unknown }, gi) => {
      const mine = this.groups[gi];
      const names = mine.params.map((p) => p.name);
      const theirs = Array.isArray(g?.params) ? (g.params as unknown[]) : [];
      for (const n of names) if (!theirs.includes(n)) throw err(n, `param ${n} in group ${gi} of the file`, `no such param (the file has ${theirs.length} in that group)`);
      for (const n of theirs) if (!names.includes(n as string)) throw err(String(n), `only the optimizer's params in group ${gi}`, `param ${String(n)}, which this optimizer does not have`);
      if (theirs.some((n, i) => n !== names[i])) throw err(undefined, `group ${gi} params in the order ${names.join(', ')}`, theirs.join(', '));
      const hyper = g.hyper ?? {};
      const keys = Object.keys(this.defaults);
      for (const k of keys) if (!(k in hyper)) throw err(undefined, `hyper-parameter ${k} of group ${gi}`, 'none');
      for (const k of Object.keys(hyper)) if (!keys.includes(k)) throw err(undefined, `hyper-parameters ${keys.join(', ')}`, `an unknown ${k} in group ${gi}`);
      try {
        this.checkHyper(`${source}: group ${gi}`, hyper as H);
      } catch (e) {
        throw err(undefined, 'valid hyper-parameters', (e as Error).message);
      }
      const initialLr = g.initial_lr;
      if (typeof initialLr !== 'number' || !Number.isFinite(initialLr) || initialLr < 0) throw err(undefined, `initial_lr of group ${gi} as a finite number >= 0`, String(initialLr));
      hypers.push({ ...(hyper as H) });
      initialLrs.push(initialLr);
    });
    const keys: string[] = [];
    const targets = new Map<string, Tensor>();
    for (const p of this.params()) {
      const states = this.states.get(p.name)!;
      for (const s of this.stateLayout(p)) {
        const key = `${p.name}.${s.key}`;
        const info = infos.get(key);
        if (!info) throw err(key, `state tensor ${key} (${ST_DTYPE[s.dtype]} [${s.shape.join(', ')}]) for param ${p.name}`, 'no such tensor');
        if (info.dtype !== ST_DTYPE[s.dtype] || !sameShape(info.shape, s.shape)) {
          throw err(key, `${ST_DTYPE[s.dtype]} [${s.shape.join(', ')}] for param ${p.name} of shape [${p.param.shape.join(', ')}]`, `${info.dtype} [${info.shape.join(', ')}]`);
        }
        keys.push(key);
        targets.set(key, states.get(s.key)!);
      }
    }
    for (const key of infos.keys()) if (!targets.has(key)) throw err(key, "only state tensors of this optimizer's params", `an extra tensor ${key}`);
    return { step, hypers, initialLrs, keys, targets };
  }

  private applyLoad(plan: LoadPlan<H>, data: ReadonlyMap<string, Uint8Array>): void {
    for (const key of plan.keys) {
      const t = plan.targets.get(key)!;
      const src = data.get(key)!;
      const padded = new Uint8Array(t.byteLength);
      padded.set(src);
      this.runtime.write(t, padded);
    }
    this.steps = plan.step;
    this.groups.forEach((g, i) => {
      g.hyper = plan.hypers[i];
      g.initialLr = plan.initialLrs[i];
    });
  }
}

interface LoadPlan<H> {
  readonly step: number;
  readonly hypers: H[];
  readonly initialLrs: number[];
  readonly keys: string[];
  readonly targets: Map<string, Tensor>;
}
