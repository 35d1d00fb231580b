// lib/rope_rotate — the rotation shared by nn.rope and nn.rope_backward.
// For tokens [t0, t1): every head's pairs (i, i + d/2) rotated by the table row of pos[t]:
//   forward:   (a, b) -> (f(f(a*c) - f(b*s)), f(f(b*c) + f(a*s)))
//   transpose: (a, b) -> (f(f(a*c) + f(b*s)), f(f(b*c) - f(a*s)))
// SIMD over i, four pairs per step; a short last step loads and stores only its lanes.
import { loadUpTo, storeUpTo } from './rowsum32';

export function ropeRotate(n: u32, h: u32, d: u32, maxPos: u32, x: usize, pos: usize, cos: usize, sin: usize, y: usize, transpose: bool, t0: usize, t1: usize): void {
  const half = usize(d >> 1);
  const hb = half << 2;
  const heads = usize(h);
  for (let t = t0; t < t1; t++) {
    const P = load<i32>(pos + (t << 2));
    const rowX = x + ((t * heads * usize(d)) << 2);
    const rowY = y + ((t * heads * usize(d)) << 2);
    if (P < 0 || u32(P) >= maxPos) {
      memory.fill(rowY, 0, (heads * usize(d)) << 2);
      continue;
    }
    const cr = cos + usize(P) * hb;
    const sr = sin + usize(P) * hb;
    for (let hh: usize = 0; hh < heads; hh++) {
      const xa = rowX + hh * (hb << 1);
      const ya = rowY + hh * (hb << 1);
      for (let i: usize = 0; i < half; i += 4) {
        const o = i << 2;
        const cnt = isize(half - i);
        const c = loadUpTo(cr + o, cnt);
        const s = loadUpTo(sr + o, cnt);
        const a = loadUpTo(xa + o, cnt);
        const bb = loadUpTo(xa + hb + o, cnt);
        let lo: v128, hi: v128;
        if (transpose) {
          lo = f32x4.add(f32x4.mul(a, c), f32x4.mul(bb, s));
          hi = f32x4.sub(f32x4.mul(bb, c), f32x4.mul(a, s));
        } else {
          lo = f32x4.sub(f32x4.mul(a, c), f32x4.mul(bb, s));
          hi = f32x4.add(f32x4.mul(bb, c), f32x4.mul(a, s));
        }
        storeUpTo(ya + o, lo, cnt);
        storeUpTo(ya + hb + o, hi, cnt);
      }
    }
  }
}
