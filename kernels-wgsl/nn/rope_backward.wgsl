// nn.rope_backward: the transpose rotation of nn.rope with the same tables. For token t, head hh, i < d/2,
// P = pos[t] in [0, max_pos): c = cos[P, i], s = sin[P, i], g1 = dy[t, hh, i], g2 = dy[t, hh, i + d/2]:
//   dx[t, hh, i] = g1*c + g2*s,   dx[t, hh, i + d/2] = g2*c - g1*s   (each product rounded: no fma);
// a position outside [0, max_pos) gives +0.0 in both.
// Shapes: dy f32[n, h, d], pos i32[n], cos/sin f32[max_pos, d/2], dx f32[n, h, d].
// Idea: the shared pair loop of lib/rope_pair.wgsl with sin negated (exact), which is the transpose.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/rope_pair.wgsl"

const ROPE_SIGN: f32 = -1.0;
fn rope_in(e: u32) -> f32 { return dy[e]; }
fn rope_out(e: u32, v: f32) { dx[e] = v; }
