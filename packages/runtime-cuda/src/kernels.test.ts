/**
 * Every kernel of kernels-cuda/ on cuda-emu (and on cuda where a GPU is present) against the
 * reference runtime, byte for byte, with sentinels after each output: awkward sizes (1, primes,
 * not a multiple of the quant block or of the thread block), all-zero blocks, NaN/Inf/-0,
 * denormal and huge magnitudes.
 */
import { DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, FP4_CODE, NF4_CODE, type Params, type Runtime } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The reference runtime is the oracle (imported by path: @kvant/reference is not a dependency of this package).
import { ReferenceRuntime } from '@kvant/reference';
import { type CudaRuntime, createCudaRuntime, cudaAvailable } from './index';
import { compareWithReference, type Flavor, normals, positives, randomBytes, values } from './testing';

const SIZES = [1, 2, 3, 7, 31, 33, 63, 64, 65, 127, 257, 1021, 4099, 8209];
const FLAVORS: Flavor[] = ['normal', 'special', 'tiny', 'huge'];

interface Case {
  readonly kernel: string;
  readonly params: Params;
  readonly inputs: () => Record<string, Float32Array | Uint8Array | Int32Array | Uint32Array>;
}

function cases(): Case[] {
  const out: Case[] = [];
  let seed = 1;
  for (const words of [1, 3, 4, 5, 1023, 4097]) {
    const s = seed++;
    out.push({ kernel: 'mem.copy', params: { words }, inputs: () => ({ src: new Uint32Array(randomBytes(words * 4, s).buffer) }) });
  }
  for (const kernel of ['quant.nf4_quantize', 'quant.fp4_quantize']) {
    for (const n of SIZES) {
      for (const blocksize of [32, 64, 256, 4096]) {
        const flavor = FLAVORS[(n + blocksize) % FLAVORS.length];
        const s = seed++;
        out.push({ kernel, params: { n, blocksize }, inputs: () => ({ x: values(n, s, flavor, blocksize) }) });
      }
    }
  }
  for (const n of SIZES) {
    for (const blocksize of [32, 64, 4096]) {
      const blocks = Math.ceil(n / blocksize);
      const s = seed++;
      const code = n % 2 ? FP4_CODE : NF4_CODE;
      out.push({
        kernel: 'quant.dequantize_4bit',
        params: { n, blocksize },
        inputs: () => ({ packed: randomBytes(Math.ceil(n / 2), s), absmax: positives(blocks, s + 1), code }),
      });
      for (const nested_blocksize of [64, 256]) {
        const nested = Math.ceil(blocks / nested_blocksize);
        const s2 = seed++;
        out.push({
          kernel: 'quant.dequantize_4bit_dq',
          params: { n, blocksize, nested_blocksize, offset: 0.0371 * (s2 % 5) },
          inputs: () => ({
            packed: randomBytes(Math.ceil(n / 2), s2),
            qabsmax: randomBytes(blocks, s2 + 1),
            nested_absmax: positives(nested, s2 + 2, 0.001, 0.5, false),
            nested_code: DYNAMIC_MAP_SIGNED,
            code: NF4_CODE,
          }),
        });
      }
    }
  }
  for (const n of SIZES) {
    for (const blocksize of [64, 128, 4096]) {
      const flavor = FLAVORS[(n + blocksize / 64) % FLAVORS.length];
      const signed = n % 2 === 1;
      const offset = flavor === 'normal' ? 0.37 : 0;
      const s = seed++;
      out.push({
        kernel: 'quant.blockwise8_quantize',
        params: { n, blocksize, offset },
        inputs: () => {
          const x = values(n, s, flavor, blocksize);
          if (!signed) for (let i = 0; i < n; i++) x[i] = Math.abs(x[i]);
          return { x, code: signed ? DYNAMIC_MAP_SIGNED : DYNAMIC_MAP_UNSIGNED };
        },
      });
      const blocks = Math.ceil(n / blocksize);
      out.push({
        kernel: 'quant.blockwise8_dequantize',
        params: { n, blocksize, offset },
        inputs: () => ({ q: randomBytes(n, s), absmax: positives(blocks, s + 3), code: signed ? DYNAMIC_MAP_SIGNED : DYNAMIC_MAP_UNSIGNED }),
      });
    }
  }
  for (const n of [1, 2, 31, 97, 1000, 4099]) {
    for (const group of [1, 7, 32, 100, n]) {
      for (const bits of [2, 4, 8]) {
        for (const symmetric of [0, 1]) {
          const flavor = FLAVORS[(n + group + bits + symmetric) % FLAVORS.length];
          const s = seed++;
          out.push({ kernel: 'quant.linear_quantize', params: { n, group, bits, symmetric }, inputs: () => ({ x: values(n, s, flavor, group) }) });
          const groups = Math.ceil(n / group);
          out.push({
            kernel: 'quant.linear_dequantize',
            params: { n, group, bits, symmetric },
            inputs: () => {
              const zero = new Int32Array(groups);
              const r = randomBytes(groups, s + 5);
              for (let g = 0; g < groups; g++) zero[g] = symmetric ? 0 : r[g];
              return { codes: randomBytes(n, s), scale: normals(groups, s + 7, 0.05), zero };
            },
          });
        }
      }
    }
  }
  return out;
}

const RUNTIMES: ('cuda-emu' | 'cuda')[] = cudaAvailable(false) === true ? ['cuda-emu', 'cuda'] : ['cuda-emu'];

describe.each(RUNTIMES)('%s against the reference', (name) => {
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

  const all = cases();
  const kernels = [...new Set(all.map((c) => c.kernel))];
  it.each(kernels)('%s: every case byte-identical', async (kernel) => {
    const failures: string[] = [];
    const mine = all.filter((c) => c.kernel === kernel);
    for (const c of mine) {
      const mismatches = await compareWithReference(rt, reference, c.kernel, c.params, c.inputs());
      for (const m of mismatches) failures.push(`${JSON.stringify(c.params)}: ${m.binding} byte ${m.byte}: got ${m.got}, want ${m.want}`);
    }
    expect(failures).toEqual([]);
    expect(mine.length).toBeGreaterThan(5);
    expect(rt.liveBuffers).toBe(0);
  });

  it('quantizes then dequantizes NF4 like the reference (round trip on the device)', async () => {
    const n = 3001;
    const blocksize = 64;
    const x = values(n, 77, 'normal');
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
  });
});
