// nn.rope: rotate-half rotary embedding from host-computed tables. For token t, head hh, i < d/2,
// P = pos[t] in [0, max_pos): c = cos[P, i], s = sin[P, i], x1 = x[t, hh, i], x2 = x[t, hh, i + d/2]:
//   y[t, hh, i] = x1*c - x2*s,   y[t, hh, i + d/2] = x2*c + x1*s   (each product rounded: no fma);
// a position outside [0, max_pos) gives +0.0 in both.
// Shapes: x f32[n, h, d], pos i32[n], cos/sin f32[max_pos, d/2], y f32[n, h, d].
// Idea: the shared pair loop of lib/rope_pair.wgsl with the tables as given.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"
// #include "lib/rope_pair.wgsl"

const ROPE_SIGN: f32 = 1.0;
fn rope_in(e: u32) -> f32 { return x[e]; }
fn rope_out(e: u32, v: f32) { y[e] = v; }
