// nn.rope_backward: the transpose rotation of nn.rope with the same tables. For token t, head hh, i < d/2,
// P = pos[t] in [0, max_pos): c = cos[P, i], s = sin[P, i], g1 = dy[t, hh, i], g2 = dy[t, hh, i + d/2]:
//   dx[t, hh, i] = g1*c + g2*s,   dx[t, hh, i + d/2] = g2*c - g1*s   (g = dy; each product rounded: no fma);
// a position outside [0, max_pos) gives +0.0 in both.
// Shapes: dy f32[n, h, d], pos i32[n], cos/sin f32[max_pos, d/2], dx f32[n, h, d].
// Idea: one (i, i + d/2) pair per element, PER pairs per invocation strided by WG.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let zero = params.n >> 31u;
  let half = params.d / 2u;
  let pairs = params.n * params.h * half;
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let e = base + k * WG;
    if (e >= pairs) { break; }
    let row = e / half;                          // t * h + hh
    let i = e - row * half;
    let tok = row / params.h;
    let o = row * params.d + i;
    let p = pos[tok];
    var y1 = 0.0;
    var y2 = 0.0;
    if (p >= 0 && u32(p) < params.max_pos) {
      let c = cos[u32(p) * half + i];
      let s = sin[u32(p) * half + i];
      let g1 = dy[o];
      let g2 = dy[o + half];
      y1 = unfused(g1 * c, zero) + unfused(g2 * s, zero);
      y2 = unfused(g2 * c, zero) - unfused(g1 * s, zero);
    }
    dx[o] = y1;
    dx[o + half] = y2;
  }
}
