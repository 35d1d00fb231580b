/**
 * Kernel benchmarks as data: which kernel, which params, which inputs. Every runtime runs the
 * same list; results are reported against that runtime's own copy bandwidth (`mem.copy`).
 */
import type { Params } from '@kvant/abi';
import type { Gen } from '@kvant/conformance';

export interface KernelBench {
  readonly name: string;
  readonly kernel: string;
  readonly params: Params;
  readonly inputs: Readonly<Record<string, Gen>>;
  /**
   * Params of the case validated against the reference before timing, when the timed shape is too
   * large for the reference (plain TypeScript) to compute quickly: the same kernel, flags and
   * inputs at a smaller size. Default: the timed params.
   */
  readonly check?: Params;
  /** Inputs of the validated case when they depend on its size (e.g. position ids); default `inputs`. */
  readonly checkInputs?: Readonly<Record<string, Gen>>;
  /** A long kernel (seconds per call): fewer samples, no warm-up time. */
  readonly heavy?: boolean;
}

/** Elements per quant benchmark: 4M (16 MiB of f32), larger than the caches of these machines. */
export const BENCH_N = 1 << 22;

export function quantBenches(n = BENCH_N): KernelBench[] {
  return [
    { name: 'copy', kernel: 'mem.copy', params: { words: n }, inputs: { src: { gen: 'words' } } },
    {
      name: 'nf4 dequantize bs64',
      kernel: 'quant.dequantize_4bit',
      params: { n, blocksize: 64 },
      inputs: { packed: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 1 }, code: { gen: 'table', table: 'nf4' } },
    },
    {
      name: 'fp4 dequantize bs64',
      kernel: 'quant.dequantize_4bit',
      params: { n, blocksize: 64 },
      inputs: { packed: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 1 }, code: { gen: 'table', table: 'fp4' } },
    },
    {
      name: 'nf4 dequantize bs64 (double-quant stats)',
      kernel: 'quant.dequantize_4bit_dq',
      params: { n, blocksize: 64, nested_blocksize: 256, offset: 0.02 },
      inputs: {
        packed: { gen: 'bytes' },
        qabsmax: { gen: 'bytes' },
        nested_absmax: { gen: 'uniform', lo: 0, hi: 0.1 },
        nested_code: { gen: 'table', table: 'dynamic_signed' },
        code: { gen: 'table', table: 'nf4' },
      },
    },
    { name: 'nf4 quantize bs64', kernel: 'quant.nf4_quantize', params: { n, blocksize: 64 }, inputs: { x: { gen: 'randn' } } },
    { name: 'fp4 quantize bs64', kernel: 'quant.fp4_quantize', params: { n, blocksize: 64 }, inputs: { x: { gen: 'randn' } } },
    {
      name: '8-bit blockwise quantize bs256',
      kernel: 'quant.blockwise8_quantize',
      params: { n, blocksize: 256, offset: 0 },
      inputs: { x: { gen: 'randn' }, code: { gen: 'table', table: 'dynamic_signed' } },
    },
    {
      name: '8-bit blockwise dequantize bs256',
      kernel: 'quant.blockwise8_dequantize',
      params: { n, blocksize: 256, offset: 0 },
      inputs: { q: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 1 }, code: { gen: 'table', table: 'dynamic_signed' } },
    },
    { name: 'int8 group-wise quantize G128', kernel: 'quant.linear_quantize', params: { n, group: 128, bits: 8, symmetric: 1 }, inputs: { x: { gen: 'randn' } } },
    {
      name: 'int8 group-wise dequantize G128',
      kernel: 'quant.linear_dequantize',
      params: { n, group: 128, bits: 8, symmetric: 1 },
      inputs: { codes: { gen: 'bytes' }, scale: { gen: 'uniform', lo: 0, hi: 0.01 }, zero: { gen: 'ints', lo: 0, hi: 0 } },
    },
  ];
}
