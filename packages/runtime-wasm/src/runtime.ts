import {
  type AnyTypedArray,
  bytesOf,
  ConfigError,
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
import { type KernelFn, type KernelInstance, instantiateKernels, kernelsModule, type PartFn, partExport, SCRATCH_BYTES, sharedMemory } from './module';
import { defaultThreads, ThreadPool, threadsUnavailable } from './threads';
import { UNSUPPORTED } from './unsupported';

/** Options of createWasmRuntime. */
export interface WasmRuntimeOptions {
  /**
   * Threads to split heavy kernels over (matmul, 4-bit matmul): the calling thread plus
   * `threads - 1` workers over one shared memory. Default: the machine's cores. 1: no workers.
   * Results are bit-identical for every thread count.
   */
  readonly threads?: number;
}

/**
 * Split a kernel over the threads only when it has at least this many flops (below, waking workers
 * costs more than it saves). A hand-off (Atomics notify + wait) costs some microseconds, a 2^18-flop
 * kernel some tens: on the tiny model (B 2 x T 256, LoRA r 16) the LoRA matmuls (m 512, k or n 16)
 * and the elementwise kernels sit between 2^18 and 2^22, and splitting them gave ~15% on 2 threads.
 */
const SPLIT_MIN_FLOPS = 1 << 18;

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
 * The `wasm` runtime: AssemblyScript kernels compiled into one SIMD module. Tensors live in the
 * module's linear memory, handed out by a first-fit arena that grows the memory when it runs out.
 * A dispatch writes the packed params and the binding pointer table into a fixed scratch area
 * below the arena and calls the kernel export; nothing is allocated per dispatch, so nothing can
 * leak across dispatches. With threads, the memory is shared with workers (src/threads.ts) and a
 * kernel that has a `__part` export is split over them by output tiles (the dispatch returns when
 * every part is done), each part with its own SCRATCH_BYTES of working memory.
 */
export class WasmRuntime implements Runtime {
  readonly name = 'wasm' as const;
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: ReadonlyMap<string, KernelFn>;
  private readonly zero: (ptr: number, bytes: number) => void;
  private readonly parts: ReadonlyMap<string, PartFn>;
  /** Index of each part export in the workers' table (the order of `parts`). */
  private readonly partIndex: ReadonlyMap<string, number>;
  private readonly pool: ThreadPool | undefined;
  /** Why this runtime runs on one thread when more were asked for (shown in info()). */
  private readonly singleThreadReason: string | undefined;
  /** Working memory of each thread's part (one region per thread; one when single-threaded). */
  private readonly scratch: number[] = [];
  private readonly arena: Arena;
  private readonly storage = new Map<number, Storage>();
  /** Scratch: the params block at paramsPtr, then one u32 pointer per binding at bindingsPtr. */
  private readonly paramsPtr: number;
  private readonly bindingsPtr: number;
  private u8: Uint8Array;
  private u32: Uint32Array;
  private nextId = 1;
  private disposed = false;

  /**
   * Use `createWasmRuntime()`; this takes an instantiated kernels module and, for threads, the
   * pool of workers over the same (shared) memory.
   */
  constructor(instance: KernelInstance, pool?: ThreadPool, singleThreadReason?: string) {
    this.memory = instance.memory;
    this.kernels = instance.kernels;
    this.zero = instance.zero;
    this.parts = instance.parts;
    this.partIndex = new Map([...instance.parts.keys()].map((id, i) => [id, i]));
    this.pool = pool;
    this.singleThreadReason = singleThreadReason;
    const paramsBytes = Math.max(...KERNELS.map(paramsByteLength));
    const bindingsBytes = 4 * Math.max(...KERNELS.map((k) => k.bindings.length));
    this.paramsPtr = alignUp(instance.heapBase);
    this.bindingsPtr = this.paramsPtr + alignUp(paramsBytes);
    let arenaBase = this.bindingsPtr + alignUp(bindingsBytes);
    // Every thread's part gets SCRATCH_BYTES of working memory (one thread: still one, so that the
    // splittable kernels run their fast path, blocked for 1 MiB, rather than the plain export's).
    for (let t = 0; t < (pool?.threads ?? 1); t++) {
      this.scratch.push(arenaBase);
      arenaBase += SCRATCH_BYTES;
    }
    this.u8 = new Uint8Array(this.memory.buffer);
    this.u32 = new Uint32Array(this.memory.buffer);
    if (arenaBase > this.memory.buffer.byteLength) this.grow(arenaBase - this.memory.buffer.byteLength, 'the dispatch scratch');
    this.arena = new Arena(arenaBase, this.memory.buffer.byteLength);
  }

  /** Threads heavy kernels are split over (1: no workers). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  info(): RuntimeInfo {
    const threads = this.pool ? `${this.pool.threads} threads` : `single thread${this.singleThreadReason ? `: ${this.singleThreadReason}` : ''}`;
    return {
      name: this.name,
      description: `WebAssembly (SIMD, ${threads})`,
      details: {
        threads: this.threads,
        ...(this.singleThreadReason ? { singleThreadReason: this.singleThreadReason } : {}),
        splitKernels: [...this.parts.keys()],
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
    // Zeroed, so that padding bytes and unwritten outputs read the same on every runtime. By the
    // module's memory.fill: a JS fill of the threaded build's shared memory ran at ~1.5 GB/s.
    this.zero(ptr, bytes);
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
    const part = this.parts.get(kernelId);
    try {
      const p = this.paramsPtr;
      const b = this.bindingsPtr;
      if (this.pool && part && spec.cost(params).flops >= SPLIT_MIN_FLOPS) {
        const parts = this.pool.threads;
        this.pool.run(this.partIndex.get(kernelId)!, p, b, parts, this.scratch, () => part(p, b, 0, parts, this.scratch[0]));
      } else if (part) part(p, b, 0, 1, this.scratch[0]);
      else fn(p, b);
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
    this.pool?.dispose();
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

/**
 * Create a wasm runtime (compiles the embedded module on first use, instantiates it per runtime).
 * With more than one thread (the default on a machine with several cores) heavy kernels are split
 * over workers; where memory cannot be shared (a page without cross-origin isolation) it runs on
 * one thread and `info()` says why.
 */
export async function createWasmRuntime(options: WasmRuntimeOptions = {}): Promise<WasmRuntime> {
  const threads = options.threads ?? (await defaultThreads());
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new ConfigError('wasm runtime threads', 'an integer from 1 to 256', JSON.stringify(options.threads));
  }
  if (threads === 1) return new WasmRuntime(await instantiateKernels());
  const unavailable = threadsUnavailable();
  if (unavailable) return new WasmRuntime(await instantiateKernels(), undefined, unavailable);
  const memory = sharedMemory();
  const instance = await instantiateKernels(memory);
  const names = [...instance.parts.keys()].map(partExport);
  const pool = await ThreadPool.start(threads, await kernelsModule(true), memory, names);
  return new WasmRuntime(instance, pool);
}
