/**
 * Kernels chained on the device (cuda-emu here; cuda as well where a GPU is present): a quantize
 * then a dequantize with the intermediate tensors never leaving the device. Each kernel on its own
 * is checked against the reference by the conformance suite (conformance/src/runtimes.test.ts),
 * the one harness every runtime goes through.
 */
import { NF4_CODE, type Runtime } from '@kvant/abi';
import { randn, ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaRuntime, createCudaRuntime, cudaAvailable } from './index';

const RUNTIMES: ('cuda-emu' | 'cuda')[] = cudaAvailable(false) === true ? ['cuda-emu', 'cuda'] : ['cuda-emu'];

describe.each(RUNTIMES)('%s', (name) => {
  let rt: CudaRuntime;
  let reference: ReferenceRuntime;
  beforeAll(async () => {
    rt = await createCudaRuntime({ emulated: name === 'cuda-emu' });
    reference = new ReferenceRuntime();
  });
  afterAll(() => {
    rt?.dispose();
    reference?.dispose();
  });

  it('quantizes then dequantizes NF4 like the reference (round trip on the device)', async () => {
    const n = 3001;
    const blocksize = 64;
    const x = randn(n, 77);
    const run = async (r: Runtime) => {
      const xt = r.alloc('f32', [n]);
      r.write(xt, x);
      const packed = r.alloc('u8', [Math.ceil(n / 2)]);
      const absmax = r.alloc('f32', [Math.ceil(n / blocksize)]);
      const code = r.alloc('f32', [16]);
      r.write(code, NF4_CODE);
      const out = r.alloc('f32', [n]);
      r.dispatch('quant.nf4_quantize', { x: xt, packed, absmax }, { n, blocksize });
      r.dispatch('quant.dequantize_4bit', { packed, absmax, code, out }, { n, blocksize });
      const bytes = await r.read(out);
      for (const t of [xt, packed, absmax, code, out]) r.free(t);
      return bytes;
    };
    const got = await run(rt);
    expect(got).toEqual(await run(reference));
    const y = new Float32Array(got.buffer, 0, n);
    let err = 0;
    for (let i = 0; i < n; i++) err += Math.abs(y[i] - x[i]);
    expect(err / n).toBeLessThan(0.1); // NF4 at blocksize 64 on randn: about 0.07
    expect(rt.liveBuffers).toBe(0);
  });
});
