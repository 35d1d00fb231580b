/**
 * Loading the native addons lazily: `kvant_cuda.node` (nvcc build) and `kvant_cuda_emu.node`
 * (the same kernels compiled for the CPU with the emulation header). A machine without CUDA never
 * loads the first one unless asked, and a missing or unloadable addon becomes a reason string,
 * never a crash.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What deviceInfo() reports. */
export interface DeviceInfo {
  readonly available: boolean;
  /** Why the device cannot be used (no driver, no device, too old). */
  readonly reason?: string;
  readonly name?: string;
  readonly computeCapability?: string;
  readonly multiProcessors?: number;
  readonly memoryBytes?: number;
  readonly driverVersion?: number;
  readonly runtimeVersion?: number;
}

/** One runtime's native state: a stream and its allocations, by handle. */
export interface AddonContext {
  alloc(bytes: number): number;
  free(handle: number): void;
  write(handle: number, byteOffset: number, data: Uint8Array): void;
  read(handle: number): Uint8Array;
  dispatch(kernelId: string, params: Uint8Array, handles: number[]): void;
  synchronize(): void;
  /** Number of live allocations. */
  live(): number;
  dispose(): void;
  selfTest(name: string): { f32: Float32Array; i32: Int32Array } | undefined;
}

export interface Addon {
  readonly build: 'cuda' | 'cuda-emu';
  deviceInfo(): DeviceInfo;
  kernels(): string[];
  readonly Context: new () => AddonContext;
}

/** The error shape the addon throws. */
export interface AddonError extends Error {
  kind?: 'out-of-memory' | 'launch' | 'illegal-address' | 'device-lost' | 'unsupported' | 'internal';
  kernel?: string;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Where an installed package carries its prebuilt addons: dist/prebuilds/<platform>-<arch>/ (scripts/pack/build.ts puts them there). */
const prebuildsDir = join(here, 'prebuilds');

/**
 * Folder holding the built addons: KVANT_CUDA_ADDON_DIR; else this package's build/ (cmake-js
 * builds there: the workspace, or a build from source); else, in an installed package, the prebuilt
 * addons for this platform.
 */
export function addonDir(): string {
  if (process.env.KVANT_CUDA_ADDON_DIR) return process.env.KVANT_CUDA_ADDON_DIR;
  const build = join(here, '..', 'build');
  if (existsSync(build) || !existsSync(prebuildsDir)) return build;
  return join(prebuildsDir, `${process.platform}-${process.arch}`);
}

/** Why an installed package has no addon here, or undefined when the addons come from a build folder. */
function prebuiltMissing(dir: string, file: string): string | undefined {
  if (dirname(dir) !== prebuildsDir) return undefined;
  const platforms = readdirSync(prebuildsDir).join(', ') || 'none';
  if (!existsSync(dir)) return `not available on ${process.platform}-${process.arch}: @kvant/runtime-cuda carries prebuilt addons for ${platforms} only`;
  return `not available: @kvant/runtime-cuda was packed without ${basename(file)} for ${process.platform}-${process.arch}`;
}

export function addonFile(emulated: boolean): string {
  return join(addonDir(), emulated ? 'kvant_cuda_emu.node' : 'kvant_cuda.node');
}

/** Why the build skipped kvant_cuda.node (CMakeLists.txt writes kvant_cuda.skipped), if it did. */
function skippedReason(emulated: boolean): string | undefined {
  const file = join(addonDir(), 'kvant_cuda.skipped');
  if (emulated || !existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').trim() || undefined;
}

const cache = new Map<boolean, Addon | string>();

/** The addon, or the reason it cannot be loaded. Loaded once per process. */
export function loadAddon(emulated: boolean): Addon | string {
  const hit = cache.get(emulated);
  if (hit !== undefined) return hit;
  const file = addonFile(emulated);
  let result: Addon | string;
  if (!existsSync(file)) {
    const skipped = skippedReason(emulated);
    const prebuilt = prebuiltMissing(addonDir(), file);
    if (prebuilt) {
      result = `${prebuilt}${skipped ? ` (the machine that packed it could not build it: ${skipped})` : ''}`;
    } else {
      result = skipped
        ? `the addon is not built: the build skipped ${file} because ${skipped}; install the CUDA toolkit (nvcc) and run \`pnpm --filter @kvant/runtime-cuda build\``
        : `the addon is not built: ${file} is missing; run \`pnpm --filter @kvant/runtime-cuda build\`${emulated ? '' : ' (it needs nvcc at build time)'}`;
    }
  } else {
    try {
      result = createRequire(import.meta.url)(file) as Addon;
    } catch (e) {
      result = `the addon ${file} failed to load: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  cache.set(emulated, result);
  return result;
}
