/**
 * @kvant/runtime-cuda — the `cuda` runtime (kernels-cuda/ built by nvcc) and the `cuda-emu`
 * runtime (the same sources compiled for the CPU with kvant's emulation header). The addons are
 * loaded lazily, so this package imports fine on a machine without CUDA.
 */
import { UnsupportedError } from '@kvant/abi';
import { loadAddon } from './addon';
import { CudaRuntime } from './runtime';

export { type DeviceInfo, addonDir, addonFile } from './addon';
export { CudaRuntime, toKvantError } from './runtime';
export { UNSUPPORTED } from './unsupported';

/** Options of createCudaRuntime. */
export interface CudaRuntimeOptions {
  /** true: the `cuda-emu` runtime (CPU emulation); false: the `cuda` runtime on GPU 0. */
  readonly emulated: boolean;
}

/** true when the runtime can be created here, or the reason it cannot (no driver, no device, addon not built). */
export function cudaAvailable(emulated: boolean): true | string {
  const addon = loadAddon(emulated);
  if (typeof addon === 'string') return addon;
  const info = addon.deviceInfo();
  return info.available ? true : (info.reason ?? 'no CUDA device');
}

/**
 * Create the `cuda` (emulated: false) or `cuda-emu` (emulated: true) runtime. Throws
 * UnsupportedError saying why when it cannot run here.
 */
export async function createCudaRuntime(options: CudaRuntimeOptions): Promise<CudaRuntime> {
  const name = options.emulated ? 'cuda-emu' : 'cuda';
  const addon = loadAddon(options.emulated);
  if (typeof addon === 'string') throw new UnsupportedError(name, `the ${name} runtime`, addon);
  const info = addon.deviceInfo();
  if (!info.available) throw new UnsupportedError(name, `the ${name} runtime`, info.reason ?? 'no CUDA device');
  return new CudaRuntime(addon);
}
