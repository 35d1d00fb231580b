// linalg.dropout — inverted dropout with a Philox 4x32-10 counter-based mask (forward and backward).
// Shapes: x, y f32[n].
// Math: element i takes word i % 4 of Philox4x32-10(counter (i/4, 0, offset_lo, offset_hi),
//       key (seed_lo, seed_hi)); keep = u >= threshold (unsigned); y = keep ? f(x * scale) : +0.
// Idea: four counters per SIMD Philox call (common/philox.ts) give 16 draws; a 4x4 transpose
// puts them in element order, an unsigned compare makes the mask, and the scaled x is ANDed with
// it (a dropped element is +0 whatever x is). The last partial group goes element by element.
import { Bindings, Params } from '../generated/linalg/dropout';
import { philox4 } from '../common/philox';

// Philox output words of one call (dropout runs on the calling thread only; no __part variant).
const words = memory.data(64, 16);

export function linalg__dropout(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = usize(p.n);
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
  for (let i: usize = 0; i < n; i += 16) {
    const q = u32(i >> 2);
    philox4(i32x4.add(i32x4.splat(q), lanes), zero, c2, c3, p.seed_lo, p.seed_hi, words);
    const w0 = v128.load(words);
    const w1 = v128.load(words, 16);
    const w2 = v128.load(words, 32);
    const w3 = v128.load(words, 48);
    // Lane l of word w is element 4l + w: transpose to element order.
    const t0 = i32x4.shuffle(w0, w1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(w2, w3, 0, 4, 1, 5);
    const t2 = i32x4.shuffle(w0, w1, 2, 6, 3, 7);
    const t3 = i32x4.shuffle(w2, w3, 2, 6, 3, 7);
    const u0 = i64x2.shuffle(t0, t1, 0, 2);
    const u1 = i64x2.shuffle(t0, t1, 1, 3);
    const u2 = i64x2.shuffle(t2, t3, 0, 2);
    const u3 = i64x2.shuffle(t2, t3, 1, 3);
    const o = i << 2;
    if (n - i >= 16) {
      v128.store(y + o, v128.and(f32x4.mul(v128.load(x + o), vscale), i32x4.ge_u(u0, vth)));
      v128.store(y + o, v128.and(f32x4.mul(v128.load(x + o, 16), vscale), i32x4.ge_u(u1, vth)), 16);
      v128.store(y + o, v128.and(f32x4.mul(v128.load(x + o, 32), vscale), i32x4.ge_u(u2, vth)), 32);
      v128.store(y + o, v128.and(f32x4.mul(v128.load(x + o, 48), vscale), i32x4.ge_u(u3, vth)), 48);
    } else {
      v128.store(words, u0);
      v128.store(words, u1, 16);
      v128.store(words, u2, 32);
      v128.store(words, u3, 48);
      for (let j: usize = 0; j < n - i; j++) {
        const u = load<u32>(words + (j << 2));
        store<f32>(y + ((i + j) << 2), u >= threshold ? load<f32>(x + ((i + j) << 2)) * scale : 0);
      }
    }
  }
}
