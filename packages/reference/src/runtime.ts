import {
  type AnyTypedArray,
  bytesOf,
  type DType,
  getKernel,
  hasKernel,
  makeTensor,
  type Params,
  type Runtime,
  type RuntimeInfo,
  TensorError,
  type Tensor,
  UnsupportedError,
  validateDispatch,
} from '@kvant/abi';
import { referenceKernels } from './kernels';

/**
 * The `reference` runtime: host memory, one plain TypeScript function per kernel. Slow and
 * obviously right; every other runtime is compared with it.
 */
export class ReferenceRuntime implements Runtime {
  readonly name = 'reference' as const;
  private readonly buffers = new Map<number, Uint8Array>();
  private nextId = 1;
  private disposed = false;

  info(): RuntimeInfo {
    return { name: this.name, description: 'plain TypeScript on the host (the oracle)' };
  }

  alloc(dtype: DType, shape: readonly number[]): Tensor {
    this.check();
    const t = makeTensor(this, this.nextId++, dtype, shape);
    this.buffers.set(t.id, new Uint8Array(t.byteLength));
    return t;
  }

  write(t: Tensor, data: AnyTypedArray, byteOffset = 0): void {
    const buf = this.bufferOf(t);
    const src = bytesOf(data);
    if (byteOffset % 4 !== 0 || byteOffset + src.byteLength > buf.byteLength) {
      throw new TensorError(`reference.write(tensor ${t.id})`, `a 4-aligned range within ${buf.byteLength} bytes`, `${src.byteLength} bytes at offset ${byteOffset}`);
    }
    buf.set(src, byteOffset);
  }

  async read(t: Tensor): Promise<Uint8Array> {
    return this.bufferOf(t).slice();
  }

  dispatch(kernelId: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void {
    this.check();
    const ok = this.supports(kernelId);
    if (ok !== true) throw new UnsupportedError(this.name, kernelId, ok);
    const spec = getKernel(kernelId);
    validateDispatch(spec, this, bindings, params);
    const bufs: Record<string, Uint8Array> = {};
    for (const b of spec.bindings) bufs[b.name] = this.bufferOf(bindings[b.name]);
    referenceKernels[kernelId].run(params, bufs);
  }

  async flush(): Promise<void> {}

  free(t: Tensor): void {
    this.buffers.delete(t.id);
  }

  dispose(): void {
    this.buffers.clear();
    this.disposed = true;
  }

  supports(kernelId: string): true | string {
    if (!hasKernel(kernelId)) return `unknown kernel ${kernelId}`;
    return kernelId in referenceKernels ? true : 'no reference implementation';
  }

  /** Bytes held (for leak checks in tests). */
  get liveBuffers(): number {
    return this.buffers.size;
  }

  private bufferOf(t: Tensor): Uint8Array {
    if (t.runtime !== this) throw new TensorError('reference', 'a tensor of this runtime', `a tensor of ${t.runtime.name}`);
    const b = this.buffers.get(t.id);
    if (!b) throw new TensorError('reference', `a live tensor`, `tensor ${t.id}, which was freed`);
    return b;
  }

  private check(): void {
    if (this.disposed) throw new UnsupportedError(this.name, 'use after dispose()', 'the runtime was disposed');
  }
}
