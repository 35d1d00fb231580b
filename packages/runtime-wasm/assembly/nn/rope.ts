// nn.rope — rotate-half rotary embedding (transformers' apply_rotary_pos_emb) from host cos/sin tables.
// Shapes: x, y f32[n, h, d]; pos i32[n]; cos, sin f32[max_pos, d/2].
// Math: per token t, head, i < d/2, P = pos[t] in [0, max_pos): c = cos[P, i], s = sin[P, i],
//       y_i = f(f(x_i * c) - f(x_(i+d/2) * s)), y_(i+d/2) = f(f(x_(i+d/2) * c) + f(x_i * s)); else +0.0.
// Idea: SIMD across i (four pairs at a time, the table row shared by the token's heads); shared
// with nn.rope_backward, whose rotation is the transpose (the sign of s flipped).
import { Bindings, Params } from '../generated/nn/rope';
import { ropeRotate } from '../common/rope_rotate';

export function nn__rope(params: usize, bindings: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  ropeRotate(p.n, p.h, p.d, p.max_pos, b.x, b.pos, b.cos, b.sin, b.y, false, 0, usize(p.n));
}

/** Part `part` of `parts`: a contiguous range of tokens (threading ABI, see index.ts). */
export function nn__rope__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const n = u64(p.n);
  ropeRotate(p.n, p.h, p.d, p.max_pos, b.x, b.pos, b.cos, b.sin, b.y, false, usize((n * part) / parts), usize((n * (part + 1)) / parts));
}
