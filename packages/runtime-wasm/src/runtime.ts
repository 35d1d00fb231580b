import {
  type AnyTypedArray,
  bytesOf,
  type DType,
  getKernel,
  hasKernel,
  KERNELS,
  KernelArgumentError,
  makeTensor,
  type Params,
  packParams,
  paramsByteLength,
  type Runtime,
  type RuntimeInfo,
  RuntimeFailure,
  type Tensor,
  TensorError,
  UnsupportedError,
  validateDispatch,
} from '@kvant/abi';
import { Arena, alignUp } from './arena';
import { type KernelFn, type KernelInstance, instantiateKernels } from './module';
import { UNSUPPORTED } from './unsupported';

const PAGE = 65536;
/** Grow memory by at least this much at a time, so that many small allocations grow it rarely. */
const MIN_GROWTH = 16 * PAGE;
/** wasm32 addresses: 65536 pages of 64 KiB. */
const MAX_PAGES = 65536;

interface Storage {
  readonly ptr: number;
  readonly bytes: number;
}

/**
 * The `wasm` runtime: AssemblyScript kernels compiled into one SIMD module, run on the calling
 * thread. Tensors live in the module's linear memory, handed out by a first-fit arena that grows
 * the memory when it runs out. A dispatch writes the packed params and the binding pointer table
 * into a fixed scratch area below the arena and calls the kernel export; nothing is allocated per
 * dispatch, so nothing can leak across dispatches.
 */
export class WasmRuntime implements Runtime {
  readonly name = 'wasm' as const;
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: ReadonlyMap<string, KernelFn>;
  private readonly arena: Arena;
  private readonly storage = new Map<number, Storage>();
  /** Scratch: the params block at paramsPtr, then one u32 pointer per binding at bindingsPtr. */
  private readonly paramsPtr: number;
  private readonly bindingsPtr: number;
  private u8: Uint8Array;
  private u32: Uint32Array;
  private nextId = 1;
  private disposed = false;

  /** Use `createWasmRuntime()`; this takes an instantiated kernels module. */
  constructor(instance: KernelInstance) {
    this.memory = instance.memory;
    this.kernels = instance.kernels;
    const paramsBytes = Math.max(...KERNELS.map(paramsByteLength));
    const bindingsBytes = 4 * Math.max(...KERNELS.map((k) => k.bindings.length));
    this.paramsPtr = alignUp(instance.heapBase);
    this.bindingsPtr = this.paramsPtr + alignUp(paramsBytes);
    const arenaBase = this.bindingsPtr + alignUp(bindingsBytes);
    if (arenaBase > this.memory.buffer.byteLength) this.grow(arenaBase - this.memory.buffer.byteLength, 'the dispatch scratch');
    this.arena = new Arena(arenaBase, this.memory.buffer.byteLength);
    this.u8 = new Uint8Array(this.memory.buffer);
    this.u32 = new Uint32Array(this.memory.buffer);
  }

  info(): RuntimeInfo {
    return {
      name: this.name,
      description: 'WebAssembly (SIMD, single thread)',
      details: {
        kernels: this.kernels.size,
        memoryBytes: this.memory.buffer.byteLength,
        bytesInUse: this.arena.bytesInUse,
        liveTensors: this.storage.size,
      },
    };
  }

  /** Bytes held by live tensors (rounded to the arena's 16-byte granule); for leak checks. */
  get bytesInUse(): number {
    return this.arena.bytesInUse;
  }

  /** Current size of the linear memory in bytes. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  alloc(dtype: DType, shape: readonly number[]): Tensor {
    this.check('alloc');
    const t = makeTensor(this, this.nextId++, dtype, shape);
    const bytes = alignUp(t.byteLength);
    let ptr = this.arena.alloc(bytes);
    if (ptr === undefined) {
      this.grow(this.arena.growthNeeded(bytes), `tensor ${dtype}[${shape.join(', ')}] (${bytes} bytes)`);
      this.arena.extend(this.memory.buffer.byteLength);
      ptr = this.arena.alloc(bytes);
      if (ptr === undefined) throw new RuntimeFailure('wasm', 'internal', undefined, `arena could not place ${bytes} bytes after growing`);
    }
    // Zeroed, so that padding bytes and unwritten outputs read the same on every runtime.
    this.view().fill(0, ptr, ptr + bytes);
    this.storage.set(t.id, { ptr, bytes });
    return t;
  }

  write(t: Tensor, data: AnyTypedArray, byteOffset = 0): void {
    const s = this.storageOf(t, 'write');
    const src = bytesOf(data);
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0 || byteOffset + src.byteLength > t.byteLength) {
      throw new TensorError(
        `wasm.write(tensor ${t.id})`,
        `a 4-aligned byte range within the tensor's ${t.byteLength} bytes`,
        `${src.byteLength} bytes at offset ${byteOffset}`,
      );
    }
    this.view().set(src, s.ptr + byteOffset);
  }

  async read(t: Tensor): Promise<Uint8Array> {
    const s = this.storageOf(t, 'read');
    return this.view().slice(s.ptr, s.ptr + t.byteLength);
  }

  dispatch(kernelId: string, bindings: Readonly<Record<string, Tensor>>, params: Params): void {
    this.check('dispatch');
    const ok = this.supports(kernelId);
    if (ok !== true) throw new UnsupportedError(this.name, kernelId, ok);
    const spec = getKernel(kernelId);
    validateDispatch(spec, this, bindings, params);
    const pointers = spec.bindings.map((b) => {
      const s = this.storage.get(bindings[b.name].id);
      if (!s) throw new KernelArgumentError(kernelId, `binding ${b.name}`, 'a live tensor', `tensor ${bindings[b.name].id}, which was freed`);
      return s.ptr;
    });
    this.view().set(packParams(spec, params), this.paramsPtr);
    this.u32.set(pointers, this.bindingsPtr >>> 2); // view() above refreshed u32 too
    const fn = this.kernels.get(kernelId)!;
    try {
      fn(this.paramsPtr, this.bindingsPtr);
    } catch (e) {
      if (e instanceof RuntimeFailure) throw e;
      throw new RuntimeFailure(this.name, 'launch', kernelId, e instanceof Error ? e.message : String(e));
    }
  }

  async flush(): Promise<void> {
    this.check('flush');
  }

  free(t: Tensor): void {
    const s = this.storageOf(t, 'free');
    this.storage.delete(t.id);
    this.arena.release(s.ptr, s.bytes);
  }

  /** Release every tensor. The instance (and its memory) is dropped with this object. */
  dispose(): void {
    this.storage.clear();
    this.disposed = true;
  }

  supports(kernelId: string): true | string {
    if (!hasKernel(kernelId)) return `unknown kernel ${kernelId}`;
    if (kernelId in UNSUPPORTED) return UNSUPPORTED[kernelId];
    return this.kernels.has(kernelId) ? true : `the kernels module lacks ${kernelId}`;
  }

  /** A byte view of the whole memory, re-created after the memory grew (growth detaches the old buffer). */
  private view(): Uint8Array {
    if (this.u8.buffer !== this.memory.buffer) {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.u32 = new Uint32Array(this.memory.buffer);
    }
    return this.u8;
  }

  /** Grow the linear memory by at least `need` bytes (by MIN_GROWTH when that fits), or throw out-of-memory. */
  private grow(need: number, what: string): void {
    const current = this.memory.buffer.byteLength / PAGE;
    const minimal = Math.ceil(need / PAGE);
    const generous = Math.max(minimal, MIN_GROWTH / PAGE);
    for (const pages of generous > minimal ? [generous, minimal] : [minimal]) {
      if (current + pages > MAX_PAGES) continue;
      try {
        this.memory.grow(pages);
        this.view();
        return;
      } catch {
        // The engine refused; try the smaller request.
      }
    }
    throw new RuntimeFailure(
      this.name,
      'out-of-memory',
      undefined,
      `cannot grow linear memory (${current * PAGE} bytes) by ${need} bytes for ${what}; the wasm32 limit is ${MAX_PAGES * PAGE} bytes`,
    );
  }

  private storageOf(t: Tensor, op: string): Storage {
    this.check(op);
    if (t.runtime !== this) {
      throw new TensorError(`wasm.${op}`, 'a tensor allocated by this wasm runtime', `a tensor of runtime ${t.runtime.name}`);
    }
    const s = this.storage.get(t.id);
    if (!s) throw new TensorError(`wasm.${op}`, 'a live tensor', `tensor ${t.id}, which was freed`);
    return s;
  }

  private check(op: string): void {
    if (this.disposed) throw new UnsupportedError(this.name, `${op}() after dispose()`, 'the runtime was disposed');
  }
}

/** Create a wasm runtime (compiles the embedded module on first use, instantiates it per runtime). */
export async function createWasmRuntime(): Promise<WasmRuntime> {
  return new WasmRuntime(await instantiateKernels());
}
