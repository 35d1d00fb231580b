// nn.rope_backward — the transpose rotation of dy with the forward's cos/sin tables.
// Shapes: dy, dx f32[n, h, d]; pos i32[n]; cos, sin f32[max_pos, d/2].
// Math: dx_i = f(f(g1 * c) + f(g2 * s)), dx_(i+d/2) = f(f(g2 * c) - f(g1 * s)), g1 = dy_i, g2 = dy_(i+d/2);
//       +0.0 for a position outside [0, max_pos).
// Idea: nn.rope's SIMD loop (common/rope_rotate.ts) with the sign of s flipped.
import { Bindings, Params } from '../generated/nn/rope_backward';
import { ropeRotate } from '../common/rope_rotate';

export function nn__rope_backward(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  ropeRotate(p.n, p.h, p.d, p.max_pos, b.dy, b.pos, b.cos, b.sin, b.dx, true, 0, usize(p.n));
}

/** Part `part` of `parts`: a contiguous range of tokens (threading ABI, see index.ts). */
export function nn__rope_backward__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = u64(p.n);
  ropeRotate(p.n, p.h, p.d, p.max_pos, b.dy, b.pos, b.cos, b.sin, b.dx, true, usize((n * part) / parts), usize((n * (part + 1)) / parts));
}
