/**
 * The runtime shell: `cuda` without a GPU fails with a clear UnsupportedError (never a crash),
 * typed errors for bad dispatches, no leaks after dispose.
 */
import { KernelArgumentError, NF4_CODE, PreconditionError, RuntimeFailure, TensorError, UnsupportedError } from '@kvant/abi';
import { describe, expect, it } from 'vitest';
import { createCudaRuntime, cudaAvailable } from './index';
import { toKvantError } from './runtime';

describe('cuda (hardware) runtime', () => {
  const available = cudaAvailable(false);
  // One test, two outcomes: a machine has a usable GPU or it does not; neither case is skipped.
  it(available === true ? 'with a GPU, the runtime reports the device' : 'without a usable GPU, creation throws UnsupportedError saying why', async () => {
    if (available === true) {
      const rt = await createCudaRuntime({ emulated: false });
      expect(rt.name).toBe('cuda');
      expect(rt.info().description).toMatch(/compute capability/);
      rt.dispose();
      return;
    }
    expect(typeof available).toBe('string');
    await expect(createCudaRuntime({ emulated: false })).rejects.toBeInstanceOf(UnsupportedError);
    await expect(createCudaRuntime({ emulated: false })).rejects.toThrow(/no CUDA driver|no CUDA device|not built|failed to load|older than/);
  });
});

describe('cuda-emu runtime', () => {
  it('is available and registers every kernel', async () => {
    expect(cudaAvailable(true)).toBe(true);
    const rt = await createCudaRuntime({ emulated: true });
    expect(rt.name).toBe('cuda-emu');
    expect(rt.supports('quant.dequantize_4bit')).toBe(true);
    expect(rt.supports('quant.nope')).toMatch(/unknown kernel/);
    rt.dispose();
  });

  it('frees everything on dispose and refuses use afterwards', async () => {
    const rt = await createCudaRuntime({ emulated: true });
    const a = rt.alloc('f32', [100]);
    rt.alloc('u8', [3]);
    rt.alloc('f32', [0]);
    expect(rt.liveBuffers).toBe(3);
    rt.free(a);
    expect(rt.liveBuffers).toBe(2);
    expect(() => rt.write(a, new Float32Array(1))).toThrow(TensorError);
    rt.dispose();
    expect(rt.liveBuffers).toBe(0);
    expect(() => rt.alloc('f32', [1])).toThrow(UnsupportedError);
  });

  it('validates dispatches against the spec with typed errors naming the kernel', async () => {
    const rt = await createCudaRuntime({ emulated: true });
    const packed = rt.alloc('u8', [8]);
    const absmax = rt.alloc('f32', [1]);
    const code = rt.alloc('f32', [16]);
    rt.write(code, NF4_CODE);
    const out = rt.alloc('f32', [16]);
    expect(() => rt.dispatch('quant.dequantize_4bit', { packed, absmax, code, out }, { n: 16, blocksize: 48 })).toThrow(PreconditionError);
    expect(() => rt.dispatch('quant.dequantize_4bit', { packed, absmax, code, out }, { n: 64, blocksize: 64 })).toThrow(KernelArgumentError);
    rt.dispose();
  });

  it('writes and reads back bytes at an offset', async () => {
    const rt = await createCudaRuntime({ emulated: true });
    const t = rt.alloc('u32', [4]);
    rt.write(t, new Uint32Array([1, 2, 3, 4]));
    rt.write(t, new Uint32Array([9]), 8);
    expect(new Uint32Array((await rt.read(t)).buffer)).toEqual(new Uint32Array([1, 2, 9, 4]));
    expect(() => rt.write(t, new Uint32Array([1, 2]), 12)).toThrow(TensorError);
    rt.dispose();
  });

  it('maps addon errors to typed failures that name the kernel', () => {
    const e = Object.assign(new Error('cudaStreamSynchronize failed: cudaErrorIllegalAddress'), { kind: 'illegal-address', kernel: 'quant.nf4_quantize' });
    const mapped = toKvantError('cuda', undefined, e);
    expect(mapped).toBeInstanceOf(RuntimeFailure);
    expect((mapped as RuntimeFailure).kind).toBe('illegal-address');
    expect(mapped.message).toMatch(/illegal-address in quant\.nf4_quantize/);
    const oom = toKvantError('cuda', 'quant.dequantize_4bit', Object.assign(new Error('cudaMalloc failed'), { kind: 'out-of-memory' }));
    expect((oom as RuntimeFailure).kind).toBe('out-of-memory');
    // After a sticky fault every later call names the kernel that faulted, not the one being run.
    const lost = toKvantError(
      'cuda',
      'mem.copy',
      Object.assign(new Error('the CUDA context is unusable after an earlier error'), { kind: 'device-lost', kernel: 'quant.nf4_quantize' }),
    );
    expect((lost as RuntimeFailure).kind).toBe('device-lost');
    expect(lost.message).toMatch(/device-lost in quant\.nf4_quantize/);
    expect(toKvantError('cuda', undefined, Object.assign(new Error('no CUDA device'), { kind: 'unsupported' }))).toBeInstanceOf(UnsupportedError);
  });
});
