/**
 * Parameters as the optimizers see them: a named f32 tensor and its gradient, on one runtime,
 * grouped into parameter groups that each carry their own hyper-parameters (torch's param_groups).
 */
import { ConfigError, type Runtime, type Tensor, TensorError } from '@kvant/abi';

/** One trainable tensor and its gradient (same shape, f32, on the optimizer's runtime). */
export interface NamedParam {
  /** A unique name, used in state files and error messages (e.g. `layers.0.q_proj.lora_A`). */
  readonly name: string;
  readonly param: Tensor;
  readonly grad: Tensor;
}

/** A parameter group: its params, and hyper-parameters that override the optimizer's defaults. */
export type ParamGroup<H> = { readonly params: readonly NamedParam[] } & Partial<H>;

/** What an optimizer accepts: a flat list of params (one group) or a list of groups. */
export type ParamsInput<H> = readonly NamedParam[] | readonly ParamGroup<H>[];

/** A group with every hyper-parameter resolved. `lr` changes as a schedule runs; `initialLr` does not. */
export interface ResolvedGroup<H> {
  readonly params: readonly NamedParam[];
  hyper: H;
  /** The lr the group was created with (a schedule multiplies it; a loaded state restores it). */
  initialLr: number;
}

function isGroupList<H>(input: ParamsInput<H>): input is readonly ParamGroup<H>[] {
  return input.length > 0 && 'params' in input[0] && !('param' in input[0]);
}

/** Check every param against its grad and the runtime, and resolve each group's hyper-parameters. */
export function resolveGroups<H extends { lr: number }>(
  where: string,
  runtime: Runtime,
  input: ParamsInput<H>,
  defaults: H,
  check: (where: string, h: H) => void,
): ResolvedGroup<H>[] {
  if (!Array.isArray(input) || input.length === 0) throw new ConfigError(where, 'a non-empty list of params or param groups', describe(input));
  const groups: ParamGroup<H>[] = isGroupList(input) ? [...input] : [{ params: input as readonly NamedParam[] } as ParamGroup<H>];
  const names = new Set<string>();
  const tensors = new Set<Tensor>();
  return groups.map((g, gi) => {
    const groupWhere = `${where}: param group ${gi}`;
    if (!g || !Array.isArray(g.params)) throw new ConfigError(groupWhere, 'an object with a params list', describe(g));
    const { params, ...overrides } = g;
    for (const key of Object.keys(overrides)) {
      if (!(key in defaults)) throw new ConfigError(groupWhere, `hyper-parameters among ${Object.keys(defaults).join(', ')}`, `an unknown option ${key}`);
    }
    const hyper = { ...defaults, ...(overrides as unknown as Partial<H>) } as H;
    check(groupWhere, hyper);
    for (const p of params) checkParam(where, runtime, p, names, tensors);
    return { params: [...params], hyper, initialLr: hyper.lr };
  });
}

function checkParam(where: string, runtime: Runtime, p: NamedParam, names: Set<string>, tensors: Set<Tensor>): void {
  if (!p || typeof p.name !== 'string' || p.name === '') throw new ConfigError(where, 'each param as {name, param, grad} with a non-empty name', describe(p));
  const at = `${where}: param ${p.name}`;
  if (names.has(p.name)) throw new ConfigError(at, 'each param name once', 'a repeated name');
  names.add(p.name);
  for (const [role, t] of [['param', p.param], ['grad', p.grad]] as const) {
    if (!t || typeof t.id !== 'number') throw new TensorError(`${at} (${role})`, 'a tensor', describe(t));
    if (t.runtime !== runtime) throw new TensorError(`${at} (${role})`, `a tensor on the optimizer's runtime (${runtime.name})`, `a tensor on ${t.runtime.name}`);
    if (t.dtype !== 'f32') throw new TensorError(`${at} (${role})`, 'dtype f32', `dtype ${t.dtype}`);
    if (tensors.has(t)) throw new TensorError(`${at} (${role})`, 'a tensor not used by another param or grad', 'a tensor listed twice');
    tensors.add(t);
  }
  if (!sameShape(p.param.shape, p.grad.shape)) {
    throw new TensorError(`${at}`, `a grad of the param's shape [${p.param.shape.join(', ')}]`, `a grad of shape [${p.grad.shape.join(', ')}]`);
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'object' ? `an object with keys ${Object.keys(v as object).join(', ') || '(none)'}` : `${typeof v} ${String(v)}`;
}

// ---------------------------------------------------------------------------------------------
// Hyper-parameter checks (torch.optim's messages, as typed errors)

/** A learning rate: finite and >= 0. */
export function checkLr(where: string, lr: number): void {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new ConfigError(`${where}: lr`, 'a finite learning rate >= 0', String(lr));
}

/** Adam's betas: each in [0, 1). */
export function checkBetas(where: string, betas: readonly [number, number]): void {
  if (!Array.isArray(betas) || betas.length !== 2) throw new ConfigError(`${where}: betas`, 'two numbers [beta1, beta2]', String(betas));
  betas.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) throw new ConfigError(`${where}: betas[${i}]`, 'a number in [0, 1)', String(b));
  });
}

/** A finite number >= 0 (eps, weight decay, momentum). */
export function checkNonNegative(where: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${where}: ${name}`, `a finite ${name} >= 0`, String(v));
}
