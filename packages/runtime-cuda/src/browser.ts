/**
 * @kvant/runtime-cuda in a browser bundle (the `browser` condition of the package's exports): the
 * CUDA runtimes run through a Node addon, so here they say they are unavailable, with the API of
 * index.ts, and a bundle carries none of the Node code (`@kvant/runtimes` imports this package
 * lazily; `createRuntime('cuda')` then rejects with the reason below).
 */
import { UnsupportedError } from '@kvant/abi';
import type { CudaRuntimeOptions } from './index';
import type { CudaRuntime } from './runtime';

export type { DeviceInfo } from './addon';
export type { CudaRuntimeOptions } from './index';
export { CudaRuntime, toKvantError } from './runtime';
export { UNSUPPORTED } from './unsupported';

const REASON = 'not available in a browser: CUDA runs through a Node addon (use the webgpu or wasm runtime)';

/** No addon folder in a browser: throws UnsupportedError. */
export function addonDir(): string {
  throw new UnsupportedError('cuda', 'the CUDA addon', REASON);
}

/** No addon in a browser: throws UnsupportedError. */
export function addonFile(_emulated: boolean): string {
  return addonDir();
}

/** Always the reason: no CUDA runtime runs in a browser. */
export function cudaAvailable(_emulated: boolean): true | string {
  return REASON;
}

/** Always rejects with UnsupportedError: no CUDA runtime runs in a browser. */
export async function createCudaRuntime(options: CudaRuntimeOptions): Promise<CudaRuntime> {
  const name = options.emulated ? 'cuda-emu' : 'cuda';
  throw new UnsupportedError(name, `the ${name} runtime`, REASON);
}
