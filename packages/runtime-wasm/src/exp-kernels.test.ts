/**
 * The wasm kernels that use exp, bit for bit against the spec's algorithm. The conformance suite
 * compares them with the reference within a tolerance, because the reference's exp is correctly
 * rounded and wasm's is not. Here the reference kernels run with `wasmExp`, a plain-JS copy of
 * assembly/common/expf.ts's expf4 (Cephes' range reduction and polynomial, rounded in f32 at every
 * step), so every other operation — the chunking, the lanes and tree of rowsum32, the clamp-free
 * fast paths and the software pipelining — must give exactly the reference's bits.
 */
import type { Params } from '@kvant/abi';
import { type Arith, F32, nnArrayKernels, type NnArrays, randn } from '@kvant/reference';
import { afterAll, describe, expect, it } from 'vitest';
import { createWasmRuntime, type WasmRuntime } from './index';

const fr = Math.fround;
const [LOG2E, SHIFT, C1, C2] = [fr(Math.LOG2E), 12582912, fr(0.693359375), fr(-2.1219444e-4)];
const POLY = [1.98756915e-4, 1.39819995e-3, 8.33345191e-3, 4.16657959e-2, 1.66666655e-1, 5.00000012e-1].map(fr);

/** expf4 on one value: clamp to [-104, 89], n = nearest(x·log2 e), r = x - n·C1 - n·C2, the polynomial, p·2^(n>>1)·2^(n - n>>1). */
export function wasmExp(x0: number): number {
  const x = Math.min(89, Math.max(-104, x0)); // NaN stays NaN
  const shifted = fr(fr(x * LOG2E) + SHIFT);
  const n = fr(shifted - SHIFT);
  let r = fr(x - fr(n * C1));
  r = fr(r - fr(n * C2));
  const r2 = fr(r * r);
  let p = POLY[0];
  for (let k = 1; k < POLY.length; k++) p = fr(fr(p * r) + POLY[k]);
  p = fr(fr(fr(p * r2) + r) + 1);
  const h = Math.floor(n / 2);
  return fr(fr(p * 2 ** h) * 2 ** (n - h));
}

/** The reference's f32 arithmetic with wasm's exp (log and sqrt are IEEE-rounded f64 on both). */
const WASM_ARITH: Arith = { ...F32, exp: wasmExp };

const open: WasmRuntime[] = [];
afterAll(() => {
  for (const rt of open) rt.dispose();
});

type Arrays = Record<string, Float32Array | Int32Array>;

/** Run `kernel` on wasm (inputs uploaded, outputs read back) and on the reference with wasm's exp. */
async function both(rt: WasmRuntime, kernel: string, params: Params, inputs: Arrays, outputs: Record<string, number>): Promise<[Arrays, Arrays]> {
  const tensors: Record<string, ReturnType<WasmRuntime['alloc']>> = {};
  for (const [name, data] of Object.entries(inputs)) {
    tensors[name] = rt.alloc(data instanceof Int32Array ? 'i32' : 'f32', [data.length]);
    rt.write(tensors[name], data);
  }
  for (const [name, count] of Object.entries(outputs)) tensors[name] = rt.alloc('f32', [count]);
  rt.dispatch(kernel, tensors, params);
  await rt.flush();
  const got: Arrays = {};
  for (const name of [...Object.keys(inputs), ...Object.keys(outputs)]) got[name] = new Float32Array((await rt.read(tensors[name])).buffer.slice(0));
  for (const t of Object.values(tensors)) rt.free(t);
  const want: NnArrays = {};
  for (const [name, data] of Object.entries(inputs)) want[name] = data.slice();
  for (const [name, count] of Object.entries(outputs)) want[name] = new Float32Array(count);
  nnArrayKernels[kernel](params, want, WASM_ARITH);
  return [got, want as Arrays];
}

/** The first index where a and b differ as values (NaN equals NaN, -0 differs from +0), or -1. */
function firstDiff(a: Float32Array | Int32Array, b: Float32Array | Int32Array): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return a.length === b.length ? -1 : a.length;
}

function expectSame(got: Arrays, want: Arrays, names: string[], what: string): void {
  for (const name of names) {
    const i = firstDiff(got[name], want[name]);
    expect(i, `${what}: ${name}[${i}] is ${got[name][i]} on wasm, ${want[name][i]} in the spec with wasm's exp`).toBe(-1);
  }
}

/**
 * Cross-entropy rows that reach every path: v = 5100 has chunks of 4096 and 1004, so the next
 * chunk's max and min are taken partly in the exp loop of the chunk before and partly after it
 * (the exp loop covers 992 of 1004). The first ten rows put a far minimum (-120: the clamp-free
 * exp would be wrong if it were missed) in each chunk at one of the positions around those
 * boundaries, and their maximum (9) there too: in the first chunk for even rows; in the second,
 * over a first-chunk maximum of 6, for odd rows, so that the running sum is rescaled by exp(-3)
 * (which the kernel computes in f64: equal to wasmExp(-3), checked below). Later rows are wide
 * (a span over 87: the clamped exp), hold a NaN or -Inf, are constant, or span 89 or exactly 87.
 */
function ceLogits(n: number, v: number, seed: number): Float32Array {
  const spots = [0, 7, 8, 31, 32, 991, 992, 999, 1000, 1003];
  const x = randn(n * v, seed);
  for (let r = 0; r < n; r++) {
    const row = x.subarray(r * v, (r + 1) * v);
    const at = (j: number) => Math.min(v - 1, j);
    if (r < spots.length) {
      row[at(spots[(r + 3) % spots.length])] = -120;
      if (v > 4096) row[at(4096 + spots[r])] = -120;
      if (r % 2 === 0 || v <= 4096) row[at(spots[(r + 6) % spots.length])] = 9;
      else {
        row[at(spots[(r + 6) % spots.length])] = 6;
        row[at(4096 + spots[(r + 4) % spots.length])] = 9;
      }
    } else {
      const kind = (r - spots.length) % 6;
      if (kind === 0) row.forEach((a, j) => { row[j] = a * 60; });
      if (kind === 1) row[v - 2] = Number.NaN;
      if (kind === 2) row[at(17)] = Number.NEGATIVE_INFINITY;
      if (kind === 3) row.fill(2.5);
      // Spans of 89 and of exactly 87 (max 7, min -82 or -80) in every chunk: just past and at
      // the clamp-free exp's end.
      if (kind >= 4) for (let c = 0; c < v; c += 4096) {
        row[at(c + 5)] = 7;
        row[at(c + 1000)] = kind === 4 ? -82 : -80;
      }
    }
  }
  return x;
}

describe("wasm's exp kernels equal the spec run with wasm's exp, bit for bit", () => {
  it('wasmExp is expf4: the rescale factor exp(-3) of ceLogits agrees with f64, and it is a good exp', () => {
    expect(wasmExp(-3)).toBe(fr(Math.exp(-3)));
    expect(wasmExp(0)).toBe(1);
    expect(wasmExp(-200)).toBe(0);
    expect(wasmExp(100)).toBe(Number.POSITIVE_INFINITY);
    let worst = 0;
    for (let i = 0; i < 20000; i++) {
      const x = fr(-87 + (175 * i) / 20000);
      worst = Math.max(worst, Math.abs(wasmExp(x) / fr(Math.exp(x)) - 1));
    }
    expect(worst).toBeLessThan(2 ** -23);
  });

  for (const threads of [1, 2, 3]) {
    it(`cross-entropy forward and backward (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const rt = await createWasmRuntime({ threads });
      open.push(rt);
      for (const [n, v] of [[1, 1], [9, 13], [5, 4099], [16, 5100], [3, 9000], [2, 32000]]) {
        const logits = ceLogits(n, v, n * 1000 + v);
        const labels = Int32Array.from({ length: n }, (_, r) => (r % 5 === 4 ? -100 : (r * 977) % v));
        const params = { n, v, ignore_index: -100 };
        const [got, want] = await both(rt, 'nn.cross_entropy', params, { logits, labels }, { loss: n, lse: n });
        expectSame(got, want, ['loss', 'lse'], `nn.cross_entropy n=${n} v=${v}`);
        const dloss = Float32Array.from({ length: n }, (_, r) => 0.25 + r / 7);
        const [gb, wb] = await both(rt, 'nn.cross_entropy_backward', params, { dlogits: logits, labels, lse: want.lse as Float32Array, dloss }, {});
        expectSame(gb, wb, ['dlogits'], `nn.cross_entropy_backward n=${n} v=${v}`);
      }
    });

    it(`SwiGLU forward and backward, over every range of the gate (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const rt = await createWasmRuntime({ threads });
      open.push(rt);
      // |g| up to 120 (past both ends of the clamp-free range and of f32's exp), with NaN, ±Inf,
      // ±0 and subnormals, and a length that leaves a partial last vector on any split.
      const [n, inter] = [7, 9001];
      const gate = randn(n * inter, 5);
      gate.forEach((g, e) => { gate[e] = e % 3 === 0 ? g * 40 : g * 4; });
      gate.set([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-40, -1e-40, 87, -87, 88, -88, 88.7, -88.7, 89, -104, 120], 100);
      const up = randn(n * inter, 6);
      const dout = randn(n * inter, 7);
      const params = { n, inter };
      const [got, want] = await both(rt, 'nn.swiglu', params, { gate, up }, { out: n * inter });
      expectSame(got, want, ['out'], 'nn.swiglu');
      const [gb, wb] = await both(rt, 'nn.swiglu_backward', params, { gate, up, dout }, { dgate: n * inter, dup: n * inter });
      expectSame(gb, wb, ['dgate', 'dup'], 'nn.swiglu_backward');
    });
  }
});
