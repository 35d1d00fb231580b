/**
 * Edge cases of the quant family, gathered from what the runtime packages' own harnesses used to
 * check (they now run through the runner, like everything else): sweeps over awkward sizes,
 * blocksizes and value kinds; values exactly on every decision threshold with an exact scale
 * (never ambiguous, on any runtime); ties of linear quantization with a power-of-two scale;
 * dequantization with NaN, +-Inf, signed-zero and subnormal statistics.
 */
import type { Gen } from '../gen';
import type { Case } from './types';

let seed = 5000;
const next = () => seed++;

const SIZES = [1, 2, 7, 31, 63, 64, 65, 127, 257, 4097];
const FLAVOURS: [string, Gen][] = [
  ['randn', { gen: 'randn' }],
  ['huge', { gen: 'randn', std: 1e30 }],
  ['subnormal', { gen: 'randn', std: 1e-40 }],
  ['awkward', { gen: 'awkward' }],
  ['edge blocks', { gen: 'edge_blocks' }],
  ['all NaN', { gen: 'const', value: Number.NaN }],
];

function fourBit(kernel: string): Case[] {
  const out: Case[] = [];
  SIZES.forEach((n, i) => {
    for (const blocksize of [32, 64, 4096]) {
      const [flavour, x] = FLAVOURS[(i + blocksize) % FLAVOURS.length];
      out.push({ kernel, name: `sweep ${flavour} n=${n} bs=${blocksize}`, params: { n, blocksize }, inputs: { x }, seed: next() });
    }
  });
  for (const [flavour, x] of FLAVOURS) out.push({ kernel, name: `${flavour} n=833 bs=64`, params: { n: 833, blocksize: 64 }, inputs: { x }, seed: next() });
  return out;
}

function thresholds(): Case[] {
  // absmax is exactly 1 in every block (a 1.0 leads each), so s = x: every value sits exactly on a
  // threshold and must go to the lower code on every runtime — none of them is ambiguous.
  return [
    { kernel: 'quant.nf4_quantize', name: 'every NF4 threshold, absmax 1, bs=32', params: { n: 301, blocksize: 32 }, inputs: { x: { gen: 'nf4_thresholds', blocksize: 32 } }, seed: next() },
    { kernel: 'quant.fp4_quantize', name: 'every FP4 threshold, absmax 1, bs=128', params: { n: 513, blocksize: 128 }, inputs: { x: { gen: 'fp4_thresholds', blocksize: 128 } }, seed: next() },
    ...(['dynamic_signed', 'dynamic_unsigned'] as const).flatMap((table) =>
      [256, 64].map((blocksize) => ({
        kernel: 'quant.blockwise8_quantize',
        name: `every ${table} midpoint, absmax 1, bs=${blocksize}`,
        params: { n: 4 * blocksize + 3, blocksize, offset: 0 },
        inputs: { x: { gen: 'code_midpoints', table, blocksize } as Gen, code: { gen: 'table', table } as Gen },
        seed: next(),
      })),
    ),
  ];
}

function nearThresholds(): Case[] {
  // Thresholds times absmax 3: within an ulp of a threshold after scaling. Exact runtimes must
  // still match; an approximate one may move at most the budget of them, by one code.
  return [
    { kernel: 'quant.nf4_quantize', name: 'near NF4 thresholds, absmax 3, bs=64', params: { n: 640, blocksize: 64 }, inputs: { x: { gen: 'scaled_thresholds', table: 'nf4', blocksize: 64, absmax: 3 } }, seed: next() },
    { kernel: 'quant.fp4_quantize', name: 'near FP4 thresholds, absmax 3, bs=64', params: { n: 641, blocksize: 64 }, inputs: { x: { gen: 'scaled_thresholds', table: 'fp4', blocksize: 64, absmax: 3 } }, seed: next() },
    {
      kernel: 'quant.blockwise8_quantize',
      name: 'near dynamic-map midpoints, absmax 3, bs=256',
      params: { n: 1024, blocksize: 256, offset: 0 },
      inputs: { x: { gen: 'scaled_thresholds', table: 'dynamic_signed', blocksize: 256, absmax: 3 }, code: { gen: 'table', table: 'dynamic_signed' } },
      seed: next(),
    },
  ];
}

function linearTies(): Case[] {
  const out: Case[] = [];
  for (const [bits, symmetric] of [
    [8, 1],
    [8, 0],
    [4, 1],
    [3, 0],
    [2, 0],
  ]) {
    const qmax = symmetric ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    for (const exp of [0, -7, 3]) {
      out.push({
        kernel: 'quant.linear_quantize',
        name: `ties with scale 2^${exp} bits=${bits} ${symmetric ? 'sym' : 'asym'}`,
        params: { n: 203, group: 29, bits, symmetric },
        inputs: { x: { gen: 'linear_halfway', group: 29, qmax, exp } },
        seed: next(),
      });
    }
  }
  out.push({
    kernel: 'quant.linear_quantize',
    name: 'halves round to even, symmetric 8-bit scale 1',
    params: { n: 11, group: 11, bits: 8, symmetric: 1 },
    inputs: { x: { gen: 'cycle', values: [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 126.5, -126.5] } },
    seed: next(),
  });
  for (const symmetric of [0, 1]) {
    out.push({
      kernel: 'quant.linear_quantize',
      name: `scale overflows to Inf ${symmetric ? 'sym' : 'asym'}`,
      params: { n: 7, group: 7, bits: 8, symmetric },
      inputs: { x: { gen: 'cycle', values: [3e38, -3e38, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1, -1] } },
      seed: next(),
    });
  }
  for (const [n, group, bits, symmetric] of [
    [7, 1, 2, 0],
    [65, 7, 4, 1],
    [257, 100, 8, 0],
    [127, 127, 3, 1],
  ]) {
    for (const [flavour, x] of [FLAVOURS[0], FLAVOURS[3], FLAVOURS[4], ['all zero', { gen: 'const', value: 0 }] as [string, Gen]]) {
      out.push({ kernel: 'quant.linear_quantize', name: `sweep ${flavour} n=${n} G=${group} bits=${bits} ${symmetric ? 'sym' : 'asym'}`, params: { n, group, bits, symmetric }, inputs: { x }, seed: next() });
    }
  }
  return out;
}

function blockwise8(): Case[] {
  const out: Case[] = [];
  SIZES.forEach((n, i) => {
    for (const [blocksize, table, offset] of [
      [64, 'dynamic_signed', 0],
      [256, 'dynamic_signed', 0.37],
      [4096, 'dynamic_unsigned', 0],
    ] as const) {
      const [flavour, g] = FLAVOURS[(i + blocksize) % FLAVOURS.length];
      const x: Gen = table === 'dynamic_unsigned' && g.gen === 'randn' ? { ...g, abs: true } : g;
      out.push({ kernel: 'quant.blockwise8_quantize', name: `sweep ${flavour} ${table} n=${n} bs=${blocksize} offset=${offset}`, params: { n, blocksize, offset: Math.fround(offset) }, inputs: { x, code: { gen: 'table', table } }, seed: next() });
    }
  });
  // An unsorted code: the search is defined step by step, so every runtime takes the same path.
  out.push({ kernel: 'quant.blockwise8_quantize', name: 'unsorted code n=300 bs=64', params: { n: 300, blocksize: 64, offset: 0 }, inputs: { x: { gen: 'randn' }, code: { gen: 'randn' } }, seed: next() });
  return out;
}

function dequantEdges(): Case[] {
  const out: Case[] = [];
  for (const [n, blocksize] of [
    [96, 32],
    [1001, 32],
    [4099, 64],
  ]) {
    for (const table of ['nf4', 'fp4'] as const) {
      out.push({ kernel: 'quant.dequantize_4bit', name: `NaN/Inf/subnormal absmax ${table} n=${n} bs=${blocksize}`, params: { n, blocksize }, inputs: { packed: { gen: 'bytes' }, absmax: { gen: 'absmax_edge' }, code: { gen: 'table', table } }, seed: next() });
    }
  }
  out.push({ kernel: 'quant.dequantize_4bit', name: 'NaN and Inf in the code table n=97 bs=32', params: { n: 97, blocksize: 32 }, inputs: { packed: { gen: 'bytes' }, absmax: { gen: 'uniform', lo: 0, hi: 2 }, code: { gen: 'cycle', values: [Number.NaN, -1, 0.5, Number.POSITIVE_INFINITY, -0] } }, seed: next() });
  out.push({
    kernel: 'quant.dequantize_4bit_dq',
    name: 'NaN/Inf/subnormal nested absmax n=4097 bs=32 nested=64',
    params: { n: 4097, blocksize: 32, nested_blocksize: 64, offset: Math.fround(0.0371) },
    inputs: { packed: { gen: 'bytes' }, qabsmax: { gen: 'bytes' }, nested_absmax: { gen: 'absmax_edge' }, nested_code: { gen: 'table', table: 'dynamic_signed' }, code: { gen: 'table', table: 'nf4' } },
    seed: next(),
  });
  for (const [n, offset] of [
    [1001, 0],
    [4097, -1.25],
  ]) {
    out.push({ kernel: 'quant.blockwise8_dequantize', name: `NaN/Inf/subnormal absmax n=${n} offset=${offset}`, params: { n, blocksize: 64, offset }, inputs: { q: { gen: 'bytes' }, absmax: { gen: 'absmax_edge' }, code: { gen: 'table', table: 'dynamic_signed' } }, seed: next() });
  }
  for (const symmetric of [0, 1]) {
    out.push({
      kernel: 'quant.linear_dequantize',
      name: `NaN/Inf/subnormal scale n=1001 G=7 ${symmetric ? 'sym' : 'asym'}`,
      params: { n: 1001, group: 7, bits: 8, symmetric },
      inputs: { codes: { gen: 'bytes' }, scale: { gen: 'absmax_edge' }, zero: { gen: 'ints', lo: 0, hi: symmetric ? 0 : 255 } },
      seed: next(),
    });
  }
  for (const words of [3, 4, 5, 1023]) out.push({ kernel: 'mem.copy', name: `words=${words} (not a multiple of any workgroup)`, params: { words }, inputs: { src: { gen: 'words' } }, seed: next() });
  return out;
}

export const quantEdgeCases: Case[] = [...fourBit('quant.nf4_quantize'), ...fourBit('quant.fp4_quantize'), ...thresholds(), ...nearThresholds(), ...linearTies(), ...blockwise8(), ...dequantEdges()];
