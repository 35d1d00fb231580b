import {
  type AnyTypedArray,
  bytesOf,
  type DType,
  getKernel,
  hasKernel,
  KvantError,
  makeTensor,
  packParams,
  type Params,
  type Runtime,
  RuntimeFailure,
  type RuntimeInfo,
  type Tensor,
  TensorError,
  UnsupportedError,
  validateDispatch,
} from '@kvant/abi';
import type { Addon, AddonContext, AddonError } from './addon';
import { UNSUPPORTED } from './unsupported';

type FailureKind = RuntimeFailure['kind'];
const FAILURE_KINDS: readonly FailureKind[] = ['out-of-memory', 'device-lost', 'validation', 'launch', 'illegal-address', 'internal'];

/**
 * The `cuda` and `cuda-emu` runtimes: kernels-cuda/ behind a native addon. Each runtime owns one
 * addon Context (one CUDA stream); tensors are device allocations tracked by handle, so
 * `dispose()` frees everything still live. Dispatches are asynchronous on `cuda` (ordered on the
 * stream) and synchronous on `cuda-emu`.
 */
export class CudaRuntime implements Runtime {
  readonly name: 'cuda' | 'cuda-emu';
  private readonly ctx: AddonContext;
  private readonly handles = new Map<number, number>();
  private readonly kernels: ReadonlySet<string>;
  private nextId = 1;
  private disposed = false;

  constructor(private readonly addon: Addon) {
    this.name = addon.build;
    this.kernels = new Set(addon.kernels());
    this.ctx = this.call(undefined, () => new addon.Context());
  }

  info(): RuntimeInfo {
    const d = this.addon.deviceInfo();
    const description =
      this.name === 'cuda-emu'
        ? 'CUDA kernels compiled for the host CPU (threads as fibers)'
        : `${d.name} (compute capability ${d.computeCapability}, ${d.multiProcessors} SMs, ${((d.memoryBytes ?? 0) / 2 ** 30).toFixed(1)} GiB)`;
    return { name: this.name, description, details: { ...d } };
  }

  alloc(dtype: DType, shape: readonly number[]): Tensor {
    this.check();
    const t = makeTensor(this, this.nextId++, dtype, shape);
    this.handles.set(t.id, this.call(undefined, () => this.ctx.alloc(t.byteLength)));
    return t;
  }

  write(t: Tensor, data: AnyTypedArray, byteOffset = 0): void {
    const handle = this.handleOf(t);
    const src = bytesOf(data);
    if (byteOffset % 4 !== 0 || byteOffset < 0 || byteOffset + src.byteLength > t.byteLength) {
      throw new TensorError(`${this.name}.write(tensor ${t.id})`, `a 4-aligned range within ${t.byteLength} bytes`, `${src.byteLength} bytes at offset ${byteOffset}`);
    }
    this.call(undefined, () => this.ctx.write(handle, byteOffset, src));
  }

  async read(t: Tensor): Promise<Uint8Array> {
    const handle = this.handleOf(t);
    return this.call(undefined, () => this.ctx.read(handle));
  }

  dispatch(kernelId: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void {
    this.check();
    const ok = this.supports(kernelId);
    if (ok !== true) throw new UnsupportedError(this.name, kernelId, ok);
    const spec = getKernel(kernelId);
    validateDispatch(spec, this, bindings, params);
    const handles = spec.bindings.map((b) => this.handleOf(bindings[b.name]));
    const block = packParams(spec, params);
    this.call(kernelId, () => this.ctx.dispatch(kernelId, block, handles));
  }

  async flush(): Promise<void> {
    this.check();
    this.call(undefined, () => this.ctx.synchronize());
  }

  free(t: Tensor): void {
    const handle = this.handleOf(t);
    this.call(undefined, () => this.ctx.free(handle));
    this.handles.delete(t.id);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.handles.clear();
    this.ctx.dispose();
  }

  supports(kernelId: string): true | string {
    if (!hasKernel(kernelId)) return `unknown kernel ${kernelId}`;
    if (kernelId in UNSUPPORTED) return UNSUPPORTED[kernelId];
    if (!this.kernels.has(kernelId)) return `${kernelId} is not built into the ${this.name} addon (rebuild @kvant/runtime-cuda)`;
    return true;
  }

  /** Live device allocations (for leak checks). */
  get liveBuffers(): number {
    return this.disposed ? 0 : this.ctx.live();
  }

  /**
   * Run one of the emulator self-test kernels (kernels-cuda/emu/selftest.cu) on zeroed outputs:
   * a diagnostic for the emulator (and, on a GPU, for the same expectations on hardware).
   */
  selfTest(name: string): { f32: Float32Array; i32: Int32Array } {
    this.check();
    const r = this.call(`selftest.${name}`, () => this.ctx.selfTest(name));
    if (!r) throw new UnsupportedError(this.name, `self test ${name}`, 'no such self test in this build');
    return r;
  }

  /** Run an addon call, turning its errors into typed kvant errors. */
  private call<T>(kernelId: string | undefined, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw toKvantError(this.name, kernelId, e);
    }
  }

  private handleOf(t: Tensor): number {
    this.check();
    if (t.runtime !== this) throw new TensorError(this.name, 'a tensor of this runtime', `a tensor of ${t.runtime.name}`);
    const h = this.handles.get(t.id);
    if (h === undefined) throw new TensorError(this.name, 'a live tensor', `tensor ${t.id}, which was freed`);
    return h;
  }

  private check(): void {
    if (this.disposed) throw new UnsupportedError(this.name, 'use after dispose()', 'the runtime was disposed');
  }
}

/** Map an addon error (with `kind` and `kernel`) to UnsupportedError or RuntimeFailure. */
export function toKvantError(runtime: string, kernelId: string | undefined, e: unknown): Error {
  if (e instanceof KvantError) return e;
  const err = e as AddonError;
  const message = err instanceof Error ? err.message : String(e);
  const kernel = err?.kernel ?? kernelId;
  if (err?.kind === 'unsupported') return new UnsupportedError(runtime, kernel ?? 'the CUDA device', message);
  const kind = FAILURE_KINDS.includes(err?.kind as FailureKind) ? (err.kind as FailureKind) : 'internal';
  return new RuntimeFailure(runtime, kind, kernel, message);
}
