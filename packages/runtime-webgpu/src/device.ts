/**
 * Finding a WebGPU device: `navigator.gpu` in a browser, the `webgpu` package (Dawn) in Node.
 */
import { UnsupportedError } from '@kvant/abi';

/** How to choose the adapter. */
export interface AdapterOptions {
  /** Passed to requestAdapter: 'high-performance' or 'low-power'. */
  readonly powerPreference?: GPUPowerPreference;
  /** Ask for the fallback (software) adapter. */
  readonly forceFallbackAdapter?: boolean;
  /** Node only: options for Dawn's `create()`, e.g. `enable-dawn-features=...` or `adapter=NAME`. */
  readonly dawnOptions?: readonly string[];
}

export interface Acquired {
  /** The GPU object; it must stay referenced while the device is used (Dawn crashes otherwise). */
  readonly gpu: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

async function gpuObject(options: AdapterOptions): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!isNode) {
    if (!nav?.gpu) throw new UnsupportedError('webgpu', 'the webgpu runtime', 'navigator.gpu is missing (this browser has no WebGPU, or it is disabled)');
    return nav.gpu;
  }
  // Dawn wants a runtime directory for its caches; CI containers often lack one.
  if (!process.env.XDG_RUNTIME_DIR) {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'kvant-xdg-'));
  }
  let mod: { create: (opts: string[]) => GPU };
  try {
    mod = (await import('webgpu')) as unknown as { create: (opts: string[]) => GPU };
  } catch (e) {
    throw new UnsupportedError('webgpu', 'the webgpu runtime', `the 'webgpu' package (Dawn for Node) did not load: ${(e as Error).message}`);
  }
  // One Dawn instance per set of options for the life of the process: an instance that is
  // garbage-collected while another one's device runs crashes Dawn (seen as a pthread mutex
  // assertion at random points when runtimes were created and disposed in turn).
  const key = JSON.stringify(options.dawnOptions ?? []);
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    gpu = mod.create([...(options.dawnOptions ?? [])]);
    dawnInstances.set(key, gpu);
  }
  return gpu;
}

const dawnInstances = new Map<string, GPU>();

/** Node keeps no handle open while a Dawn promise is pending; hold a timer so the process waits. */
let pendingCount = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;
export async function track<T>(p: Promise<T>): Promise<T> {
  if (!isNode) return p;
  if (pendingCount++ === 0) keepAlive = setInterval(() => {}, 1000);
  try {
    return await p;
  } finally {
    if (--pendingCount === 0) clearInterval(keepAlive);
  }
}

const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups' as GPUFeatureName];

/** Find an adapter and create a device with the adapter's buffer limits. Throws UnsupportedError when there is none. */
export async function acquireDevice(options: AdapterOptions): Promise<Acquired> {
  const gpu = await gpuObject(options);
  const adapter = await track(
    gpu.requestAdapter({ powerPreference: options.powerPreference, forceFallbackAdapter: options.forceFallbackAdapter ?? false }),
  );
  if (!adapter) {
    throw new UnsupportedError(
      'webgpu',
      'the webgpu runtime',
      `no WebGPU adapter (powerPreference=${options.powerPreference ?? 'default'}, forceFallbackAdapter=${options.forceFallbackAdapter ?? false}); ` +
        (isNode ? 'in Node, Dawn needs a Vulkan driver: install mesa-vulkan-drivers (lavapipe) 25.x' : 'enable WebGPU in this browser'),
    );
  }
  const a = adapter.limits;
  const device = await track(
    adapter.requestDevice({
      requiredFeatures: OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)),
      requiredLimits: {
        maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
        maxBufferSize: a.maxBufferSize,
        maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
        maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
      },
    }),
  );
  return { gpu, adapter, device };
}
