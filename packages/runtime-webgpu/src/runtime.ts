/**
 * The `webgpu` runtime: every kernel is a WGSL file in kernels-wgsl/ (bundled into
 * generated/shaders.ts), prefixed with `wgslPrelude(spec)` from @kvant/abi and dispatched on a
 * WebGPU device — `navigator.gpu` in a browser, Dawn (the `webgpu` package) in Node.
 *
 * Errors: WebGPU reports validation and out-of-memory errors asynchronously, through error
 * scopes. Every call that touches the device (alloc, write, dispatch, read) gets its own scopes,
 * so an error is attributed to the call that caused it: a RuntimeFailure whose kernelId is that
 * dispatch's kernel and whose message names the call ("dispatch #7 of quant.nf4_quantize",
 * "alloc #3 of u8[...]"). It is thrown by the first call of this runtime after the error has been
 * reported — at the latest by `flush()` or `read()`, which wait for every scope and reject with
 * the earliest failing call (later errors, usually its consequences, are counted in the message).
 * A lost device makes every later call throw RuntimeFailure('device-lost'). See
 * docs/runtime-webgpu.md, "Errors".
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
import { type Launch, LAUNCH, MAX_PASSES } from './launch';
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
  /** The full WGSL source (prelude + body), checked on a cache hit so a hash collision cannot alias. */
  readonly code: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** The params block, rewritten by queue.writeBuffer before each dispatch (queue-ordered, so one per pipeline suffices). */
  readonly uniform: GPUBuffer;
  /** Multi-pass kernels: MAX_PASSES `PassInfo` slots (lib/passes.wgsl), bound at group 1 with a dynamic offset per pass. */
  readonly passes?: { readonly uniform: GPUBuffer; readonly group: GPUBindGroup; readonly stride: number };
}

/** An error reported for call number `seq`. */
interface Reported {
  readonly seq: number;
  readonly kind: RuntimeFailure['kind'];
  readonly kernelId: string | undefined;
  /** What failed and the device's message, e.g. "dispatch #7 of quant.nf4_quantize: ...". */
  readonly detail: string;
}

/** FNV-1a of a string, as 8 hex digits: the pipeline cache key (with the workgroup size). */
function hashSource(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Bytes of `PassInfo` (kernels-wgsl/lib/passes.wgsl): index, count, two pad words. */
const PASS_INFO_BYTES = 16;

/**
 * Kernels whose WGSL uses WGSL's approximate division or square root: linear_quantize (x / scale),
 * and the two AdamW steps (sqrt(v) and the divisions of the update; the 8-bit step's codes also
 * come from m1 / absmax). On lavapipe their p differs from the reference by an ulp or so in a few
 * elements per thousand (its division and sqrt are not correctly rounded); m, v, the codes and
 * the absmax come out bit-exact there.
 */
export const APPROXIMATE_KERNELS: readonly string[] = ['quant.linear_quantize', 'optim.adamw_step', 'optim.adamw8bit_step'];

export class WebGpuRuntime implements Runtime {
  readonly name = 'webgpu' as const;
  private readonly buffers = new Map<number, GPUBuffer>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  /** Pipelines by `hash:length:WG:PER` of the full source (the cache keyed by a hash of the shader). */
  private readonly pipelines = new Map<string, Compiled>();
  /** The same pipelines by `kernelId:WG:PER`, so a dispatch neither rebuilds nor rehashes the source. */
  private readonly byKernel = new Map<string, Compiled>();
  private readonly orphans: Compiled[] = [];
  private readonly pending = new Set<Promise<void>>();
  /** Errors reported by scopes and not thrown yet, in call order. */
  private reported: Reported[] = [];
  private lost: RuntimeFailure | undefined;
  private disposed = false;
  private nextId = 1;
  /** Calls that opened error scopes, numbered in order (the number appears in error messages). */
  private seq = 0;
  private lastKernel: string | undefined;
  private lastDispatch = 0;
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
      const last = this.lastKernel ? `; the last dispatch was #${this.lastDispatch} of ${this.lastKernel}` : '';
      this.lost = new RuntimeFailure('webgpu', 'device-lost', this.lastKernel, `the device was lost (reason: ${info.reason ?? 'unknown'}): ${info.message}${last}`);
    });
    // Every device call runs inside scopes; this only catches what escaped them (a Dawn bug).
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.report({ seq: this.seq, kind: kindOf(err), kernelId: undefined, detail: `an error outside any call's error scope: ${err.message}` });
    });
  }

  /** Find an adapter and create the runtime; throws UnsupportedError when there is no adapter. */
  static async create(options: WebGpuOptions = {}): Promise<WebGpuRuntime> {
    const { gpu, adapter, device } = await acquireDevice(options);
    const rt = new WebGpuRuntime(gpu, adapter, device, options);
    rt.flushesSubnormals = await rt.probeFlushToZero();
    return rt;
  }

  /** Whether this device flushes subnormal f32 results to zero (WGSL allows it), found by a probe at creation. */
  flushesSubnormals = false;

  /**
   * v * 2^-138 with v = 1 read from a buffer (so the compiler cannot fold it): a multiply whose
   * operand and result are subnormal; a flushing device gives 0. Plain WebGPU calls on buffers of
   * its own, destroyed after, so the runtime's pools and pipeline cache stay as they were.
   */
  private async probeFlushToZero(): Promise<boolean> {
    const d = this.device;
    const code = '@group(0) @binding(0) var<storage, read_write> b: array<f32, 2>;\n@compute @workgroup_size(1) fn main() { b[1] = b[0] * bitcast<f32>(0x00000800u); }';
    const module = d.createShaderModule({ code });
    const pipeline = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const buf = d.createBuffer({ size: 8, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    const back = d.createBuffer({ size: 8, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    try {
      d.queue.writeBuffer(buf, 0, new Float32Array([1, 0]));
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, d.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] }));
      pass.dispatchWorkgroups(1);
      pass.end();
      enc.copyBufferToBuffer(buf, 0, back, 0, 8);
      d.queue.submit([enc.finish()]);
      await back.mapAsync(MAP_READ);
      const out = new Float32Array(back.getMappedRange().slice(0))[1];
      return out !== 2 ** -138;
    } finally {
      buf.destroy();
      back.destroy();
    }
  }

  /** The underlying device (for interop, and for tests that need to lose it). */
  get gpuDevice(): GPUDevice {
    return this.device;
  }

  /** Buffers currently allocated (live tensors), for leak checks. */
  get liveBuffers(): number {
    return this.buffers.size;
  }

  /** What this runtime holds on the device, for leak checks: live tensors, pooled buffers, pipelines (each with one params buffer), pending error scopes. */
  get held(): { live: number; pooled: number; pooledBytes: number; pipelines: number; pendingScopes: number } {
    let pooled = 0;
    for (const list of this.pool.values()) pooled += list.length;
    return { live: this.buffers.size, pooled, pooledBytes: this.pooledBytes, pipelines: this.pipelines.size + this.orphans.length, pendingScopes: this.pending.size };
  }

  info(): RuntimeInfo {
    const a = this.adapter.info;
    const l = this.device.limits;
    const adapter = { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description };
    return {
      name: this.name,
      description: [a.vendor, a.architecture, a.device, a.description].filter((s) => s).join(' / ') || 'unknown WebGPU adapter',
      // WGSL's x / y may be 2.5 ulp off and sqrt is not correctly rounded. linear_quantize and the
      // AdamW steps divide; the 4-bit and 8-bit quantizers compute 1 / absmax exactly on the bits
      // (lib/f32bits.wgsl).
      approximate: APPROXIMATE_KERNELS,
      flushesSubnormals: this.flushesSubnormals,
      details: {
        adapter,
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
    const seq = this.open(['out-of-memory', 'validation']);
    const buffer = this.device.createBuffer({ size: t.byteLength, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    this.watch(seq, 2, `alloc #${seq} of ${dtype}[${shape.join(', ')}] (tensor ${t.id}, ${t.byteLength} bytes)`, undefined);
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
    // WebGPU copies whole words. A write that ends mid-word is padded with zeros, which is only
    // right when the rest of that word is the tensor's padding.
    if (end % 4 !== 0 && Math.ceil(end / 4) * 4 !== t.byteLength) {
      throw new TensorError(`webgpu.write(tensor ${t.id})`, 'a byte length that is a multiple of 4, or a write that reaches the end of the tensor', `${src.byteLength} bytes at offset ${byteOffset} of ${t.byteLength}`);
    }
    const seq = this.open(['out-of-memory', 'validation']);
    if (end % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, src.buffer, src.byteOffset, src.byteLength);
    } else {
      const padded = new Uint8Array(Math.ceil(src.byteLength / 4) * 4);
      padded.set(src);
      this.device.queue.writeBuffer(buffer, byteOffset, padded);
    }
    this.watch(seq, 2, `write #${seq} of ${src.byteLength} bytes to tensor ${t.id}`, undefined);
  }

  async read(t: Tensor): Promise<Uint8Array> {
    this.check('read');
    const buffer = this.bufferOf(t);
    const seq = this.open(['out-of-memory', 'validation']);
    // A staging buffer per read, destroyed when the bytes are copied out (reads may overlap, and
    // a mapped buffer cannot be shared), so none outlives its read.
    const staging = this.device.createBuffer({ size: t.byteLength, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(buffer, 0, staging, 0, t.byteLength);
      this.device.queue.submit([enc.finish()]);
      this.watch(seq, 2, `read #${seq} of tensor ${t.id} (${t.byteLength} bytes)`, undefined);
      const mapped = staging.mapAsync(MAP_READ);
      await this.settle(track(mapped).catch(async (e: unknown) => {
        await this.drainErrors(); // an earlier failure (the likely cause) wins over the map's rejection
        throw e;
      }));
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
    const wg = launch.workgroupSize;
    const per = launch.perInvocation ?? 1;
    const passes = launch.passes?.(params) ?? 1;
    if (!Number.isInteger(passes) || passes < 1 || passes > MAX_PASSES) {
      throw new KernelArgumentError(kernelId, 'passes', `1 to ${MAX_PASSES} passes (launch.ts)`, String(passes));
    }
    const grids = Array.from({ length: passes }, (_, i) => {
      const total = launch.workgroups(params, wg, per, i);
      return { total, xy: this.grid(kernelId, total) };
    });

    const seq = this.open(['internal', 'out-of-memory', 'validation']);
    this.lastKernel = kernelId;
    this.lastDispatch = seq;
    const c = this.compiled(spec, launch);
    this.device.queue.writeBuffer(c.uniform, 0, packParams(spec, params) as Uint8Array<ArrayBuffer>);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: c.uniform } }];
    spec.bindings.forEach((b, i) => {
      entries.push({ binding: i + 1, resource: { buffer: this.bufferOf(bindings[b.name]), size: bindings[b.name].byteLength } });
    });
    const group = this.device.createBindGroup({ layout: c.layout, entries });
    if (c.passes) {
      // Slot i holds PassInfo { index: i, count: passes }; rewritten per dispatch (queue-ordered).
      const words = new Uint32Array((passes * c.passes.stride) / 4);
      for (let i = 0; i < passes; i++) words.set([i, passes], (i * c.passes.stride) / 4);
      this.device.queue.writeBuffer(c.passes.uniform, 0, words);
    }
    const enc = this.device.createCommandEncoder({ label: kernelId });
    const pass = enc.beginComputePass({ label: kernelId });
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, group);
    // Consecutive dispatches of one compute pass: WebGPU makes each one's storage writes visible to the next.
    grids.forEach(({ total, xy: [x, y] }, i) => {
      if (c.passes) pass.setBindGroup(1, c.passes.group, [i * c.passes.stride]);
      if (total > 0) pass.dispatchWorkgroups(x, y);
    });
    pass.end();
    this.device.queue.submit([enc.finish()]);
    this.watch(seq, 3, `dispatch #${seq} of ${kernelId}`, kernelId);
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
    for (const c of [...this.pipelines.values(), ...this.orphans]) {
      c.uniform.destroy();
      c.passes?.uniform.destroy();
    }
    this.orphans.length = 0;
    this.buffers.clear();
    this.pool.clear();
    this.pipelines.clear();
    this.byKernel.clear();
    this.reported = [];
    this.pooledBytes = 0;
    this.device.destroy();
    this.gpu = undefined;
  }

  supports(kernelId: string): true | string {
    if (!hasKernel(kernelId)) return `unknown kernel ${kernelId}`;
    if (kernelId in UNSUPPORTED) return UNSUPPORTED[kernelId];
    if (!(kernelId in WGSL_SOURCES) && !this.options.shaderOverrides?.[kernelId]) return `no WGSL source kernels-wgsl/${kernelId.replace('.', '/')}.wgsl`;
    if (!(kernelId in LAUNCH)) return 'no launch geometry in packages/runtime-webgpu/src/launch.ts';
    const storage = getKernel(kernelId).bindings.length;
    const limit = this.device.limits.maxStorageBuffersPerShaderStage;
    if (storage > limit) return `needs ${storage} storage buffers in one shader stage; this adapter allows ${limit} (maxStorageBuffersPerShaderStage)`;
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

  private compiled(spec: KernelSpec, launch: Launch): Compiled {
    const { workgroupSize, perInvocation } = launch;
    const multiPass = launch.passes !== undefined;
    const idKey = `${spec.id}:${workgroupSize}:${perInvocation ?? '-'}`;
    const known = this.byKernel.get(idKey);
    if (known) return known;
    const body = this.options.shaderOverrides?.[spec.id] ?? WGSL_SOURCES[spec.id];
    const code = wgslPrelude(spec) + body;
    const key = `${hashSource(code)}:${code.length}:${workgroupSize}:${perInvocation ?? '-'}:${multiPass ? 'passes' : '1'}`;
    const hit = this.pipelines.get(key);
    if (hit && hit.code === code) {
      this.byKernel.set(idKey, hit);
      return hit;
    }
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
    const passLayout = multiPass
      ? this.device.createBindGroupLayout({
          label: `${spec.id} passes`,
          entries: [{ binding: 0, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PASS_INFO_BYTES } }],
        })
      : undefined;
    const module = this.device.createShaderModule({ label: spec.id, code });
    const pipeline = this.device.createComputePipeline({
      label: spec.id,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: passLayout ? [layout, passLayout] : [layout] }),
      compute: { module, entryPoint: 'main', constants: perInvocation === undefined ? { WG: workgroupSize } : { WG: workgroupSize, PER: perInvocation } },
    });
    const uniform = this.device.createBuffer({ label: `${spec.id} params`, size: paramsByteLength(spec), usage: USAGE.UNIFORM | USAGE.COPY_DST });
    let passes: Compiled['passes'];
    if (passLayout) {
      const stride = Math.max(PASS_INFO_BYTES, this.device.limits.minUniformBufferOffsetAlignment);
      const passUniform = this.device.createBuffer({ label: `${spec.id} passes`, size: MAX_PASSES * stride, usage: USAGE.UNIFORM | USAGE.COPY_DST });
      const group = this.device.createBindGroup({ layout: passLayout, entries: [{ binding: 0, resource: { buffer: passUniform, size: PASS_INFO_BYTES } }] });
      passes = { uniform: passUniform, group, stride };
    }
    const c = { code, pipeline, layout, uniform, passes };
    // A (practically impossible) hash collision keeps the first entry; this kernel still gets its own pipeline.
    if (!hit) this.pipelines.set(key, c);
    else this.orphans.push(c);
    this.byKernel.set(idKey, c);
    return c;
  }

  /** Number the next call and push its error scopes (the last one named is the innermost). */
  private open(filters: readonly GPUErrorFilter[]): number {
    for (const f of filters) this.device.pushErrorScope(f);
    return ++this.seq;
  }

  /** Pop the `scopes` scopes of call `seq`; a reported error becomes a RuntimeFailure of that call. */
  private watch(seq: number, scopes: number, what: string, kernelId: string | undefined): void {
    const pops: Promise<GPUError | null>[] = [];
    for (let i = 0; i < scopes; i++) pops.push(this.device.popErrorScope());
    const p = track(Promise.all(pops)).then(
      (errors) => {
        const err = errors.find((e) => e !== null);
        if (err) this.report({ seq, kind: kindOf(err), kernelId, detail: `${what}: ${err.message}` });
      },
      (e: unknown) => {
        if (this.disposed) return;
        this.report({ seq, kind: this.lost ? 'device-lost' : 'internal', kernelId, detail: `${what}: ${String(e)}` });
      },
    );
    this.pending.add(p);
    p.finally(() => this.pending.delete(p));
  }

  private report(r: Reported): void {
    if (!this.disposed) this.reported.push(r);
  }

  /** Wait for every error scope and throw the failure of the earliest failing call. */
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
      if (e instanceof RuntimeFailure) throw e;
      await Promise.race([this.device.lost, Promise.resolve()]); // let an already-signalled loss land first
      this.throwIfFailed();
      if (this.disposed) throw new UnsupportedError(this.name, 'an operation pending at dispose()', 'the runtime was disposed');
      throw new RuntimeFailure('webgpu', 'internal', this.lastKernel, String(e));
    }
    this.throwIfFailed();
    return v;
  }

  /**
   * Throw the reported failure of the earliest call (device loss first); the errors reported
   * with it — usually its consequences, e.g. a dispatch on a buffer whose allocation failed —
   * are counted in its message and dropped, so each failure is thrown once.
   */
  private throwIfFailed(): void {
    if (this.lost) throw this.lost;
    if (this.reported.length === 0) return;
    const all = this.reported.sort((a, b) => a.seq - b.seq);
    this.reported = [];
    const [first, next] = all;
    const more = all.length - 1;
    const tail = next ? ` (and ${more} later error${more > 1 ? 's' : ''}, the first: ${next.detail})` : '';
    throw new RuntimeFailure(this.name, first.kind, first.kernelId, first.detail + tail);
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
