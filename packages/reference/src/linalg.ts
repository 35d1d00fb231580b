/**
 * Reference implementations of the `linalg` family (packages/abi/src/kernels/linalg.ts): plain
 * loops in the order the spec fixes, Math.fround after every f32 operation, no fma. Slow and
 * obviously right; runtimes must match them bit for bit.
 */
import { PEAK_ACCUMULATORS, PHILOX, type Params, REDUCE_FAN_IN } from '@kvant/abi';
import { type Buffers, f32View, type ReferenceKernels, u32View } from './buffers';
import { getNibble, widenHalves } from './quant';

const f = Math.fround;

// ---------------------------------------------------------------------------------------------
// Philox 4x32-10
// ---------------------------------------------------------------------------------------------

/** High 32 bits of the exact 64-bit product of two u32 (16-bit halves, every step exact in f64). */
export function mulhi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lo = al * bl;
  const mid = ah * bl + al * bh; // < 2^33
  const carry = Math.floor(((mid % 65536) * 65536 + lo) / 4294967296);
  return (ah * bh + Math.floor(mid / 65536) + carry) >>> 0;
}

/**
 * Philox4x32-10 (Random123's philox4x32_10): the four output words for a counter and a key.
 * Round: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2; c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
 * the key is bumped by (W0, W1) between rounds.
 */
export function philox4x32(counter: readonly number[], key: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0);
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < PHILOX.ROUNDS; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX.W0) >>> 0;
      k1 = (k1 + PHILOX.W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX.M0, c0);
    const lo0 = Math.imul(PHILOX.M0, c0) >>> 0;
    const hi1 = mulhi32(PHILOX.M1, c2);
    const lo1 = Math.imul(PHILOX.M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** The dropout draws of elements [0, n): word i % 4 of block i / 4 with counter (i/4, 0, offset_lo, offset_hi). */
export function dropoutDraws(n: number, p: Params): Uint32Array {
  const out = new Uint32Array(n);
  for (let q = 0; 4 * q < n; q++) {
    const w = philox4x32([q, 0, p.offset_lo, p.offset_hi], [p.seed_lo, p.seed_hi]);
    for (let j = 0; j < 4 && 4 * q + j < n; j++) out[4 * q + j] = w[j];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matmul
// ---------------------------------------------------------------------------------------------

/** out = beta == 0 ? scaled : f(scaled + f(beta * old)); `scaled` is already rounded. */
function withBeta(scaled: number, beta: number, old: number): number {
  return beta === 0 ? scaled : f(scaled + f(beta * old));
}

function matmulRun(p: Params, b: Buffers): void {
  const A = f32View(b.a);
  const B = f32View(b.b);
  const C = f32View(b.c);
  const { m, n, k } = p;
  const alpha = f(p.alpha);
  const beta = f(p.beta);
  for (let t = 0; t < p.batch; t++) {
    const a0 = t * p.stride_a;
    const b0 = t * p.stride_b;
    const c0 = t * p.stride_c;
    // Element strides of op(A)[i, kk] and op(B)[kk, j].
    const [aRow, aCol] = p.trans_a === 0 ? [k, 1] : [1, m];
    const [bRow, bCol] = p.trans_b === 0 ? [n, 1] : [1, k];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let kk = 0; kk < k; kk++) acc = f(acc + f(A[a0 + i * aRow + kk * aCol] * B[b0 + kk * bRow + j * bCol]));
        const ci = c0 + i * n + j;
        C[ci] = withBeta(f(alpha * acc), beta, C[ci]);
      }
    }
  }
}

/** deq(W) [n, k] exactly as quant.dequantize_4bit computes it, given the absmax of each block. */
function dequantizeW(p: Params, packed: Uint8Array, code: Float32Array, absmaxOf: (blk: number) => number): Float32Array {
  const w = new Float32Array(p.n * p.k);
  for (let e = 0; e < w.length; e++) w[e] = f(code[getNibble(packed, e)] * absmaxOf(Math.floor(e / p.blocksize)));
  return w;
}

function matmul4bitWith(absmaxOfBlock: (p: Params, b: Buffers) => (blk: number) => number) {
  // The reference may hold deq(W) whole; runtimes dequantize tile by tile.
  return (p: Params, b: Buffers): void => frozenBaseMatmul(p, b, dequantizeW(p, b.packed, f32View(b.code), absmaxOfBlock(p, b)));
}

/**
 * y = x·Wᵀ (trans 0) or x·W (trans 1) for the f32 values w of W [n, k], summed in order, no
 * alpha, then beta: the arithmetic of linalg.matmul_4bit(_dq) and linalg.matmul_16bit.
 */
function frozenBaseMatmul(p: Params, b: Buffers, w: Float32Array): void {
  const x = f32View(b.x);
  const y = f32View(b.y);
  const { m, n, k } = p;
  const beta = f(p.beta);
  if (p.trans === 0) {
    for (let i = 0; i < m; i++) {
      for (let r = 0; r < n; r++) {
        let acc = 0;
        for (let c = 0; c < k; c++) acc = f(acc + f(x[i * k + c] * w[r * k + c]));
        y[i * n + r] = withBeta(acc, beta, y[i * n + r]);
      }
    }
  } else {
    for (let i = 0; i < m; i++) {
      for (let c = 0; c < k; c++) {
        let acc = 0;
        for (let r = 0; r < n; r++) acc = f(acc + f(x[i * n + r] * w[r * k + c]));
        y[i * k + c] = withBeta(acc, beta, y[i * k + c]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

/**
 * The fixed 256-ary tree: level 0 sums `term(i)` over chunks of 256 elements, each next level sums
 * chunks of 256 partials, until one value is left. Partials are laid out level after level in
 * `scratch` (the natural layout; the spec leaves scratch contents unspecified).
 */
export function treeReduce(n: number, term: (i: number) => number, scratch: Float32Array): number {
  let len = Math.ceil(n / REDUCE_FAN_IN);
  let base = 0;
  for (let c = 0; c < len; c++) {
    let acc = 0;
    for (let i = c * REDUCE_FAN_IN; i < Math.min(n, (c + 1) * REDUCE_FAN_IN); i++) acc = f(acc + term(i));
    scratch[base + c] = acc;
  }
  while (len > 1) {
    const next = Math.ceil(len / REDUCE_FAN_IN);
    for (let c = 0; c < next; c++) {
      let acc = 0;
      for (let j = c * REDUCE_FAN_IN; j < Math.min(len, (c + 1) * REDUCE_FAN_IN); j++) acc = f(acc + scratch[base + j]);
      scratch[base + len + c] = acc;
    }
    base += len;
    len = next;
  }
  return scratch[base];
}

function reduceRun(term: (x: Float32Array, i: number) => number) {
  return (p: Params, b: Buffers): void => {
    const x = f32View(b.x);
    const out = f32View(b.out);
    const total = treeReduce(p.n, (i) => term(x, i), f32View(b.partials));
    out[0] = p.accumulate === 1 ? f(out[0] + total) : total;
  };
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

export const linalgKernels: ReferenceKernels = {
  'linalg.matmul': { run: matmulRun },

  'linalg.matmul_4bit': {
    run: matmul4bitWith((_p, b) => {
      const absmax = f32View(b.absmax);
      return (blk) => absmax[blk];
    }),
  },

  'linalg.matmul_4bit_dq': {
    run: matmul4bitWith((p, b) => {
      const nestedAbsmax = f32View(b.nested_absmax);
      const nestedCode = f32View(b.nested_code);
      const offset = f(p.offset);
      return (blk) => f(f(nestedCode[b.qabsmax[blk]] * nestedAbsmax[Math.floor(blk / p.nested_blocksize)]) + offset);
    }),
  },

  // W widened exactly (quant.dequantize_16bit), then the 4-bit matmul's sums.
  'linalg.matmul_16bit': { run: (p, b) => frozenBaseMatmul(p, b, widenHalves(u32View(b.w), p.n * p.k, p.format)) },

  'linalg.sum_squares': { run: reduceRun((x, i) => f(x[i] * x[i])) },

  'linalg.sum': { run: reduceRun((x, i) => x[i]) },

  'linalg.add': {
    run: (p, b) => {
      const a = f32View(b.a);
      const bb = f32View(b.b);
      const c = f32View(b.c);
      for (let i = 0; i < p.n; i++) c[i] = f(a[i] + bb[i]);
    },
  },

  'linalg.scale': {
    run: (p, b) => {
      const x = f32View(b.x);
      const y = f32View(b.y);
      const alpha = f(p.alpha);
      for (let i = 0; i < p.n; i++) y[i] = f(alpha * x[i]);
    },
  },

  'linalg.axpy': {
    run: (p, b) => {
      const x = f32View(b.x);
      const y = f32View(b.y);
      const alpha = f(p.alpha);
      for (let i = 0; i < p.n; i++) y[i] = f(f(alpha * x[i]) + y[i]);
    },
  },

  'linalg.dropout': {
    run: (p, b) => {
      const x = f32View(b.x);
      const y = f32View(b.y);
      const u = dropoutDraws(p.n, p);
      const scale = f(p.scale);
      const threshold = p.threshold >>> 0;
      for (let i = 0; i < p.n; i++) y[i] = u[i] >= threshold ? f(x[i] * scale) : 0;
    },
  },

  'linalg.peak_flops': {
    run: (p, b) => {
      const out = f32View(b.out);
      const x = f(p.x);
      const y = f(p.y);
      const a = new Float64Array(PEAK_ACCUMULATORS);
      for (let t = 0; t < p.threads; t++) {
        for (let j = 0; j < PEAK_ACCUMULATORS; j++) a[j] = (j + 1) / 16 + (t % 256) / 4096;
        for (let it = 0; it < p.iters; it++) for (let j = 0; j < PEAK_ACCUMULATORS; j++) a[j] = f(f(a[j] * x) + y);
        let s = a[0];
        for (let j = 1; j < PEAK_ACCUMULATORS; j++) s = f(s + a[j]);
        out[t] = s;
      }
    },
  },
};
