// nn.rope: rotate-half rotary embedding from host-computed tables. For token t, head hh, i < d/2,
// P = pos[t] in [0, max_pos): c = cos[P, i], s = sin[P, i], x1 = x[t, hh, i], x2 = x[t, hh, i + d/2]:
//   y[t, hh, i] = x1*c - x2*s,   y[t, hh, i + d/2] = x2*c + x1*s   (each product rounded: no fma);
// a position outside [0, max_pos) gives +0.0 in both.
// Shapes: x f32[n, h, d], pos i32[n], cos/sin f32[max_pos, d/2], y f32[n, h, d].
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
      let x1 = x[o];
      let x2 = x[o + half];
      y1 = unfused(x1 * c, zero) - unfused(x2 * s, zero);
      y2 = unfused(x2 * c, zero) + unfused(x1 * s, zero);
    }
    y[o] = y1;
    y[o + half] = y2;
  }
}
