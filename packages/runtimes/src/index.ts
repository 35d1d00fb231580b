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
      return (await import('@kvant/runtime-wasm')).createWasmRuntime();
    case 'webgpu':
      return (await import('@kvant/runtime-webgpu')).createWebGpuRuntime(options);
    case 'cuda':
      return (await import('@kvant/runtime-cuda')).createCudaRuntime({ emulated: false });
    case 'cuda-emu':
      return (await import('@kvant/runtime-cuda')).createCudaRuntime({ emulated: true });
  }
}

/** true when `name` can be created here, or the reason it cannot. */
export async function runtimeAvailable(name: string, options: RuntimeOptions = {}): Promise<true | string> {
  try {
    const rt = await createRuntime(name, options);
    rt.dispose();
    return true;
  } catch (e) {
    if (e instanceof UnsupportedError || e instanceof ConfigError) return e.message;
    return e instanceof Error ? e.message : String(e);
  }
}

/** The runtime used when none is named. */
export const DEFAULT_RUNTIME: RuntimeName = 'wasm';

export { RUNTIME_NAMES };
