/**
 * Loading the kernels module: the .wasm bytes are embedded as base64 (src/generated/wasm-binary.ts,
 * written by scripts/build.ts), so Node, browser bundles and a bundled kit need no file lookups.
 * Two builds of the same sources: one with its own memory (single-threaded), one that imports a
 * shared memory (threads: the runtime and each of its workers instantiate it over one memory).
 * Each is compiled once per process and instantiated once per runtime (and per worker).
 */
import { KERNELS, RuntimeFailure, UnsupportedError, cIdent } from '@kvant/abi';
import { WASM_BASE64, WASM_MT_BASE64, WASM_MT_MIN_PAGES } from './generated/wasm-binary';
import { UNSUPPORTED } from './unsupported';

/** A kernel export: `family__name(paramsPtr, bindingsPtr)`. */
export type KernelFn = (params: number, bindings: number) => void;
/**
 * A splittable kernel's `family__name__part(params, bindings, part, parts, scratch)`: computes part
 * `part` of `parts` disjoint shares of the output, bit-identical to the whole kernel, using the
 * SCRATCH_BYTES at `scratch` as its private working memory.
 */
export type PartFn = (params: number, bindings: number, part: number, parts: number, scratch: number) => void;

/** Private working memory a `__part` call may use (packed panels). */
export const SCRATCH_BYTES = 1 << 20;

/** The export name of a kernel's splittable variant. */
export const partExport = (id: string) => `${cIdent(id)}__part`;

/** What the runtime uses of an instance. */
export interface KernelInstance {
  readonly memory: WebAssembly.Memory;
  /** First byte above the module's static data. */
  readonly heapBase: number;
  /** Kernel exports by kernel id. */
  readonly kernels: ReadonlyMap<string, KernelFn>;
  /** Splittable variants by kernel id (only kernels that have one). */
  readonly parts: ReadonlyMap<string, PartFn>;
  /** Zero a byte range of the memory (wasm's memory.fill). */
  readonly zero: (ptr: number, bytes: number) => void;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

const compiled = new Map<boolean, Promise<WebAssembly.Module>>();

/** The compiled module (compiled on first use): `shared` picks the threaded build. */
export function kernelsModule(shared = false): Promise<WebAssembly.Module> {
  let m = compiled.get(shared);
  if (!m) {
    m = (async () => {
      if (typeof WebAssembly === 'undefined') throw new UnsupportedError('wasm', 'the runtime', 'no WebAssembly in this JavaScript engine');
      const bytes = decodeBase64(shared ? WASM_MT_BASE64 : WASM_BASE64);
      if (!WebAssembly.validate(bytes)) {
        throw new UnsupportedError('wasm', 'the runtime', `this engine cannot validate the module (WebAssembly SIMD${shared ? ' and threads are' : ' is'} required)`);
      }
      return WebAssembly.compile(bytes);
    })();
    compiled.set(shared, m);
    m.catch(() => compiled.delete(shared));
  }
  return m;
}

/** A shared memory for the threaded module: at least its static data, growable to wasm32's 4 GiB. */
export function sharedMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: Math.max(WASM_MT_MIN_PAGES, 1), maximum: 65536, shared: true });
}

/**
 * Instantiate a module with its imports (`env.abort`, reached only on an internal error, and for
 * the threaded build `env.memory`, the shared memory).
 */
export async function instantiateKernels(memory?: WebAssembly.Memory): Promise<KernelInstance> {
  const module = await kernelsModule(memory !== undefined);
  const env: Record<string, unknown> = {
    abort: (_msg: number, _file: number, line: number, column: number) => {
      throw new RuntimeFailure('wasm', 'internal', undefined, `abort() in the kernels module at ${line}:${column}`);
    },
  };
  if (memory) env.memory = memory;
  const instance = await WebAssembly.instantiate(module, { env: env as WebAssembly.ModuleImports });
  const exports = instance.exports as Record<string, unknown>;
  const mem = memory ?? exports.memory;
  const heapBase = exports.heap_base;
  const zero = exports.zero_bytes;
  if (!(mem instanceof WebAssembly.Memory) || typeof heapBase !== 'function' || typeof zero !== 'function') {
    throw new RuntimeFailure('wasm', 'internal', undefined, 'the kernels module lacks `memory`, `heap_base` or `zero_bytes`');
  }
  const kernels = new Map<string, KernelFn>();
  const parts = new Map<string, PartFn>();
  for (const spec of KERNELS) {
    if (spec.id in UNSUPPORTED) continue;
    const fn = exports[cIdent(spec.id)];
    if (typeof fn !== 'function') {
      throw new RuntimeFailure('wasm', 'internal', spec.id, `the kernels module lacks the export ${cIdent(spec.id)}; rebuild with \`pnpm build\``);
    }
    kernels.set(spec.id, fn as KernelFn);
    const part = exports[partExport(spec.id)];
    if (typeof part === 'function') parts.set(spec.id, part as PartFn);
  }
  return { memory: mem, heapBase: (heapBase as () => number)() >>> 0, kernels, parts, zero: zero as (ptr: number, bytes: number) => void };
}
