/**
 * The emulator itself, through the tiny kernels of kernels-cuda/emu/selftest.cu: a __syncthreads
 * tree reduction in shared memory, warp shuffles, votes, atomics, kvant's block reductions, and
 * deadlock detection. The same expectations run on `cuda` where a GPU is present.
 */
import { RuntimeFailure } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaRuntime, createCudaRuntime, cudaAvailable } from './index';

const RUNTIMES: ('cuda-emu' | 'cuda')[] = cudaAvailable(false) === true ? ['cuda-emu', 'cuda'] : ['cuda-emu'];

describe.each(RUNTIMES)('%s self tests', (name) => {
  let rt: CudaRuntime;
  beforeAll(async () => {
    rt = await createCudaRuntime({ emulated: name === 'cuda-emu' });
  });
  afterAll(() => rt?.dispose());

  it('reduces a block through shared memory with __syncthreads', () => {
    const { f32 } = rt.selfTest('tree-sum');
    // sum over t of (t + 1) + 1000 * b: 256 threads in blocks 0..2, then 100 threads in blocks 0..1.
    const tri = (k: number) => (k * (k + 1)) / 2;
    expect([...f32.slice(0, 5)]).toEqual([tri(256), tri(256) + 256_000, tri(256) + 512_000, tri(100), tri(100) + 100_000]);
  });

  it('shuffles within warps (down, up, xor, idx, idx with width)', () => {
    const { f32 } = rt.selfTest('shuffles');
    const v = (t: number) => 1.5 * t;
    for (let t = 0; t < 64; t++) {
      const lane = t % 32;
      const base = t - lane;
      expect(f32[t]).toBe(lane + 3 < 32 ? v(t + 3) : v(t)); // down: out-of-range keeps its own value
      expect(f32[64 + t]).toBe(lane >= 2 ? v(t - 2) : v(t));
      expect(f32[128 + t]).toBe(v(base + (lane ^ 5)));
      expect(f32[192 + t]).toBe(v(base + 7));
      expect(f32[256 + t]).toBe(v(t - (lane % 8) + 3));
    }
  });

  it('votes over full and partial warps', () => {
    const { i32 } = rt.selfTest('votes');
    for (let t = 0; t < 80; t++) {
      const warp = Math.floor(t / 32);
      const lanes = warp === 2 ? 16 : 32;
      let ballot = 0;
      for (let l = 0; l < lanes; l++) if ((warp * 32 + l) % 3 === 0) ballot |= 1 << l;
      expect(i32[4 * t]).toBe(ballot | 0);
      expect(i32[4 * t + 1]).toBe(warp === 1 ? 1 : 0); // any(t == 40)
      expect(i32[4 * t + 2]).toBe(1); // all(t < 1000)
      expect(i32[4 * t + 3]).toBe(warp === 0 ? 1 : 0); // all(t < 50)
    }
  });

  it('adds and maxes atomically across blocks (int, float, float max via CAS)', () => {
    const { f32, i32 } = rt.selfTest('atomics');
    const threads = 8 * 96;
    expect(i32[0]).toBe(threads);
    expect(i32[1]).toBe(threads - 1);
    expect(f32[0]).toBe(0.5 * threads);
    expect(f32[1]).toBe(0.25 * (threads - 1));
  });

  it('block max ignores NaN and every thread gets the same result', () => {
    const { f32, i32 } = rt.selfTest('block-reductions');
    expect(f32[0]).toBe(100); // max |t - 100| over t < 160, t = 7 NaN
    expect(f32[1]).toBe(-100);
    expect(i32[0]).toBe(0);
  });

  it('computes __umulhi, __fsqrt_rn and f64 sqrt/div/add rounded once, correctly rounded', () => {
    const { f32, i32 } = rt.selfTest('ieee-ops');
    const hi = (c: number) => Number((0xd2511f53n * BigInt(c)) >> 32n) | 0;
    expect([...i32.slice(0, 4)]).toEqual([0, 1, 0xffffffff, 0x9e3779b9].map(hi));
    expect(f32[0]).toBe(Math.fround(Math.SQRT2));
    expect(f32[1]).toBe(Math.fround(Math.sqrt(2) / 3));
    expect(f32[2]).toBe(Math.fround(Math.sqrt(2) + 2 ** -30));
    expect(f32[3]).toBe(Math.fround(Math.sqrt(Math.fround(1e-40))));
  });

  it('reports a barrier that not every live thread reaches, instead of hanging', () => {
    // Only the emulator can detect this; on a GPU such a kernel would hang, so it is not launched there.
    if (name !== 'cuda-emu') return;
    expect(() => rt.selfTest('deadlock')).toThrow(RuntimeFailure);
    expect(() => rt.selfTest('deadlock')).toThrow(/launch in selftest\.deadlock: deadlock/);
  });
});
