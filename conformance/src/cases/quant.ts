/**
 * Cases for the quant family: awkward sizes (1, primes, not a multiple of the block or of any
 * workgroup size), all-zero blocks, huge and tiny magnitudes, NaN and Inf, values exactly on
 * decision thresholds.
 */
import type { Gen } from '../gen';
import type { Case } from './types';

let seed = 1000;
const next = () => seed++;

function fourBitQuantize(kernel: string): Case[] {
  const out: Case[] = [];
  const sizes: [number, number][] = [
    [1, 64],
    [2, 32],
    [7, 64],
    [63, 64],
    [65, 64],
    [1000, 32],
    [4097, 4096],
    [12289, 64],
    [8191, 128],
    [3001, 256],
    [5003, 1024],
  ];
  for (const [n, blocksize] of sizes) out.push({ kernel, name: `randn n=${n} bs=${blocksize}`, params: { n, blocksize }, inputs: { x: { gen: 'randn' } }, seed: next() });
  out.push({ kernel, name: 'zero blocks n=1031 bs=64', params: { n: 1031, blocksize: 64 }, inputs: { x: { gen: 'zero_blocks', blocksize: 64, every: 3 } }, seed: next() });
  out.push({ kernel, name: 'extremes n=997 bs=32', params: { n: 997, blocksize: 32 }, inputs: { x: { gen: 'extremes' } }, seed: next() });
  out.push({ kernel, name: 'nan/inf n=509 bs=64', params: { n: 509, blocksize: 64 }, inputs: { x: { gen: 'nonfinite' } }, seed: next() });
  out.push({ kernel, name: 'on NF4 thresholds n=640 bs=64', params: { n: 640, blocksize: 64 }, inputs: { x: { gen: 'nf4_thresholds', blocksize: 64 } }, seed: next() });
  out.push({ kernel, name: 'on FP4 thresholds n=641 bs=64', params: { n: 641, blocksize: 64 }, inputs: { x: { gen: 'fp4_thresholds', blocksize: 64 } }, seed: next() });
  return out;
}

function dequant4(table: 'nf4' | 'fp4'): Case[] {
  return [
    [1, 64],
    [7, 32],
    [4097, 4096],
    [12289, 64],
    [100003, 64],
  ].map(([n, blocksize]) => ({
    kernel: 'quant.dequantize_4bit',
    name: `${table} n=${n} bs=${blocksize}`,
    params: { n, blocksize },
    inputs: { packed: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 3 }, code: { gen: 'table', table } },
    seed: next(),
  }));
}

function dequant4dq(): Case[] {
  return [
    [1, 64, 256],
    [33, 32, 256],
    [70001, 64, 256],
    [200003, 32, 256],
    [9000, 128, 64],
  ].map(([n, blocksize, nested_blocksize], i) => ({
    kernel: 'quant.dequantize_4bit_dq',
    name: `n=${n} bs=${blocksize} nested=${nested_blocksize}`,
    params: { n, blocksize, nested_blocksize, offset: i % 2 ? 0.0123 : 0.75 },
    inputs: {
      packed: { gen: 'bytes' },
      qabsmax: { gen: 'bytes' },
      nested_absmax: { gen: 'uniform', lo: 0, hi: 0.5 },
      nested_code: { gen: 'table', table: 'dynamic_signed' },
      code: { gen: i % 2 ? 'table' : 'table', table: i === 4 ? 'fp4' : 'nf4' },
    },
    seed: next(),
  }));
}

function blockwise8(): Case[] {
  const out: Case[] = [];
  const sizes: [number, number, number][] = [
    [1, 64, 0],
    [255, 256, 0],
    [257, 256, 0.25],
    [5003, 64, 0],
    [9001, 4096, -1.5],
    [4099, 128, 0],
  ];
  const gens: [string, Gen][] = [
    ['randn', { gen: 'randn' }],
    ['uniform[0,1)', { gen: 'uniform', lo: 0, hi: 1 }],
  ];
  for (const [n, blocksize, offset] of sizes) {
    for (const [table, g] of [['dynamic_signed', gens[0]], ['dynamic_unsigned', gens[1]]] as const) {
      out.push({
        kernel: 'quant.blockwise8_quantize',
        name: `${g[0]} ${table} n=${n} bs=${blocksize} offset=${offset}`,
        params: { n, blocksize, offset },
        inputs: { x: g[1], code: { gen: 'table', table } },
        seed: next(),
      });
    }
  }
  out.push({ kernel: 'quant.blockwise8_quantize', name: 'zero blocks n=1100 bs=64', params: { n: 1100, blocksize: 64, offset: 0 }, inputs: { x: { gen: 'zero_blocks', blocksize: 64, every: 2 }, code: { gen: 'table', table: 'dynamic_signed' } }, seed: next() });
  out.push({ kernel: 'quant.blockwise8_quantize', name: 'nan/inf n=777 bs=64', params: { n: 777, blocksize: 64, offset: 0 }, inputs: { x: { gen: 'nonfinite' }, code: { gen: 'table', table: 'dynamic_signed' } }, seed: next() });
  out.push({ kernel: 'quant.blockwise8_quantize', name: 'extremes n=1023 bs=256', params: { n: 1023, blocksize: 256, offset: 0 }, inputs: { x: { gen: 'extremes' }, code: { gen: 'table', table: 'dynamic_signed' } }, seed: next() });
  for (const [n, blocksize, offset] of [
    [1, 64, 0],
    [4099, 256, 0.5],
    [70001, 4096, 0],
  ]) {
    out.push({
      kernel: 'quant.blockwise8_dequantize',
      name: `n=${n} bs=${blocksize} offset=${offset}`,
      params: { n, blocksize, offset },
      inputs: { q: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 2 }, code: { gen: 'table', table: 'dynamic_signed' } },
      seed: next(),
    });
  }
  return out;
}

function linear(): Case[] {
  const out: Case[] = [];
  const configs: [number, number, number, number][] = [
    // n, group, bits, symmetric
    [1, 1, 8, 1],
    [1, 1, 8, 0],
    [1000, 1000, 8, 1],
    [1000, 1000, 8, 0],
    [5003, 32, 4, 1],
    [5003, 32, 4, 0],
    [4099, 128, 2, 0],
    [4099, 128, 3, 1],
    [9000, 4096, 5, 0],
    [777, 64, 7, 1],
  ];
  for (const [n, group, bits, symmetric] of configs) {
    out.push({
      kernel: 'quant.linear_quantize',
      name: `randn n=${n} G=${group} bits=${bits} ${symmetric ? 'sym' : 'asym'}`,
      params: { n, group, bits, symmetric },
      inputs: { x: { gen: 'randn' } },
      seed: next(),
    });
  }
  for (const symmetric of [0, 1]) {
    out.push({ kernel: 'quant.linear_quantize', name: `all positive n=300 G=32 ${symmetric ? 'sym' : 'asym'}`, params: { n: 300, group: 32, bits: 4, symmetric }, inputs: { x: { gen: 'uniform', lo: 2, hi: 5 } }, seed: next() });
    out.push({ kernel: 'quant.linear_quantize', name: `zero groups n=1000 G=64 ${symmetric ? 'sym' : 'asym'}`, params: { n: 1000, group: 64, bits: 8, symmetric }, inputs: { x: { gen: 'zero_blocks', blocksize: 64, every: 2 } }, seed: next() });
    out.push({ kernel: 'quant.linear_quantize', name: `nan/inf n=501 G=32 ${symmetric ? 'sym' : 'asym'}`, params: { n: 501, group: 32, bits: 8, symmetric }, inputs: { x: { gen: 'nonfinite' } }, seed: next() });
    out.push({ kernel: 'quant.linear_quantize', name: `extremes n=333 G=32 ${symmetric ? 'sym' : 'asym'}`, params: { n: 333, group: 32, bits: 8, symmetric }, inputs: { x: { gen: 'extremes' } }, seed: next() });
  }
  for (const [n, group, bits, symmetric] of [
    [1, 1, 8, 0],
    [5003, 32, 4, 1],
    [4099, 128, 8, 0],
    [70001, 4096, 3, 1],
  ]) {
    const qmax = symmetric ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    out.push({
      kernel: 'quant.linear_dequantize',
      name: `n=${n} G=${group} bits=${bits} ${symmetric ? 'sym' : 'asym'}`,
      params: { n, group, bits, symmetric },
      inputs: { codes: { gen: 'bytes' }, scale: { gen: 'uniform', lo: 0, hi: 0.1 }, zero: { gen: 'ints', lo: 0, hi: symmetric ? 0 : qmax } },
      seed: next(),
    });
  }
  // Zero points anywhere in i32: q - zero wraps in 32-bit integer math on every runtime.
  out.push({
    kernel: 'quant.linear_dequantize',
    name: 'extreme zero points n=999 G=32 bits=8 asym',
    params: { n: 999, group: 32, bits: 8, symmetric: 0 },
    inputs: { codes: { gen: 'bytes' }, scale: { gen: 'uniform', lo: 0, hi: 2 }, zero: { gen: 'ints', lo: -(2 ** 31), hi: 2 ** 31 - 1 } },
    seed: next(),
  });
  return out;
}

/** quant.dequantize_16bit: every bf16 and f16 bit pattern, odd and prime n (a half-used last word), specials. */
function dequant16(): Case[] {
  let s16 = 9500; // seeds of their own: no other case's inputs move
  return (['bf16', 'f16'] as const).flatMap((format) => {
    const f = format === 'bf16' ? 0 : 1;
    const all: Gen = { gen: 'halves', format, all: true };
    return [
      { kernel: 'quant.dequantize_16bit', name: `${format} every pattern n=65536`, params: { n: 65536, format: f }, inputs: { w: all }, seed: s16++ },
      ...[1, 2, 3, 1031, 65537].map((n) => ({ kernel: 'quant.dequantize_16bit', name: `${format} randn n=${n}`, params: { n, format: f }, inputs: { w: { gen: 'halves', format } as Gen }, seed: s16++ })),
      { kernel: 'quant.dequantize_16bit', name: `${format} specials n=4099`, params: { n: 4099, format: f }, inputs: { w: { gen: 'halves', format, specials: true } }, seed: s16++ },
    ];
  });
}

export const quantCases: Case[] = [
  ...linear(),
  ...fourBitQuantize('quant.nf4_quantize'),
  ...fourBitQuantize('quant.fp4_quantize'),
  ...dequant4('nf4'),
  ...dequant4('fp4'),
  ...dequant4dq(),
  ...blockwise8(),
  ...dequant16(),
];
