/**
 * The wasm runtime's memory and errors: the arena (first fit, coalescing, growth beyond the
 * initial memory), no leaks across dispatches, and typed errors for bad dispatches, foreign and
 * freed tensors, and a disposed runtime.
 */
import { KernelArgumentError, NF4_CODE, PreconditionError, TensorError, UnsupportedError } from '@kvant/abi';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALIGN, Arena } from './arena';
import { createWasmRuntime, type WasmRuntime } from './index';
import { randn, ReferenceRuntime, rng } from '@kvant/reference';

describe('Arena', () => {
  it('hands out aligned, disjoint ranges and coalesces everything back into one free range', () => {
    const arena = new Arena(64, 64 + (1 << 20));
    const u = rng(1);
    const live: { addr: number; size: number }[] = [];
    for (let round = 0; round < 2000; round++) {
      if (live.length > 0 && u() < 0.45) {
        const [a] = live.splice(Math.floor(u() * live.length), 1);
        arena.release(a.addr, a.size);
      } else {
        const size = 1 + Math.floor(u() * 3000);
        const addr = arena.alloc(size);
        if (addr === undefined) continue;
        expect(addr % ALIGN).toBe(0);
        const overlapping = live.filter((b) => addr < b.addr + b.size && b.addr < addr + size);
        expect(overlapping).toEqual([]);
        live.push({ addr, size });
      }
    }
    for (const a of live) arena.release(a.addr, a.size);
    expect(arena.bytesInUse).toBe(0);
    expect(arena.freeRanges).toBe(1);
    expect(arena.alloc(arena.end - arena.base)).toBe(arena.base);
  });

  it('first fit reuses the lowest hole', () => {
    const arena = new Arena(0, 1024);
    const a = arena.alloc(100)!;
    const b = arena.alloc(100)!;
    arena.alloc(100);
    arena.release(a, 100);
    arena.release(b, 100);
    expect(arena.alloc(200)).toBe(a);
  });

  it('reports the growth needed, counting the free tail, and extends', () => {
    const arena = new Arena(0, 1024);
    arena.alloc(512);
    expect(arena.alloc(1024)).toBeUndefined();
    expect(arena.growthNeeded(1024)).toBe(512);
    arena.extend(1536);
    expect(arena.alloc(1024)).toBe(512);
  });

  it('refuses a double release', () => {
    const arena = new Arena(0, 1024);
    const a = arena.alloc(32)!;
    arena.alloc(32);
    arena.release(a, 32);
    expect(() => arena.release(a, 32)).toThrow(/overlaps/);
    expect(arena.bytesInUse).toBe(32);
  });
});

describe('WasmRuntime memory', () => {
  let rt: WasmRuntime;
  beforeEach(async () => {
    rt = await createWasmRuntime();
  });
  afterEach(() => rt.dispose());

  it('describes itself', () => {
    expect(rt.info().description).toMatch(/^WebAssembly \(SIMD, (\d+ threads|single thread)\)$/);
    expect(rt.supports('quant.nf4_quantize')).toBe(true);
    expect(rt.supports('quant.nope')).toMatch(/unknown kernel/);
  });

  it('allocates and frees many tensors without leaking', async () => {
    const u = rng(2);
    const tensors = Array.from({ length: 500 }, () => rt.alloc('f32', [1 + Math.floor(u() * 5000)]));
    expect(rt.bytesInUse).toBeGreaterThan(0);
    for (const t of tensors.filter((_, i) => i % 2 === 0)) rt.free(t);
    const again = Array.from({ length: 250 }, () => rt.alloc('u8', [1 + Math.floor(u() * 9000)]));
    for (const t of [...tensors.filter((_, i) => i % 2 === 1), ...again]) rt.free(t);
    expect(rt.bytesInUse).toBe(0);
    const memory = rt.memoryBytes;
    // Memory once grown is reused, not grown again.
    const t = rt.alloc('f32', [100_000]);
    rt.free(t);
    expect(rt.memoryBytes).toBe(memory);
  });

  it('a fresh tensor reads back zeros, and data round-trips', async () => {
    const t = rt.alloc('f32', [7]);
    expect(Array.from(await rt.read(t))).toEqual(new Array(28).fill(0));
    rt.write(t, Float32Array.from([1, 2, 3]), 8);
    expect(Array.from(new Float32Array((await rt.read(t)).buffer))).toEqual([0, 0, 1, 2, 3, 0, 0]);
    rt.free(t);
  });

  it('a tensor in reused memory reads back zeros too, on 1 and 2 threads (shared memory)', async () => {
    for (const threads of [1, 2]) {
      const r = await createWasmRuntime({ threads });
      try {
        const a = r.alloc('u32', [1001]);
        r.write(a, new Uint32Array(1001).fill(0xdeadbeef));
        r.free(a);
        const b = r.alloc('u32', [1001]); // first fit: the same bytes as a
        expect(new Uint32Array((await r.read(b)).buffer).every((x) => x === 0), `threads ${threads}`).toBe(true);
      } finally {
        r.dispose();
      }
    }
  });

  it('grows beyond the initial memory and keeps data across growth', async () => {
    const before = rt.memoryBytes;
    const small = rt.alloc('f32', [1000]);
    const x = randn(1000, 3);
    rt.write(small, x);
    const words = (24 << 20) / 4; // 24 MiB per tensor
    const src = rt.alloc('u32', [words]);
    const dst = rt.alloc('u32', [words]);
    expect(rt.memoryBytes).toBeGreaterThanOrEqual(before + 48 * 2 ** 20);
    const data = Uint32Array.from({ length: words }, (_, i) => (i * 2654435761) >>> 0);
    rt.write(src, data);
    rt.dispatch('mem.copy', { src, dst }, { words });
    const out = new Uint32Array((await rt.read(dst)).buffer);
    expect(out[0]).toBe(data[0]);
    expect(out[words - 1]).toBe(data[words - 1]);
    expect(out.every((v, i) => v === data[i])).toBe(true);
    expect(new Float32Array((await rt.read(small)).buffer)).toEqual(x);
    for (const t of [small, src, dst]) rt.free(t);
    expect(rt.bytesInUse).toBe(0);
  });

  it('dispatches do not grow memory or bytesInUse', async () => {
    const n = 4097;
    const x = rt.alloc('f32', [n]);
    const packed = rt.alloc('u8', [Math.ceil(n / 2)]);
    const absmax = rt.alloc('f32', [Math.ceil(n / 64)]);
    const code = rt.alloc('f32', [16]);
    const out = rt.alloc('f32', [n]);
    rt.write(x, randn(n, 4));
    rt.write(code, NF4_CODE);
    const inUse = rt.bytesInUse;
    const memory = rt.memoryBytes;
    for (let i = 0; i < 200; i++) {
      rt.dispatch('quant.nf4_quantize', { x, packed, absmax }, { n, blocksize: 64 });
      rt.dispatch('quant.dequantize_4bit', { packed, absmax, code, out }, { n, blocksize: 64 });
    }
    expect(rt.bytesInUse).toBe(inUse);
    expect(rt.memoryBytes).toBe(memory);
    for (const t of [x, packed, absmax, code, out]) rt.free(t);
  });

  it('runtimes are independent', async () => {
    const other = await createWasmRuntime();
    const a = rt.alloc('f32', [4]);
    const b = other.alloc('f32', [4]);
    rt.write(a, Float32Array.from([1, 2, 3, 4]));
    other.write(b, Float32Array.from([5, 6, 7, 8]));
    expect(Array.from(new Float32Array((await rt.read(a)).buffer))).toEqual([1, 2, 3, 4]);
    await expect(rt.read(b)).rejects.toThrow(TensorError);
    other.dispose();
  });
});

describe('WasmRuntime errors', () => {
  let rt: WasmRuntime;
  beforeEach(async () => {
    rt = await createWasmRuntime();
  });
  afterEach(() => rt.dispose());

  const nf4 = (r: WasmRuntime, n: number, xDtype: 'f32' | 'i32' = 'f32') => ({
    x: r.alloc(xDtype, [n]),
    packed: r.alloc('u8', [Math.ceil(n / 2)]),
    absmax: r.alloc('f32', [Math.ceil(n / 32)]),
  });

  it('a failed precondition names the kernel and the param', () => {
    const b = nf4(rt, 128);
    const run = () => rt.dispatch('quant.nf4_quantize', b, { n: 128, blocksize: 48 });
    expect(run).toThrow(PreconditionError);
    expect(run).toThrow(/quant\.nf4_quantize.*blocksize/);
  });

  it('a binding of the wrong dtype names the kernel, the binding and both dtypes', () => {
    const b = nf4(rt, 128, 'i32');
    const run = () => rt.dispatch('quant.nf4_quantize', b, { n: 128, blocksize: 64 });
    expect(run).toThrow(KernelArgumentError);
    expect(run).toThrow(/quant\.nf4_quantize: binding x: expected dtype f32, found dtype i32/);
  });

  it('a too-small binding is refused before any kernel runs', () => {
    const b = nf4(rt, 100);
    expect(() => rt.dispatch('quant.nf4_quantize', b, { n: 128, blocksize: 64 })).toThrow(/binding x: expected at least 128 elements/);
  });

  it('freed tensors give typed errors everywhere', async () => {
    const b = nf4(rt, 64);
    rt.free(b.x);
    expect(() => rt.dispatch('quant.nf4_quantize', b, { n: 64, blocksize: 64 })).toThrow(KernelArgumentError);
    expect(() => rt.dispatch('quant.nf4_quantize', b, { n: 64, blocksize: 64 })).toThrow(/binding x: expected a live tensor/);
    await expect(rt.read(b.x)).rejects.toThrow(TensorError);
    expect(() => rt.write(b.x, new Float32Array(4))).toThrow(TensorError);
    expect(() => rt.free(b.x)).toThrow(/which was freed/);
  });

  it('tensors of another runtime are refused', async () => {
    const reference = new ReferenceRuntime();
    const foreign = reference.alloc('f32', [64]);
    const b = { ...nf4(rt, 64), x: foreign };
    expect(() => rt.dispatch('quant.nf4_quantize', b, { n: 64, blocksize: 64 })).toThrow(/binding x: expected a tensor on wasm, found a tensor on reference/);
    expect(() => rt.write(foreign, new Float32Array(4))).toThrow(TensorError);
    expect(() => rt.free(foreign)).toThrow(TensorError);
  });

  it('writes outside the tensor are refused', () => {
    const t = rt.alloc('f32', [4]);
    expect(() => rt.write(t, new Float32Array(5))).toThrow(TensorError);
    expect(() => rt.write(t, new Float32Array(1), 2)).toThrow(TensorError);
  });

  it('a disposed runtime refuses every call', async () => {
    const t = rt.alloc('f32', [4]);
    rt.dispose();
    expect(() => rt.alloc('f32', [4])).toThrow(UnsupportedError);
    await expect(rt.read(t)).rejects.toThrow(/after dispose/);
    expect(() => rt.dispatch('mem.copy', { src: t, dst: t }, { words: 1 })).toThrow(UnsupportedError);
  });

  it('an unknown kernel is refused with the reason', () => {
    expect(() => rt.dispatch('quant.nope', {}, {})).toThrow(UnsupportedError);
  });
});
