/**
 * The `webgpu` runtime: every kernel is a WGSL file in kernels-wgsl/ (bundled into
 * generated/shaders.ts), prefixed with `wgslPrelude(spec)` from @kvant/abi and dispatched on a
 * WebGPU device — `navigator.gpu` in a browser, Dawn (the `webgpu` package) in Node.
 *
 * Errors: WebGPU reports validation and out-of-memory errors asynchronously, through error
 * scopes. Every alloc and dispatch is wrapped in scopes; a failure becomes a RuntimeFailure naming
 * the kernel (or the allocation) and is thrown by the next call of this runtime — at the latest
 * by `flush()` or `read()`, which wait for them. A lost device makes every later call throw
 * RuntimeFailure('device-lost').
 */
import {
  type AnyTypedArray,
  bytesOf,
  type DType,
  getKernel,
  hasKernel,
  KernelArgumentError,
  type KernelSpec,
  makeTensor,
  packParams,
  paramsByteLength,
  type Params,
  type Runtime,
  type RuntimeInfo,
  RuntimeFailure,
  type Tensor,
  TensorError,
  UnsupportedError,
  validateDispatch,
  wgslPrelude,
} from '@kvant/abi';
import { type AdapterOptions, acquireDevice, track } from './device';
import { WGSL_SOURCES } from './generated/shaders';
import { LAUNCH } from './launch';
import { UNSUPPORTED } from './unsupported';

/** Options of `createWebGpuRuntime`. */
export interface WebGpuOptions extends AdapterOptions {
  /** Use at most this many workgroups per grid dimension (below the device limit), e.g. to test the 2D split. */
  readonly maxWorkgroupsPerDimension?: number;
  /** Kernel bodies to use instead of the built ones, by kernel id (kernel development, tests). */
  readonly shaderOverrides?: Readonly<Record<string, string>>;
  /** Bytes of freed buffers kept for reuse (default 256 MiB). */
  readonly poolBytes?: number;
}

// GPUBufferUsage / GPUMapMode values (numeric, so Node needs no globals installed).
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const MAP_READ = 1;

interface Compiled {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly uniform: GPUBuffer;
}

/** FNV-1a of a string, as 8 hex digits: the pipeline cache key (with the workgroup size). */
function hashSource(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

export class WebGpuRuntime implements Runtime {
  readonly name = 'webgpu' as const;
  private readonly buffers = new Map<number, GPUBuffer>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private readonly pipelines = new Map<string, Compiled>();
  private readonly pending = new Set<Promise<void>>();
  private failure: RuntimeFailure | undefined;
  private lost: RuntimeFailure | undefined;
  private disposed = false;
  private nextId = 1;
  private lastKernel: string | undefined;
  private gpu: GPU | undefined;

  private constructor(
    gpu: GPU,
    private readonly adapter: GPUAdapter,
    private readonly device: GPUDevice,
    private readonly options: WebGpuOptions,
  ) {
    this.gpu = gpu; // held: Dawn tears the instance down when it is collected
    device.lost.then((info) => {
      if (this.disposed) return;
      this.lost = new RuntimeFailure('webgpu', 'device-lost', this.lastKernel, `the device was lost (${info.reason}): ${info.message}`);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.failure ??= new RuntimeFailure('webgpu', kindOf(err), this.lastKernel, err.message);
    });
  }

  /** Find an adapter and create the runtime; throws UnsupportedError when there is no adapter. */
  static async create(options: WebGpuOptions = {}): Promise<WebGpuRuntime> {
    const { gpu, adapter, device } = await acquireDevice(options);
    return new WebGpuRuntime(gpu, adapter, device, options);
  }

  /** The underlying device (for interop, and for tests that need to lose it). */
  get gpuDevice(): GPUDevice {
    return this.device;
  }

  /** Buffers currently allocated (live tensors), for leak checks. */
  get liveBuffers(): number {
    return this.buffers.size;
  }

  info(): RuntimeInfo {
    const a = this.adapter.info;
    const l = this.device.limits;
    const adapter = { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description };
    return {
      name: this.name,
      description: [a.vendor, a.architecture, a.device, a.description].filter((s) => s).join(' / ') || 'unknown WebGPU adapter',
      details: {
        adapter,
        // WGSL's division may be 2.5 ulp off; the conformance suite then lets ambiguous codes move by one.
        approximateDivision: true,
        isFallbackAdapter: (a as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
        features: { shaderF16: this.device.features.has('shader-f16'), subgroups: this.device.features.has('subgroups') },
        limits: {
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupsPerDimension: this.maxWorkgroupsPerDimension(),
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        },
      },
    };
  }

  alloc(dtype: DType, shape: readonly number[]): Tensor {
    this.check('alloc');
    const t = makeTensor(this, this.nextId++, dtype, shape);
    const limit = this.device.limits.maxBufferSize;
    if (t.byteLength > limit) {
      throw new RuntimeFailure('webgpu', 'out-of-memory', undefined, `alloc of ${dtype}[${shape.join(', ')}]: ${t.byteLength} bytes, over this device's maxBufferSize of ${limit} bytes`);
    }
    const reused = this.pool.get(t.byteLength)?.pop();
    if (reused) {
      this.pooledBytes -= t.byteLength;
      this.buffers.set(t.id, reused);
      return t;
    }
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const buffer = this.device.createBuffer({ size: t.byteLength, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    this.watch(`alloc of ${dtype}[${shape.join(', ')}] (${t.byteLength} bytes)`, undefined);
    this.buffers.set(t.id, buffer);
    return t;
  }

  write(t: Tensor, data: AnyTypedArray, byteOffset = 0): void {
    this.check('write');
    const buffer = this.bufferOf(t);
    const src = bytesOf(data);
    const end = byteOffset + src.byteLength;
    if (byteOffset % 4 !== 0 || end > t.byteLength) {
      throw new TensorError(`webgpu.write(tensor ${t.id})`, `a 4-aligned range within ${t.byteLength} bytes`, `${src.byteLength} bytes at offset ${byteOffset}`);
    }
    if (end % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, src.buffer, src.byteOffset, src.byteLength);
      return;
    }
    // WebGPU copies whole words. A write that ends mid-word is padded with zeros, which is only
    // right when the rest of that word is the tensor's padding.
    if (Math.ceil(end / 4) * 4 !== t.byteLength) {
      throw new TensorError(`webgpu.write(tensor ${t.id})`, 'a byte length that is a multiple of 4, or a write that reaches the end of the tensor', `${src.byteLength} bytes at offset ${byteOffset} of ${t.byteLength}`);
    }
    const padded = new Uint8Array(Math.ceil(src.byteLength / 4) * 4);
    padded.set(src);
    this.device.queue.writeBuffer(buffer, byteOffset, padded);
  }

  async read(t: Tensor): Promise<Uint8Array> {
    this.check('read');
    const buffer = this.bufferOf(t);
    const staging = this.device.createBuffer({ size: t.byteLength, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(buffer, 0, staging, 0, t.byteLength);
      this.device.queue.submit([enc.finish()]);
      await this.settle(track(staging.mapAsync(MAP_READ)));
      const out = new Uint8Array(staging.getMappedRange().slice(0));
      staging.unmap();
      await this.drainErrors();
      return out;
    } finally {
      staging.destroy();
    }
  }

  dispatch(kernelId: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void {
    this.check(kernelId);
    const ok = this.supports(kernelId);
    if (ok !== true) throw new UnsupportedError(this.name, kernelId, ok);
    const spec = getKernel(kernelId);
    validateDispatch(spec, this, bindings, params);
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    for (const b of spec.bindings) {
      const t = bindings[b.name];
      if (t.byteLength > maxBinding) {
        throw new KernelArgumentError(kernelId, `binding ${b.name}`, `at most ${maxBinding} bytes (this adapter's maxStorageBufferBindingSize)`, `${t.byteLength} bytes`);
      }
    }
    const launch = LAUNCH[kernelId];
    const total = launch.workgroups(params, launch.workgroupSize);
    const [x, y] = this.grid(kernelId, total);
    this.lastKernel = kernelId;

    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const c = this.compiled(spec, launch.workgroupSize);
    this.device.queue.writeBuffer(c.uniform, 0, packParams(spec, params) as Uint8Array<ArrayBuffer>);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: c.uniform } }];
    spec.bindings.forEach((b, i) => {
      entries.push({ binding: i + 1, resource: { buffer: this.bufferOf(bindings[b.name]), size: bindings[b.name].byteLength } });
    });
    const group = this.device.createBindGroup({ layout: c.layout, entries });
    const enc = this.device.createCommandEncoder({ label: kernelId });
    const pass = enc.beginComputePass({ label: kernelId });
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, group);
    if (total > 0) pass.dispatchWorkgroups(x, y);
    pass.end();
    this.device.queue.submit([enc.finish()]);
    this.watch(kernelId, kernelId, 3);
  }

  async flush(): Promise<void> {
    this.check('flush');
    const lost = this.device.lost.then(() => undefined);
    await this.settle(Promise.race([track(this.device.queue.onSubmittedWorkDone()), lost]));
    await this.drainErrors();
  }

  free(t: Tensor): void {
    const buffer = this.buffers.get(t.id);
    if (!buffer || t.runtime !== this) return;
    this.buffers.delete(t.id);
    const cap = this.options.poolBytes ?? 256 * 2 ** 20;
    if (this.disposed || this.lost || this.pooledBytes + t.byteLength > cap) {
      buffer.destroy();
      return;
    }
    const list = this.pool.get(t.byteLength) ?? [];
    list.push(buffer);
    this.pool.set(t.byteLength, list);
    this.pooledBytes += t.byteLength;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.buffers.values()) b.destroy();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    for (const c of this.pipelines.values()) c.uniform.destroy();
    this.buffers.clear();
    this.pool.clear();
    this.pipelines.clear();
    this.pooledBytes = 0;
    this.device.destroy();
    this.gpu = undefined;
  }

  supports(kernelId: string): true | string {
    if (!hasKernel(kernelId)) return `unknown kernel ${kernelId}`;
    if (kernelId in UNSUPPORTED) return UNSUPPORTED[kernelId];
    if (!(kernelId in WGSL_SOURCES) && !this.options.shaderOverrides?.[kernelId]) return `no WGSL source kernels-wgsl/${kernelId.replace('.', '/')}.wgsl`;
    if (!(kernelId in LAUNCH)) return 'no launch geometry in packages/runtime-webgpu/src/launch.ts';
    return true;
  }

  /** Whether this runtime still holds its GPU instance (false after dispose). */
  get alive(): boolean {
    return this.gpu !== undefined;
  }

  private maxWorkgroupsPerDimension(): number {
    const device = this.device.limits.maxComputeWorkgroupsPerDimension;
    return Math.min(device, this.options.maxWorkgroupsPerDimension ?? device);
  }

  /** Fold a flat workgroup count into a 2D grid within the per-dimension limit. */
  private grid(kernelId: string, total: number): [number, number] {
    const max = this.maxWorkgroupsPerDimension();
    if (total <= max) return [Math.max(1, total), 1];
    const y = Math.ceil(total / max);
    if (y > max) {
      throw new KernelArgumentError(kernelId, 'dispatch size', `at most ${max * max} workgroups (maxComputeWorkgroupsPerDimension squared)`, `${total} workgroups`);
    }
    return [Math.ceil(total / y), y];
  }

  private compiled(spec: KernelSpec, workgroupSize: number): Compiled {
    const body = this.options.shaderOverrides?.[spec.id] ?? WGSL_SOURCES[spec.id];
    const code = wgslPrelude(spec) + body;
    const key = `${hashSource(code)}:${code.length}:${workgroupSize}`;
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const layout = this.device.createBindGroupLayout({
      label: spec.id,
      entries: [
        { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform' } },
        ...spec.bindings.map((b, i) => ({
          binding: i + 1,
          visibility: 4,
          buffer: { type: (b.access === 'read' ? 'read-only-storage' : 'storage') as GPUBufferBindingType },
        })),
      ],
    });
    const module = this.device.createShaderModule({ label: spec.id, code });
    const pipeline = this.device.createComputePipeline({
      label: spec.id,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main', constants: { WG: workgroupSize } },
    });
    const uniform = this.device.createBuffer({ label: `${spec.id} params`, size: paramsByteLength(spec), usage: USAGE.UNIFORM | USAGE.COPY_DST });
    const c = { pipeline, layout, uniform };
    this.pipelines.set(key, c);
    return c;
  }

  /** Pop `scopes` error scopes; a reported error becomes this runtime's pending failure. */
  private watch(what: string, kernelId: string | undefined, scopes = 2): void {
    const pops: Promise<GPUError | null>[] = [];
    for (let i = 0; i < scopes; i++) pops.push(this.device.popErrorScope());
    const p = track(Promise.all(pops)).then(
      (errors) => {
        const err = errors.find((e) => e !== null);
        if (err) this.failure ??= new RuntimeFailure('webgpu', kindOf(err), kernelId, `${what}: ${err.message}`);
      },
      (e: unknown) => {
        this.failure ??= new RuntimeFailure('webgpu', this.disposed ? 'internal' : 'device-lost', kernelId, `${what}: ${String(e)}`);
      },
    );
    this.pending.add(p);
    p.finally(() => this.pending.delete(p));
  }

  /** Wait for every error scope and throw the first failure. */
  private async drainErrors(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.throwIfFailed();
  }

  /** Await a GPU promise; a rejection on a lost device becomes RuntimeFailure('device-lost'). */
  private async settle<T>(p: Promise<T>): Promise<T> {
    let v: T;
    try {
      v = await p;
    } catch (e) {
      this.throwIfFailed();
      throw new RuntimeFailure('webgpu', 'internal', this.lastKernel, String(e));
    }
    this.throwIfFailed();
    return v;
  }

  private throwIfFailed(): void {
    if (this.lost) throw this.lost;
    const f = this.failure;
    if (f) {
      this.failure = undefined;
      throw f;
    }
  }

  private check(what: string): void {
    if (this.disposed) throw new UnsupportedError(this.name, `${what} after dispose()`, 'the runtime was disposed');
    this.throwIfFailed();
  }

  private bufferOf(t: Tensor): GPUBuffer {
    if (t.runtime !== this) throw new TensorError('webgpu', 'a tensor of this runtime', `a tensor of ${t.runtime.name}`);
    const b = this.buffers.get(t.id);
    if (!b) throw new TensorError('webgpu', 'a live tensor', `tensor ${t.id}, which was freed`);
    return b;
  }
}

function kindOf(err: GPUError): 'out-of-memory' | 'validation' | 'internal' {
  if (err.constructor.name === 'GPUOutOfMemoryError') return 'out-of-memory';
  if (err.constructor.name === 'GPUValidationError') return 'validation';
  return 'internal';
}
