/**
 * @kvant/runtimes — create any runtime by name. Runtime packages are imported lazily, so a
 * machine without CUDA or WebGPU still loads everything else.
 */
import { ConfigError, RUNTIME_NAMES, type Runtime, type RuntimeName, UnsupportedError } from '@kvant/abi';

/** Options passed through to the runtime being created. */
export interface RuntimeOptions {
  /** webgpu: 'low-power' | 'high-performance'. */
  powerPreference?: 'low-power' | 'high-performance';
  /** webgpu: ask for the fallback (software) adapter. */
  forceFallbackAdapter?: boolean;
  /** wasm: threads to split heavy kernels over (default: the machine's cores; 1: no workers). */
  threads?: number;
}

export function isRuntimeName(name: string): name is RuntimeName {
  return (RUNTIME_NAMES as readonly string[]).includes(name);
}

/** Create the runtime `name`; throws UnsupportedError with the reason when it cannot run here. */
export async function createRuntime(name: string, options: RuntimeOptions = {}): Promise<Runtime> {
  if (!isRuntimeName(name)) throw new ConfigError('runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(name));
  switch (name) {
    case 'reference':
      return (await import('@kvant/reference')).createReferenceRuntime();
    case 'wasm':
      return (await import('@kvant/runtime-wasm')).createWasmRuntime({ threads: options.threads });
    case 'webgpu':
      return (await import('@kvant/runtime-webgpu')).createWebGpuRuntime(options);
    case 'cuda':
      return (await import('@kvant/runtime-cuda')).createCudaRuntime({ emulated: false });
    case 'cuda-emu':
      return (await import('@kvant/runtime-cuda')).createCudaRuntime({ emulated: true });
  }
}

/** What trying to start a runtime found. */
export type RuntimeProbe =
  | { readonly status: 'available'; readonly description: string }
  /** Absent here: no driver, no adapter, no addon built (an UnsupportedError, with its reason). */
  | { readonly status: 'absent'; readonly reason: string }
  /** Present but failed while starting: a bug or a broken installation, never "not available". */
  | { readonly status: 'crashed'; readonly error: string };

/** Start and dispose `name`, and say whether it is available, absent (with the reason) or crashed (with the error). */
export async function probeRuntime(name: string, options: RuntimeOptions = {}): Promise<RuntimeProbe> {
  let rt: Runtime;
  try {
    rt = await createRuntime(name, options);
  } catch (e) {
    if (e instanceof UnsupportedError) return { status: 'absent', reason: e.reason };
    if (e instanceof ConfigError) throw e;
    return { status: 'crashed', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
  try {
    return { status: 'available', description: rt.info().description };
  } finally {
    rt.dispose();
  }
}

/** true when `name` can be created here, or the reason it is absent; a runtime that crashes while starting throws. */
export async function runtimeAvailable(name: string, options: RuntimeOptions = {}): Promise<true | string> {
  const p = await probeRuntime(name, options);
  if (p.status === 'available') return true;
  if (p.status === 'absent') return p.reason;
  throw new Error(`${name} crashed while starting: ${p.error}`);
}

/** The runtime used when none is named. */
export const DEFAULT_RUNTIME: RuntimeName = 'wasm';

export { RUNTIME_NAMES };
