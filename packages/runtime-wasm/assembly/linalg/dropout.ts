// linalg.dropout — inverted dropout with a Philox 4x32-10 counter-based mask (forward and backward).
// Shapes: x, y f32[n].
// Math: element i takes word i % 4 of Philox4x32-10(counter (i/4, 0, offset_lo, offset_hi),
//       key (seed_lo, seed_hi)); keep = u >= threshold (unsigned); y = keep ? f(x * scale) : +0.
// Idea: eight counters per SIMD Philox call (common/philox.ts: two sets of four, their rounds
// interleaved) give 32 draws; a 4x4 transpose per set puts them in element order, an unsigned
// compare makes the mask, and the scaled x is ANDed with it (a dropped element is +0 whatever x
// is). The last partial group goes element by element. `__part` splits the groups of 32
// elements into contiguous ranges (an element's draw depends only on its index, so the bits do
// not depend on the split); each part keeps its Philox words in its own scratch.
import { Bindings, Params } from '../generated/linalg/dropout';
import { philox8 } from '../common/philox';
import { SINGLE_THREAD_SCRATCH } from '../common/gemm';

const GROUP: usize = 32;

/** The whole call as one part, with the matmuls' static scratch (single-threaded callers only; the runtime calls `__part`). */
export function linalg__dropout(params: usize, bindings: usize): void {
  linalg__dropout__part(params, bindings, 0, 1, SINGLE_THREAD_SCRATCH);
}

/** Part `part` of `parts`: a contiguous range of groups of 32 elements (threading ABI, see index.ts). */
export function linalg__dropout__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const n = u64(p.n);
  const groups = (n + GROUP - 1) / GROUP;
  const g0 = (groups * part) / parts;
  const g1 = (groups * (part + 1)) / parts;
  const e1 = g1 * GROUP < n ? g1 * GROUP : n;
  if (g0 < g1) range(p, changetype<Bindings>(bindings), usize(g0) * GROUP, usize(e1), scratch);
}

/** Lane l of word w is element 4l + w of a set: transpose four words to element order and store the kept, scaled x. */
// @ts-ignore: decorator
@inline
function apply(w: usize, x: usize, y: usize, vth: v128, vscale: v128): void {
  const w0 = v128.load(w);
  const w1 = v128.load(w, 16);
  const w2 = v128.load(w, 32);
  const w3 = v128.load(w, 48);
  const t0 = i32x4.shuffle(w0, w1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(w2, w3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(w0, w1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(w2, w3, 2, 6, 3, 7);
  v128.store(y, v128.and(f32x4.mul(v128.load(x), vscale), i32x4.ge_u(i64x2.shuffle(t0, t1, 0, 2), vth)));
  v128.store(y, v128.and(f32x4.mul(v128.load(x, 16), vscale), i32x4.ge_u(i64x2.shuffle(t0, t1, 1, 3), vth)), 16);
  v128.store(y, v128.and(f32x4.mul(v128.load(x, 32), vscale), i32x4.ge_u(i64x2.shuffle(t2, t3, 0, 2), vth)), 32);
  v128.store(y, v128.and(f32x4.mul(v128.load(x, 48), vscale), i32x4.ge_u(i64x2.shuffle(t2, t3, 1, 3), vth)), 48);
}

/** Elements [e0, e1), e0 a multiple of 32; `words`: 128 bytes of this call's own. */
function range(p: Params, b: Bindings, e0: usize, e1: usize, words: usize): void {
  const x = b.x;
  const y = b.y;
  const threshold = p.threshold;
  const vth = i32x4.splat(threshold);
  const scale = p.scale;
  const vscale = f32x4.splat(scale);
  const zero = i32x4.splat(0);
  const c2 = i32x4.splat(p.offset_lo);
  const c3 = i32x4.splat(p.offset_hi);
  const lanes = i32x4(0, 1, 2, 3);
  for (let i = e0; i < e1; i += GROUP) {
    const q = i32x4.add(i32x4.splat(u32(i >> 2)), lanes);
    philox8(q, i32x4.add(q, i32x4.splat(4)), zero, c2, c3, p.seed_lo, p.seed_hi, words);
    const o = i << 2;
    if (e1 - i >= GROUP) {
      apply(words, x + o, y + o, vth, vscale);
      apply(words + 64, x + o + 64, y + o + 64, vth, vscale);
    } else {
      // The last partial group: element j of it is word j % 4 of counter j / 4 (lane j/4 % 4 of set j / 16).
      for (let j: usize = 0; j < e1 - i; j++) {
        const u = load<u32>(words + ((j >> 4) << 6) + ((j & 3) << 4) + (((j >> 2) & 3) << 2));
        store<f32>(y + ((i + j) << 2), u >= threshold ? load<f32>(x + ((i + j) << 2)) * scale : 0);
      }
    }
  }
}
