/**
 * Loading the kernels module: the .wasm bytes are embedded as base64 (src/generated/wasm-binary.ts,
 * written by scripts/build.ts), so Node, browser bundles and a bundled kit need no file lookups.
 * The module is compiled once per process and instantiated once per runtime (each runtime owns
 * its linear memory).
 */
import { KERNELS, RuntimeFailure, UnsupportedError, cIdent } from '@kvant/abi';
import { WASM_BASE64 } from './generated/wasm-binary';
import { UNSUPPORTED } from './unsupported';

/** A kernel export: `family__name(paramsPtr, bindingsPtr)`. */
export type KernelFn = (params: number, bindings: number) => void;

/** What the runtime uses of an instance. */
export interface KernelInstance {
  readonly memory: WebAssembly.Memory;
  /** First byte above the module's static data. */
  readonly heapBase: number;
  /** Kernel exports by kernel id. */
  readonly kernels: ReadonlyMap<string, KernelFn>;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** The compiled module (compiled on first use). */
export function kernelsModule(): Promise<WebAssembly.Module> {
  if (!compiled) {
    compiled = (async () => {
      if (typeof WebAssembly === 'undefined') throw new UnsupportedError('wasm', 'the runtime', 'no WebAssembly in this JavaScript engine');
      const bytes = decodeBase64(WASM_BASE64);
      if (!WebAssembly.validate(bytes)) {
        throw new UnsupportedError('wasm', 'the runtime', 'this engine cannot validate the module (WebAssembly SIMD is required)');
      }
      return WebAssembly.compile(bytes);
    })();
    compiled.catch(() => {
      compiled = undefined;
    });
  }
  return compiled;
}

/** Instantiate the module with its one import (`env.abort`, reached only on an internal error). */
export async function instantiateKernels(): Promise<KernelInstance> {
  const module = await kernelsModule();
  const imports = {
    env: {
      abort: (_msg: number, _file: number, line: number, column: number) => {
        throw new RuntimeFailure('wasm', 'internal', undefined, `abort() in the kernels module at ${line}:${column}`);
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as Record<string, unknown>;
  const memory = exports.memory;
  const heapBase = exports.heap_base;
  if (!(memory instanceof WebAssembly.Memory) || typeof heapBase !== 'function') {
    throw new RuntimeFailure('wasm', 'internal', undefined, 'the kernels module lacks `memory` or `heap_base` exports');
  }
  const kernels = new Map<string, KernelFn>();
  for (const spec of KERNELS) {
    if (spec.id in UNSUPPORTED) continue;
    const fn = exports[cIdent(spec.id)];
    if (typeof fn !== 'function') {
      throw new RuntimeFailure('wasm', 'internal', spec.id, `the kernels module lacks the export ${cIdent(spec.id)}; rebuild with \`pnpm build\``);
    }
    kernels.set(spec.id, fn as KernelFn);
  }
  return { memory, heapBase: (heapBase as () => number)() >>> 0, kernels };
}
