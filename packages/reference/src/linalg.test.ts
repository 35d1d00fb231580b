import { type AnyTypedArray, bf16BitsToF32, bytesOf, DYNAMIC_MAP_SIGNED, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, NF4_CODE, FP4_CODE, getKernel, type Params, reducePartials, resolveShape } from '@kvant/abi';
import { describe, expect, it } from 'vitest';
import { referenceKernels } from './kernels';
import { dropoutDraws, mulhi32, philox4x32 } from './linalg';
import { randn, randomBytes, rng } from './random';

/** Run a reference kernel on host arrays (copied); returns the bytes of every binding afterwards. */
function run(id: string, params: Params, arrays: Record<string, AnyTypedArray>): Record<string, Uint8Array> {
  const bufs: Record<string, Uint8Array> = {};
  for (const [name, a] of Object.entries(arrays)) {
    const src = bytesOf(a);
    const buf = new Uint8Array(Math.ceil(src.byteLength / 4) * 4);
    buf.set(src);
    bufs[name] = buf;
  }
  referenceKernels[id].run(params, bufs);
  return bufs;
}
const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
const len = (id: string, binding: string, p: Params) => {
  const spec = getKernel(id);
  const b = spec.bindings.find((x) => x.name === binding);
  if (!b) throw new Error(binding);
  return resolveShape(spec, b.shape, p).reduce((a, x) => a * x, 1);
};

describe('philox4x32-10', () => {
  const hex = (w: number[]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');
  it('matches the Random123 known-answer vectors', () => {
    // Random123 kat_vectors, "philox4x32 10 <counter x4> <key x2> <output x4>".
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe('d16cfe09 94fdcceb 5001e420 24126ea1');
  });

  it('computes the high word of 32x32 products exactly', () => {
    const u = rng(1);
    const pairs: [number, number][] = [
      [0xffffffff, 0xffffffff],
      [0xd2511f53, 0xffffffff],
      [0, 0xffffffff],
      [0x10000, 0x10000],
    ];
    for (let i = 0; i < 2000; i++) pairs.push([Math.floor(u() * 2 ** 32), Math.floor(u() * 2 ** 32)]);
    for (const [a, b] of pairs) expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
  });
});

describe('linalg.dropout', () => {
  const params = (n: number, p: number, seed = 42, offset = 7): Params => ({
    n,
    seed_lo: seed,
    seed_hi: 0,
    offset_lo: offset,
    offset_hi: 0,
    threshold: Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32)),
    scale: Math.fround(1 / (1 - p)),
  });

  it('keeps about 1 - p of the elements, scaled, and writes +0 for the rest', () => {
    const n = 100_000;
    const x = randn(n, 3);
    for (const p of [0.1, 0.5, 0.9]) {
      const y = f32(run('linalg.dropout', params(n, p), { x, y: new Float32Array(n) }).y);
      let kept = 0;
      let wrong = 0;
      for (let i = 0; i < n; i++) {
        if (Object.is(y[i], 0) && x[i] !== 0) continue;
        kept++;
        if (y[i] !== Math.fround(x[i] * Math.fround(1 / (1 - p)))) wrong++;
      }
      expect(wrong).toBe(0);
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(0.005);
    }
  });

  it('keeps everything at p = 0, and a dropped NaN or -x is +0', () => {
    const x = Float32Array.from([Number.NaN, -1, -0, 2, Number.NEGATIVE_INFINITY]);
    const all = f32(run('linalg.dropout', params(5, 0), { x, y: new Float32Array(5) }).y);
    expect(Array.from(all)).toEqual(Array.from(x));
    const none = f32(run('linalg.dropout', { ...params(5, 0), threshold: 0xffffffff }, { x, y: new Float32Array(5) }).y);
    for (const v of none) expect(Object.is(v, 0)).toBe(true);
  });

  it('draws the same mask for the backward pass and a different one for another seed or offset', () => {
    const n = 4099;
    const mask = (x: Float32Array, p: Params) => Array.from(f32(run('linalg.dropout', p, { x, y: new Float32Array(n) }).y), (v) => (Object.is(v, 0) ? 0 : 1));
    const x = randn(n, 5).map((v) => v + 10); // no zeros
    const dy = randn(n, 6).map((v) => v - 10);
    expect(mask(dy, params(n, 0.3))).toEqual(mask(x, params(n, 0.3)));
    expect(mask(x, params(n, 0.3, 43))).not.toEqual(mask(x, params(n, 0.3)));
    expect(mask(x, params(n, 0.3, 42, 8))).not.toEqual(mask(x, params(n, 0.3)));
  });

  it('uses word i % 4 of the block i / 4 with counter (i/4, 0, offset_lo, offset_hi)', () => {
    const p = { ...params(9, 0.5), offset_hi: 3 };
    const u = dropoutDraws(9, p);
    expect(Array.from(u.subarray(4, 8))).toEqual(philox4x32([1, 0, 7, 3], [42, 0]));
    expect(u[8]).toBe(philox4x32([2, 0, 7, 3], [42, 0])[0]);
  });
});

/** op(A)·op(B) in f64 for one batch, with a bound on the f32 rounding error of each element. */
function naiveMatmul(p: Params, a: Float32Array, b: Float32Array, t: number) {
  const { m, n, k } = p;
  const want = new Float64Array(m * n);
  const bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let mag = 0;
      for (let kk = 0; kk < k; kk++) {
        const av = p.trans_a ? a[t * p.stride_a + kk * m + i] : a[t * p.stride_a + i * k + kk];
        const bv = p.trans_b ? b[t * p.stride_b + j * k + kk] : b[t * p.stride_b + kk * n + j];
        s += av * bv;
        mag += Math.abs(av * bv);
      }
      want[i * n + j] = s;
      bound[i * n + j] = mag * (k + 2) * 2 ** -23;
    }
  }
  return { want, bound };
}

describe('linalg.matmul', () => {
  const base = { alpha: 1, beta: 0 };
  const shapes: Params[] = [
    { m: 7, n: 13, k: 61, batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, ...base },
    { m: 5, n: 3, k: 17, batch: 3, stride_a: 5 * 17, stride_b: 0, stride_c: 15, ...base },
    { m: 4, n: 6, k: 9, batch: 2, stride_a: 0, stride_b: 9 * 6 + 5, stride_c: 30, alpha: -0.5, beta: 2 },
  ];
  for (const shape of shapes) {
    for (const ta of [0, 1]) {
      for (const tb of [0, 1]) {
        it(`agrees with f64 for m=${shape.m} n=${shape.n} k=${shape.k} batch=${shape.batch} t=${ta}${tb}`, () => {
          const p: Params = { ...shape, trans_a: ta, trans_b: tb };
          const a = randn(len('linalg.matmul', 'a', p), 11);
          const b = randn(len('linalg.matmul', 'b', p), 12);
          const c0 = randn(len('linalg.matmul', 'c', p), 13);
          const c = f32(run('linalg.matmul', p, { a, b, c: c0 }).c);
          for (let t = 0; t < p.batch; t++) {
            const { want, bound } = naiveMatmul(p, a, b, t);
            for (let e = 0; e < p.m * p.n; e++) {
              const ci = t * p.stride_c + e;
              const expected = p.alpha * want[e] + (p.beta === 0 ? 0 : p.beta * c0[ci]);
              expect(Math.abs(c[ci] - expected)).toBeLessThanOrEqual(Math.abs(p.alpha) * bound[e] + 2 ** -20 * (1 + Math.abs(expected)));
            }
          }
        });
      }
    }
  }

  it('does not read C when beta is 0 (NaN in C does not leak), and accumulates when beta != 0', () => {
    const p = { m: 3, n: 4, k: 5, trans_a: 0, trans_b: 0, batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, alpha: 1, beta: 0 };
    const a = randn(15, 1);
    const b = randn(20, 2);
    const c = f32(run('linalg.matmul', p, { a, b, c: new Float32Array(12).fill(Number.NaN) }).c);
    expect(c.every(Number.isFinite)).toBe(true);
    const twice = f32(run('linalg.matmul', { ...p, beta: 1 }, { a, b, c }).c);
    for (let i = 0; i < 12; i++) expect(twice[i]).toBe(Math.fround(c[i] + c[i]));
  });
});

describe('linalg.matmul_4bit', () => {
  const dequantize = (p: Params, arrays: Record<string, AnyTypedArray>, dq: boolean) =>
    f32(run(dq ? 'quant.dequantize_4bit_dq' : 'quant.dequantize_4bit', { n: p.n * p.k, blocksize: p.blocksize, ...(dq ? { nested_blocksize: p.nested_blocksize, offset: p.offset } : {}) }, { ...arrays, out: new Float32Array(p.n * p.k) }).out);

  for (const dq of [false, true]) {
    for (const trans of [0, 1]) {
      for (const beta of [0, 1.5]) {
        it(`is bit-identical to dequantize + matmul (${dq ? 'dq' : 'absmax'}, trans=${trans}, beta=${beta})`, () => {
          const p: Params = { m: 5, n: 13, k: 61, trans, beta, blocksize: 64, ...(dq ? { nested_blocksize: 64, offset: 0.125 } : {}) };
          const w = Math.ceil((p.n * p.k) / 64);
          const stats: Record<string, AnyTypedArray> = dq
            ? { qabsmax: randomBytes(w, 4), nested_absmax: Float32Array.of(0.3), nested_code: DYNAMIC_MAP_SIGNED }
            : { absmax: randn(w, 4).map(Math.abs) };
          const packed = randomBytes(Math.ceil((p.n * p.k) / 2), 5);
          const code = trans ? FP4_CODE : NF4_CODE;
          const x = randn(p.m * (trans ? p.n : p.k), 6);
          const y0 = randn(p.m * (trans ? p.k : p.n), 7);
          const id = dq ? 'linalg.matmul_4bit_dq' : 'linalg.matmul_4bit';
          const y = f32(run(id, p, { x, packed, ...stats, code, y: y0 }).y);
          const wdeq = dequantize(p, { packed, ...stats, code }, dq);
          const mm = { m: p.m, n: trans ? p.k : p.n, k: trans ? p.n : p.k, trans_a: 0, trans_b: 1 - trans, batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, alpha: 1, beta };
          const want = f32(run('linalg.matmul', mm, { a: x, b: wdeq, c: y0 }).c);
          expect(new Uint32Array(y.buffer, 0, y.length)).toEqual(new Uint32Array(want.buffer, 0, want.length));
        });
      }
    }
  }
});

describe('16-bit weights', () => {
  const every = new Uint32Array(32768).map((_, i) => (2 * i) | ((2 * i + 1) << 16));
  for (const [format, name, oracle] of [
    [0, 'bf16', bf16BitsToF32],
    [1, 'f16', f16BitsToF32],
  ] as const) {
    it(`quant.dequantize_16bit widens every ${name} pattern exactly, NaN payloads kept`, () => {
      const out = new Uint32Array(run('quant.dequantize_16bit', { n: 65536, format }, { w: every, out: new Float32Array(65536) }).out.buffer, 0, 65536);
      const view = new Float32Array(out.buffer, 0, 65536);
      for (let h = 0; h < 65536; h++) {
        const want = oracle(h);
        if (Number.isNaN(want)) {
          // the payload moves up unchanged: format 0 by 16 bits, f16 mantissa by 13
          expect(out[h]).toBe(format === 0 ? (h << 16) >>> 0 : (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0);
        } else {
          expect(Object.is(view[h], want), `h=0x${h.toString(16)}`).toBe(true);
        }
      }
    });

    for (const trans of [0, 1]) {
      for (const beta of [0, -0.75]) {
        it(`linalg.matmul_16bit (${name}, trans=${trans}, beta=${beta}) is bit-identical to dequantize_16bit + matmul`, () => {
          const p: Params = { m: 5, n: 13, k: 61, trans, beta, format };
          const halves = Uint16Array.from(randn(p.n * p.k + 1, 8), (v) => (format === 0 ? f32ToBf16Bits(v) : f32ToF16Bits(v)));
          halves[3] = 0x0001; // the smallest subnormal of either format
          const w = new Uint32Array(halves.buffer);
          const x = randn(p.m * (trans ? p.n : p.k), 9);
          const y0 = randn(p.m * (trans ? p.k : p.n), 10);
          const y = f32(run('linalg.matmul_16bit', p, { x, w, y: y0 }).y);
          const wide = f32(run('quant.dequantize_16bit', { n: p.n * p.k, format }, { w, out: new Float32Array(p.n * p.k) }).out);
          const mm = { m: p.m, n: trans ? p.k : p.n, k: trans ? p.n : p.k, trans_a: 0, trans_b: 1 - trans, batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, alpha: 1, beta };
          const want = f32(run('linalg.matmul', mm, { a: x, b: wide, c: y0 }).c);
          expect(new Uint32Array(y.buffer, 0, y.length)).toEqual(new Uint32Array(want.buffer, 0, want.length));
        });
      }
    }
  }
});

describe('reductions', () => {
  for (const n of [1, 255, 256, 257, 65537, 70001]) {
    it(`sum and sum_squares agree with f64 for n=${n}, whatever the scratch holds`, () => {
      const x = randn(n, n);
      let s = 0;
      let s2 = 0;
      for (const v of x) {
        s += v;
        s2 += v * v;
      }
      const scratch = new Float32Array(reducePartials(n)).fill(Number.NaN);
      const ss = f32(run('linalg.sum_squares', { n, accumulate: 0 }, { x, partials: scratch, out: Float32Array.of(Number.NaN) }).out)[0];
      const ss0 = f32(run('linalg.sum_squares', { n, accumulate: 0 }, { x, partials: new Float32Array(scratch.length), out: Float32Array.of(0) }).out)[0];
      expect(ss).toBe(ss0);
      expect(Math.abs(ss - s2)).toBeLessThanOrEqual(s2 * 2 ** -16);
      const sm = f32(run('linalg.sum', { n, accumulate: 0 }, { x, partials: scratch, out: Float32Array.of(Number.NaN) }).out)[0];
      let mag = 0;
      for (const v of x) mag += Math.abs(v);
      expect(Math.abs(sm - s)).toBeLessThanOrEqual(mag * 2 ** -16);
      const acc = f32(run('linalg.sum_squares', { n, accumulate: 1 }, { x, partials: scratch, out: Float32Array.of(2.5) }).out)[0];
      expect(acc).toBe(Math.fround(2.5 + ss));
    });
  }

  it('follows the 256-ary tree exactly (chunk sums, then sums of chunk sums)', () => {
    const n = 700;
    const x = randn(n, 9);
    const f = Math.fround;
    const chunks = [0, 256, 512].map((start) => {
      let acc = 0;
      for (let i = start; i < Math.min(n, start + 256); i++) acc = f(acc + f(x[i] * x[i]));
      return acc;
    });
    const want = f(f(f(0 + chunks[0]) + chunks[1]) + chunks[2]);
    const got = f32(run('linalg.sum_squares', { n, accumulate: 0 }, { x, partials: new Float32Array(reducePartials(n)), out: new Float32Array(1) }).out)[0];
    expect(got).toBe(want);
    expect(reducePartials(n)).toBe(4);
    expect(reducePartials(70001)).toBe(274 + 2 + 1);
  });
});

describe('element-wise', () => {
  it('add, scale and axpy round once per operation', () => {
    const a = randn(101, 1);
    const b = randn(101, 2);
    const c = f32(run('linalg.add', { n: 101 }, { a, b, c: new Float32Array(101) }).c);
    const y = f32(run('linalg.scale', { n: 101, alpha: 0.1 }, { x: a, y: new Float32Array(101) }).y);
    const z = f32(run('linalg.axpy', { n: 101, alpha: 0.1 }, { x: a, y: b }).y);
    const f = Math.fround;
    for (let i = 0; i < 101; i++) {
      expect(c[i]).toBe(f(a[i] + b[i]));
      expect(y[i]).toBe(f(f(0.1) * a[i]));
      expect(z[i]).toBe(f(f(f(0.1) * a[i]) + b[i]));
    }
  });
});

describe('linalg.peak_flops', () => {
  it('stays finite and follows the chain', () => {
    const out = f32(run('linalg.peak_flops', { threads: 64, iters: 5000, x: 0.999, y: 0.001 }, { out: new Float32Array(64) }).out);
    for (const v of out) expect(Math.abs(v - 8)).toBeLessThan(0.5);
    const one = f32(run('linalg.peak_flops', { threads: 2, iters: 1, x: 0.5, y: 0.25 }, { out: new Float32Array(2) }).out);
    // t = 1: a_j = (j+1)/16 + 1/4096, then a_j * 0.5 + 0.25, summed (all exact in f32).
    let want = 0;
    for (let j = 0; j < 8; j++) want += ((j + 1) / 16 + 1 / 4096) * 0.5 + 0.25;
    expect(one[1]).toBe(want);
  });
});
