/**
 * Cases for the linalg family: shapes of 1, primes and sizes that are a multiple of no tile
 * (7, 13, 61, 65, 127, 129, 257, 1000), all four transpose combinations, batches with broadcast
 * (stride 0) and padded strides, beta = 0 over a NaN-filled output (it must not be read),
 * accumulation (beta != 0) and alpha != 1, linear-layer and attention-like shapes, 4-bit weights
 * whose element count is odd and whose blocks span rows, reductions across every level of the
 * tree, and dropout forward and backward. The largest matmul is about 2 MFLOP: the reference runs
 * in plain JS on 2 CI cores.
 */
import type { Params } from '@kvant/abi';
import type { Gen } from '../gen';
import type { Case } from './types';

let seed = 5000;
const next = () => seed++;

const NAN: Gen = { gen: 'const', value: Number.NaN };
const RANDN: Gen = { gen: 'randn' };

interface MatmulShape {
  m: number;
  n: number;
  k: number;
  ta?: number;
  tb?: number;
  batch?: number;
  sa?: number;
  sb?: number;
  sc?: number;
  alpha?: number;
  beta?: number;
  a?: Gen;
  label?: string;
}

function matmulCase(s: MatmulShape): Case {
  const { m, n, k, ta = 0, tb = 0, batch = 1, alpha = 1, beta = 0 } = s;
  const params: Params = {
    m,
    n,
    k,
    trans_a: ta,
    trans_b: tb,
    batch,
    stride_a: s.sa ?? (batch > 1 ? m * k : 0),
    stride_b: s.sb ?? (batch > 1 ? k * n : 0),
    stride_c: s.sc ?? (batch > 1 ? m * n : 0),
    alpha,
    beta,
  };
  const strides = batch > 1 ? ` batch=${batch} strides=${params.stride_a},${params.stride_b},${params.stride_c}` : '';
  return {
    kernel: 'linalg.matmul',
    name: `${s.label ? `${s.label} ` : ''}m=${m} n=${n} k=${k} t=${ta}${tb}${strides} alpha=${alpha} beta=${beta}`,
    params,
    inputs: { a: s.a ?? RANDN, b: RANDN, c: beta === 0 ? NAN : RANDN },
    seed: next(),
  };
}

function matmul(): Case[] {
  const shapes: MatmulShape[] = [
    { m: 1, n: 1, k: 1 },
    { m: 1, n: 1, k: 1, ta: 1, tb: 1, alpha: 2, beta: 3 },
    // All four transpose combinations on prime shapes.
    ...[0, 1].flatMap((ta) => [0, 1].map((tb) => ({ m: 7, n: 13, k: 61, ta, tb }))),
    ...[0, 1].flatMap((ta) => [0, 1].map((tb) => ({ m: 13, n: 7, k: 127, ta, tb, alpha: 0.75, beta: -0.5 }))),
    // Not a multiple of any tile, about 2 MFLOP.
    { m: 65, n: 129, k: 127, tb: 1 },
    { m: 129, n: 65, k: 61, ta: 1, beta: 1 },
    // gemv-like and a long k.
    { m: 1, n: 1000, k: 65, tb: 1 },
    // wasm's gemv path (m = 1, trans_b 1): 2 and 3 leftover outputs, k not a multiple of 4, split
    // over threads (over 2^18 flops), batched with padded strides and a broadcast A.
    { label: 'gemv', m: 1, n: 1030, k: 259, tb: 1, beta: -1 },
    { label: 'gemv', m: 1, n: 1031, k: 130, ta: 1, tb: 1, alpha: 0.5 },
    { label: 'gemv', m: 1, n: 67, k: 130, tb: 1, batch: 3, sa: 0, sb: 67 * 130 + 5, sc: 67 + 3, beta: 0.25 },
    { m: 3, n: 5, k: 1000, alpha: -2, beta: 0.25 },
    { m: 257, n: 1, k: 13, ta: 1, tb: 1 },
    // A linear layer (M=64, K=256, N=96): forward x·Wᵀ, input gradient dy·W (accumulated), weight gradient dyᵀ·x.
    { label: 'linear fwd', m: 64, n: 96, k: 256, tb: 1 },
    { label: 'linear dx', m: 64, n: 256, k: 96, beta: 1 },
    { label: 'linear dW', m: 96, n: 256, k: 64, ta: 1 },
    // Batched: contiguous, padded strides, broadcast A or B (stride 0).
    { m: 7, n: 5, k: 13, batch: 3 },
    { m: 7, n: 5, k: 13, ta: 1, tb: 1, batch: 4, sa: 7 * 13 + 3, sb: 13 * 5 + 1, sc: 7 * 5 + 2, beta: -1 },
    { m: 13, n: 7, k: 5, batch: 5, sb: 0, beta: 0.5 },
    { m: 13, n: 7, k: 5, tb: 1, batch: 3, sa: 0 },
    // Attention per head (4 heads, T=17, d=16): scores Q·Kᵀ, then P·V.
    { label: 'attn QKt', m: 17, n: 17, k: 16, tb: 1, batch: 4, alpha: 0.25 },
    { label: 'attn PV', m: 17, n: 16, k: 17, batch: 4 },
    // NaN, Inf and signed zeros in A propagate exactly.
    { label: 'awkward A', m: 5, n: 6, k: 9, a: { gen: 'awkward' }, beta: 2 },
    { label: 'extremes A', m: 6, n: 5, k: 31, ta: 1, a: { gen: 'extremes' } },
    // Zero rows of A: +0 * (negative) = -0 products summed from +0 give +0 (and f(alpha * +0) = +0).
    { label: 'zero rows', m: 6, n: 7, k: 32, a: { gen: 'zero_blocks', blocksize: 32, every: 2 } },
  ];
  return shapes.map(matmulCase);
}

interface FourBitShape {
  m: number;
  n: number;
  k: number;
  trans: number;
  blocksize: number;
  table: 'nf4' | 'fp4';
  beta?: number;
  nested?: number;
  label?: string;
  x?: Gen;
}

function matmul4bitCase(s: FourBitShape): Case {
  const beta = s.beta ?? 0;
  const dq = s.nested !== undefined;
  const params: Params = { m: s.m, n: s.n, k: s.k, trans: s.trans, beta, blocksize: s.blocksize, ...(dq ? { nested_blocksize: s.nested as number, offset: 0.0625 } : {}) };
  const stats: Record<string, Gen> = dq
    ? { qabsmax: { gen: 'bytes' }, nested_absmax: { gen: 'uniform', lo: 0, hi: 0.5 }, nested_code: { gen: 'table', table: 'dynamic_signed' } }
    : { absmax: { gen: 'uniform', lo: 0, hi: 2 } };
  return {
    kernel: dq ? 'linalg.matmul_4bit_dq' : 'linalg.matmul_4bit',
    name: `${s.label ? `${s.label} ` : ''}${s.table} m=${s.m} n=${s.n} k=${s.k} trans=${s.trans} bs=${s.blocksize}${dq ? ` nested=${s.nested}` : ''} beta=${beta}`,
    params,
    inputs: { x: s.x ?? RANDN, packed: { gen: 'bytes' }, ...stats, code: { gen: 'table', table: s.table }, y: beta === 0 ? NAN : RANDN },
    seed: next(),
  };
}

function matmul4bit(): Case[] {
  const plain: FourBitShape[] = [
    { m: 1, n: 1, k: 1, trans: 0, blocksize: 64, table: 'nf4' },
    { m: 1, n: 1, k: 1, trans: 1, blocksize: 32, table: 'fp4', beta: 1 },
    // N*K = 793 is odd; blocks of 64 span rows of 61.
    { m: 7, n: 13, k: 61, trans: 0, blocksize: 64, table: 'nf4' },
    { m: 7, n: 13, k: 61, trans: 1, blocksize: 64, table: 'fp4' },
    { m: 5, n: 127, k: 129, trans: 0, blocksize: 128, table: 'fp4', beta: 0.5 },
    { m: 3, n: 257, k: 65, trans: 1, blocksize: 128, table: 'nf4', beta: -2 },
    { label: 'linear fwd', m: 64, n: 96, k: 256, trans: 0, blocksize: 64, table: 'nf4' },
    { label: 'linear dx', m: 64, n: 96, k: 256, trans: 1, blocksize: 64, table: 'nf4', beta: 1 },
    { label: 'gemv', m: 1, n: 1000, k: 128, trans: 0, blocksize: 128, table: 'nf4' },
    { label: 'gemv', m: 1, n: 1031, k: 192, trans: 0, blocksize: 64, table: 'fp4', beta: 0.5 },
    { label: 'zero rows', m: 4, n: 9, k: 64, trans: 0, blocksize: 64, table: 'nf4', x: { gen: 'zero_blocks', blocksize: 64, every: 2 } },
  ];
  const dq: FourBitShape[] = [
    { m: 1, n: 1, k: 1, trans: 0, blocksize: 64, table: 'nf4', nested: 256 },
    { label: 'gemv', m: 1, n: 1030, k: 130, trans: 0, blocksize: 64, table: 'nf4', nested: 256, beta: -1 },
    { m: 7, n: 13, k: 61, trans: 0, blocksize: 64, table: 'nf4', nested: 256 },
    { m: 7, n: 13, k: 61, trans: 1, blocksize: 64, table: 'fp4', nested: 64, beta: 1 },
    // 4191 weights (odd): 33 blocks of 128, one partial nested block of 256.
    { m: 3, n: 33, k: 127, trans: 0, blocksize: 128, table: 'fp4', nested: 256, beta: -0.5 },
    // 24576 weights in 384 blocks of 64: two nested blocks of 256 (the second partial).
    { label: 'linear fwd', m: 17, n: 96, k: 256, trans: 0, blocksize: 64, table: 'nf4', nested: 256 },
    { label: 'linear dx', m: 17, n: 96, k: 256, trans: 1, blocksize: 64, table: 'nf4', nested: 64, beta: 1 },
    { label: 'zero rows', m: 4, n: 64, k: 9, trans: 1, blocksize: 64, table: 'fp4', nested: 64, x: { gen: 'zero_blocks', blocksize: 64, every: 2 } },
  ];
  return [...plain, ...dq].map(matmul4bitCase);
}

function reductions(): Case[] {
  const out: Case[] = [];
  const sizes = [1, 255, 256, 257, 65536, 65537, 70001];
  for (const n of sizes) {
    for (const accumulate of [0, 1]) {
      out.push({
        kernel: 'linalg.sum_squares',
        name: `randn n=${n} accumulate=${accumulate}`,
        params: { n, accumulate },
        inputs: { x: RANDN, partials: NAN, out: accumulate ? { gen: 'uniform', lo: 0, hi: 100 } : NAN },
        seed: next(),
      });
    }
  }
  out.push({ kernel: 'linalg.sum_squares', name: 'mixed scales n=4099', params: { n: 4099, accumulate: 1 }, inputs: { x: { gen: 'mixed_scales', scales: [1e-20, 1e-3, 1, 1e3, 1e15] }, partials: NAN, out: { gen: 'uniform', lo: 0, hi: 1 } }, seed: next() });
  out.push({ kernel: 'linalg.sum_squares', name: 'all zero n=300', params: { n: 300, accumulate: 0 }, inputs: { x: { gen: 'zero_blocks', blocksize: 512, every: 1 }, partials: NAN, out: NAN }, seed: next() });
  out.push({ kernel: 'linalg.sum_squares', name: 'awkward n=1031', params: { n: 1031, accumulate: 0 }, inputs: { x: { gen: 'awkward' }, partials: NAN, out: NAN }, seed: next() });
  for (const n of [1, 255, 257, 65537, 70001]) {
    for (const accumulate of [0, 1]) {
      out.push({
        kernel: 'linalg.sum',
        name: `randn n=${n} accumulate=${accumulate}`,
        params: { n, accumulate },
        inputs: { x: RANDN, partials: NAN, out: accumulate ? RANDN : NAN },
        seed: next(),
      });
    }
  }
  out.push({ kernel: 'linalg.sum', name: 'cancellation n=9001', params: { n: 9001, accumulate: 0 }, inputs: { x: { gen: 'mixed_scales', scales: [1e-7, 1, 1e7] }, partials: NAN, out: NAN }, seed: next() });
  out.push({ kernel: 'linalg.sum', name: 'signed zeros n=300', params: { n: 300, accumulate: 1 }, inputs: { x: { gen: 'cycle', values: [-0, -0, -0] }, partials: NAN, out: { gen: 'const', value: -0 } }, seed: next() });
  out.push({ kernel: 'linalg.sum', name: 'all zero n=300', params: { n: 300, accumulate: 0 }, inputs: { x: { gen: 'zero_blocks', blocksize: 512, every: 1 }, partials: NAN, out: NAN }, seed: next() });
  out.push({ kernel: 'linalg.sum', name: 'awkward n=777', params: { n: 777, accumulate: 1 }, inputs: { x: { gen: 'awkward' }, partials: NAN, out: RANDN }, seed: next() });
  return out;
}

function elementwise(): Case[] {
  const out: Case[] = [];
  for (const [n, g] of [
    [1, RANDN],
    [7, RANDN],
    [1000, RANDN],
    [65537, RANDN],
    [1031, { gen: 'awkward' }],
    [999, { gen: 'extremes' }],
  ] as [number, Gen][]) {
    out.push({ kernel: 'linalg.add', name: `${g.gen} n=${n}`, params: { n }, inputs: { a: g, b: g }, seed: next() });
  }
  const ZB: Gen = { gen: 'zero_blocks', blocksize: 64, every: 2 };
  out.push({ kernel: 'linalg.add', name: 'zero blocks n=1000', params: { n: 1000 }, inputs: { a: ZB, b: ZB }, seed: next() });
  out.push({ kernel: 'linalg.scale', name: 'zero blocks n=1000 alpha=3', params: { n: 1000, alpha: 3 }, inputs: { x: ZB }, seed: next() });
  out.push({ kernel: 'linalg.axpy', name: 'zero blocks n=1000 alpha=-2', params: { n: 1000, alpha: -2 }, inputs: { x: ZB, y: ZB }, seed: next() });
  for (const [n, alpha, g] of [
    [1, 0.5, RANDN],
    [13, -3, RANDN],
    [4099, 1, RANDN],
    [65537, 1e-3, RANDN],
    [1031, 2, { gen: 'awkward' }],
    [999, 0, { gen: 'extremes' }],
  ] as [number, number, Gen][]) {
    out.push({ kernel: 'linalg.scale', name: `${g.gen} n=${n} alpha=${alpha}`, params: { n, alpha }, inputs: { x: g }, seed: next() });
  }
  for (const [n, alpha, g] of [
    [1, 2, RANDN],
    [127, -0.25, RANDN],
    [65537, 1e-3, RANDN],
    [1031, 0, { gen: 'awkward' }],
    [999, 3, { gen: 'extremes' }],
  ] as [number, number, Gen][]) {
    out.push({ kernel: 'linalg.axpy', name: `${g.gen} n=${n} alpha=${alpha}`, params: { n, alpha }, inputs: { x: g, y: RANDN }, seed: next() });
  }
  return out;
}

/** Dropout params for drop probability p, as the caller computes them. */
export function dropoutParams(n: number, p: number, seed: [number, number], offset: [number, number]): Params {
  return {
    n,
    seed_lo: seed[0],
    seed_hi: seed[1],
    offset_lo: offset[0],
    offset_hi: offset[1],
    threshold: Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32)),
    scale: p < 1 ? Math.fround(1 / (1 - p)) : 1,
  };
}

function dropout(): Case[] {
  const configs: [number, number, [number, number], [number, number], Gen][] = [
    [1, 0.1, [0, 0], [0, 0], RANDN],
    [5, 0.5, [1, 2], [3, 4], RANDN],
    [1000, 0, [42, 0], [7, 0], RANDN],
    [1000, 0.1, [42, 0], [7, 0], RANDN],
    [65537, 0.1, [0x12345678, 0x9abcdef0], [0xffffffff, 0], RANDN],
    [4099, 0.999, [0xffffffff, 0xffffffff], [1, 0xffffffff], RANDN],
    [4099, 1, [5, 6], [7, 8], RANDN],
    [1031, 0.3, [9, 10], [11, 12], { gen: 'awkward' }],
  ];
  const out: Case[] = configs.map(([n, p, s, o, g]) => ({
    kernel: 'linalg.dropout',
    name: `${g.gen} n=${n} p=${p} seed=${s.join(':')} offset=${o.join(':')}`,
    params: dropoutParams(n, p, s, o),
    inputs: { x: g },
    seed: next(),
  }));
  // Backward: the same seed and offset on a gradient draws the same mask.
  out.push({ kernel: 'linalg.dropout', name: 'backward dy n=1000 p=0.1 seed=42:0 offset=7:0', params: dropoutParams(1000, 0.1, [42, 0], [7, 0]), inputs: { x: { gen: 'randn', std: 1e-3 } }, seed: next() });
  return out;
}

function peak(): Case[] {
  return [
    [1, 1, 0.999, 0.001],
    [64, 10, 0, 0], // every chain collapses to +0
    [257, 100, 0.999, 0.001],
    [1000, 1000, 0.999, 0.001],
    [64, 5000, 0.5, 0.25],
  ].map(([threads, iters, x, y]) => ({ kernel: 'linalg.peak_flops', name: `threads=${threads} iters=${iters} x=${x} y=${y}`, params: { threads, iters, x, y }, inputs: {}, seed: next() }));
}

interface HalfShape {
  m: number;
  n: number;
  k: number;
  trans: number;
  format: 'bf16' | 'f16';
  beta?: number;
  label?: string;
  x?: Gen;
  w?: Gen;
}

/** Seeds of their own (from 9000), so adding these cases moves no other case's inputs. */
let seed16 = 9000;

function matmul16bitCase(s: HalfShape): Case {
  const beta = s.beta ?? 0;
  return {
    kernel: 'linalg.matmul_16bit',
    name: `${s.label ? `${s.label} ` : ''}${s.format} m=${s.m} n=${s.n} k=${s.k} trans=${s.trans} beta=${beta}`,
    params: { m: s.m, n: s.n, k: s.k, trans: s.trans, beta, format: s.format === 'bf16' ? 0 : 1 },
    inputs: { x: s.x ?? RANDN, w: s.w ?? { gen: 'halves', format: s.format }, y: beta === 0 ? NAN : RANDN },
    seed: seed16++,
  };
}

/**
 * linalg.matmul_16bit in both formats: 1, primes, odd n*k (the last word half used), sums longer
 * than a wasm k-chunk (512) in both directions, the layer's forward and input gradient, a gemv,
 * and weights with subnormals, inf and NaN (f16 subnormals must widen exactly; inf times a zero
 * activation is NaN) or large enough for f16 to overflow to inf.
 */
function matmul16bit(): Case[] {
  const shapes: Omit<HalfShape, 'format'>[] = [
    { m: 1, n: 1, k: 1, trans: 0 },
    { m: 1, n: 1, k: 1, trans: 1, beta: 1 },
    { m: 7, n: 13, k: 61, trans: 0 },
    { m: 7, n: 13, k: 61, trans: 1 },
    { m: 5, n: 127, k: 129, trans: 0, beta: 0.5 },
    { m: 3, n: 257, k: 65, trans: 1, beta: -2 },
    { label: 'long k', m: 3, n: 5, k: 1031, trans: 0 },
    { label: 'long n', m: 2, n: 1031, k: 7, trans: 1, beta: 0.25 },
    { label: 'linear fwd', m: 64, n: 96, k: 256, trans: 0 },
    { label: 'linear dx', m: 64, n: 96, k: 256, trans: 1, beta: 1 },
    { label: 'gemv', m: 1, n: 1000, k: 128, trans: 0 },
    { label: 'gemv', m: 1, n: 1029, k: 131, trans: 0, beta: 0.25 },
    { label: 'specials W', m: 5, n: 31, k: 37, trans: 0, w: undefined },
    { label: 'specials W', m: 6, n: 37, k: 31, trans: 1, beta: -1, w: undefined },
    { label: 'awkward x', m: 5, n: 9, k: 33, trans: 0, x: { gen: 'awkward' } },
    { label: 'zero rows', m: 4, n: 9, k: 64, trans: 0, x: { gen: 'zero_blocks', blocksize: 64, every: 2 } },
  ];
  return (['bf16', 'f16'] as const).flatMap((format) =>
    shapes.map((s) =>
      matmul16bitCase({
        ...s,
        format,
        w: s.label === 'specials W' ? { gen: 'halves', format, specials: true } : { gen: 'halves', format, std: format === 'f16' && s.label === 'gemv' ? 3e4 : 1 },
      }),
    ),
  );
}

export const linalgCases: Case[] = [...matmul(), ...matmul4bit(), ...reductions(), ...elementwise(), ...dropout(), ...peak(), ...matmul16bit()];
