/**
 * @kvant/runtime-webgpu — the `webgpu` runtime: kernels-wgsl/ on navigator.gpu (browser) or
 * Dawn (Node, the `webgpu` package; lavapipe where there is no GPU).
 */
// The WebGPU types (GPUDevice, GPUBuffer, ...) come from @webgpu/types, a dependency of this package,
// so a project that imports it typechecks without Dawn's package (see tsconfig.json here).
/// <reference types="@webgpu/types" />
import type { Runtime } from '@kvant/abi';
import { WebGpuRuntime, type WebGpuOptions } from './runtime';

export { LAUNCH, type Launch } from './launch';
export { UNSUPPORTED } from './unsupported';
export { WebGpuRuntime, type WebGpuOptions } from './runtime';
export { WGSL_SOURCES } from './generated/shaders';

/** Create the webgpu runtime; throws UnsupportedError (from @kvant/abi) when no adapter is found. */
export async function createWebGpuRuntime(options: WebGpuOptions = {}): Promise<Runtime & WebGpuRuntime> {
  return WebGpuRuntime.create(options);
}
