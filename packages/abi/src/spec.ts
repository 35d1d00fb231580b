import type { DType } from './dtypes';

/** The three 32-bit scalar types a kernel param may have. */
export type ParamType = 'u32' | 'i32' | 'f32';

/** One scalar param. Params are passed in the order declared, as 32-bit little-endian words. */
export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  /** What the param means (one line). */
  readonly doc: string;
}

/** read: the kernel only reads it; write: the kernel writes every element; readwrite: both. */
export type Access = 'read' | 'write' | 'readwrite';

/**
 * A dimension of a binding's symbolic shape: a literal, a param name, or the name of a derived
 * dimension declared in the spec (`blocks = ceil(n / blocksize)`).
 */
export type Dim = string | number;

/** One buffer the kernel reads or writes. */
export interface BindingSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
  readonly access: Access;
  /** What it holds, including its byte layout when elements are packed. */
  readonly doc: string;
  /**
   * Working memory: the caller allocates it (its shape gives the size) and the kernel may read and
   * write it freely; its contents on entry and on exit are unspecified. A scratch binding has
   * access `readwrite` and no tolerance; the conformance suite fills it with junk (not case data)
   * and never compares it.
   */
  readonly scratch?: boolean;
}

export type Params = Readonly<Record<string, number>>;

/** A check on params, run before dispatch on every runtime. */
export interface Precondition {
  /** The param the message names. */
  readonly param: string;
  /** The requirement in words, e.g. `blocksize is a power of two in [32, 4096]`. */
  readonly requirement: string;
  readonly check: (p: Params) => boolean;
}

/**
 * How an output is compared with the reference and between runtimes.
 * - `exact`: bits equal per element (-0 differs from +0; NaN payloads agree unless `nan: 'any'`). The default wherever
 *   every runtime computes the same f32 operations in the same order.
 * - `close`: |got - want| <= maxAbs + maxRel * |want|, NaN equals NaN, elementwise on f32. Only where
 *   the arithmetic really differs (a runtime's approximate division or square root), with the
 *   tightest bound that holds.
 * - `codes`: integer codes equal. On a runtime that declares the kernel approximate
 *   (`RuntimeInfo.approximate`), an element that the reference proves ambiguous (its scaled value
 *   lies within `midpointEps` of a decision threshold, relative to the spacing of the codes there)
 *   may be one code away, for at most `ambiguousBudget` elements per case. `packing` says how
 *   elements sit in bytes (one per byte, or two per byte, even element high).
 * - `nmse`: normalized mean squared error sum((got-want)^2)/sum(want^2) <= max.
 */
export type Tolerance =
  | {
      readonly kind: 'exact';
      /**
       * 'bits' (the default): NaN payloads must agree too. 'any': any NaN stands for any NaN, for
       * outputs where IEEE leaves the payload of an arithmetic NaN open (GPUs return a canonical
       * NaN, x86 the input's payload or 0xffc00000); every other bit, the sign of zero included, must agree.
       */
      readonly nan?: 'bits' | 'any';
    }
  | { readonly kind: 'close'; readonly maxAbs: number; readonly maxRel: number }
  | { readonly kind: 'codes'; readonly midpointEps: number; readonly packing: 'byte' | 'nibble'; readonly ambiguousBudget: number }
  | { readonly kind: 'nmse'; readonly max: number };

export interface Cost {
  /** Floating-point operations (a compare counts as one). */
  readonly flops: number;
  /** Bytes that must cross memory at least once (inputs read + outputs written). */
  readonly bytes: number;
}

/** A kernel, declared once as data; every runtime implements it under the same id. */
export interface KernelSpec {
  /** `family.name`, e.g. `quant.nf4_quantize`. */
  readonly id: string;
  /** One line: what it computes. */
  readonly summary: string;
  /** The math, in plain text with the binding and param names. */
  readonly math: string;
  readonly params: readonly ParamSpec[];
  /** Derived dimensions, computed from params (e.g. `blocks: p => ceil(p.n / p.blocksize)`). */
  readonly derived: Readonly<Record<string, (p: Params) => number>>;
  readonly bindings: readonly BindingSpec[];
  readonly preconditions: readonly Precondition[];
  /** Tolerance for every binding the kernel writes (scratch excepted), on a runtime with IEEE f32 arithmetic. */
  readonly tolerance: Readonly<Record<string, Tolerance>>;
  /**
   * Tolerances that replace `tolerance` for some outputs on a runtime that declares this kernel
   * approximate (`RuntimeInfo.approximate` lists its id: WGSL's division and square root may be
   * 2.5 ulp off). Outputs not named here keep `tolerance`; a runtime that does not list the
   * kernel is held to `tolerance` alone.
   */
  readonly approximate?: Readonly<Record<string, Tolerance>>;
  readonly cost: (p: Params) => Cost;
}

export function familyOf(id: string): string {
  return id.slice(0, id.indexOf('.'));
}

export function nameOf(id: string): string {
  return id.slice(id.indexOf('.') + 1);
}

const IDENT = /^[a-z][a-z0-9_]*$/;

/**
 * Names a binding or param may not take: they are keywords or address spaces in WGSL, CUDA C++ or
 * AssemblyScript, where every runtime declares bindings by their spec names (WGSL's `uniform`
 * would shadow `var<uniform> params`; `do` is a keyword in C and JS).
 */
const RESERVED = new Set([
  'uniform', 'storage', 'workgroup', 'private', 'function', 'handle', 'read', 'write', 'read_write', 'params', 'bindings',
  'do', 'if', 'else', 'for', 'while', 'loop', 'break', 'continue', 'return', 'switch', 'case', 'default', 'const', 'let', 'var',
  'fn', 'struct', 'true', 'false', 'enable', 'override', 'alias', 'new', 'delete', 'class', 'this', 'char', 'int',
  'float', 'double', 'long', 'short', 'unsigned', 'signed', 'void', 'auto', 'register', 'static', 'extern', 'union', 'enum',
]);

/** Declare a kernel spec; checks that the declaration is self-consistent. */
export function defineKernel(spec: KernelSpec): KernelSpec {
  const where = `kernel spec ${spec.id}`;
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (!/^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$/.test(spec.id)) fail('id must be family.name in snake_case');
  const names = new Set<string>();
  for (const p of spec.params) {
    if (!IDENT.test(p.name)) fail(`param name ${p.name} is not snake_case`);
    if (RESERVED.has(p.name)) fail(`param name ${p.name} is a keyword or reserved name in WGSL, CUDA or AssemblyScript`);
    if (names.has(p.name)) fail(`duplicate name ${p.name}`);
    names.add(p.name);
  }
  for (const d of Object.keys(spec.derived)) {
    if (!IDENT.test(d)) fail(`derived dim ${d} is not snake_case`);
    if (names.has(d)) fail(`duplicate name ${d}`);
    names.add(d);
  }
  for (const b of spec.bindings) {
    if (!IDENT.test(b.name)) fail(`binding name ${b.name} is not snake_case`);
    if (RESERVED.has(b.name)) fail(`binding name ${b.name} is a keyword or reserved name in WGSL, CUDA or AssemblyScript`);
    if (names.has(b.name)) fail(`duplicate name ${b.name}`);
    names.add(b.name);
    for (const dim of b.shape) {
      if (typeof dim === 'string' && !spec.params.some((p) => p.name === dim) && !(dim in spec.derived)) {
        fail(`binding ${b.name} has dim ${dim}, which is neither a param nor a derived dim`);
      }
    }
  }
  for (const b of spec.bindings) {
    if (b.scratch && b.access !== 'readwrite') fail(`binding ${b.name}: a scratch binding has access readwrite`);
    const compared = b.access !== 'read' && !b.scratch;
    if (compared !== b.name in spec.tolerance) fail(`binding ${b.name}: a tolerance is required exactly for written, non-scratch bindings`);
  }
  for (const name of Object.keys(spec.approximate ?? {})) {
    if (!(name in spec.tolerance)) fail(`approximate tolerance for ${name}, which is not a written binding`);
  }
  for (const c of spec.preconditions) {
    if (!spec.params.some((p) => p.name === c.param)) fail(`precondition names unknown param ${c.param}`);
  }
  return Object.freeze(spec);
}

/** Resolve a symbolic shape to numbers. */
export function resolveShape(spec: KernelSpec, shape: readonly Dim[], p: Params): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    if (d in spec.derived) return spec.derived[d](p);
    return p[d];
  });
}

/** Number of elements of a binding for given params. */
export function bindingElements(spec: KernelSpec, b: BindingSpec, p: Params): number {
  return resolveShape(spec, b.shape, p).reduce((a, x) => a * x, 1);
}

/** Common preconditions, so messages read the same everywhere. */
export const requires = {
  positive: (param: string): Precondition => ({
    param,
    requirement: `${param} >= 1`,
    check: (p) => p[param] >= 1,
  }),
  powerOfTwoIn: (param: string, lo: number, hi: number): Precondition => ({
    param,
    requirement: `${param} is a power of two in [${lo}, ${hi}]`,
    check: (p) => p[param] >= lo && p[param] <= hi && (p[param] & (p[param] - 1)) === 0,
  }),
  inRange: (param: string, lo: number, hi: number): Precondition => ({
    param,
    requirement: `${param} in [${lo}, ${hi}]`,
    check: (p) => p[param] >= lo && p[param] <= hi,
  }),
  oneOf: (param: string, values: readonly number[]): Precondition => ({
    param,
    requirement: `${param} is one of ${values.join(', ')}`,
    check: (p) => values.includes(p[param]),
  }),
  finite: (param: string): Precondition => ({
    param,
    requirement: `${param} is finite`,
    check: (p) => Number.isFinite(p[param]),
  }),
};
