// Shared body of nn.rope and nn.rope_backward. The including file defines
//   const ROPE_SIGN: f32          (1 for the rotation, -1 for its transpose: sin negated, exact)
//   fn rope_in(e: u32) -> f32     (the element of the input at flat index e)
//   fn rope_out(e: u32, v: f32)   (store the output at flat index e)
// For token t, head hh, i < d/2, P = pos[t] in [0, max_pos): c = cos[P, i], s = ROPE_SIGN * sin[P, i],
//   out[i] = a1*c - a2*s,  out[i + d/2] = a2*c + a1*s   (each product rounded: no fma);
// a position outside [0, max_pos) gives +0.0 in both. The transpose dx1 = g1*c + g2*s is the same
// with -s: f(g2 * -s) = -f(g2 * s) and a - (-b) = a + b exactly, so the bits are the spec's.
// Idea: one (i, i + d/2) pair per element, PER pairs per invocation strided by WG.

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
      let s = ROPE_SIGN * sin[u32(p) * half + i];
      let a1 = rope_in(o);
      let a2 = rope_in(o + half);
      y1 = unfused(a1 * c, zero) - unfused(a2 * s, zero);
      y2 = unfused(a2 * c, zero) + unfused(a1 * s, zero);
    }
    rope_out(o, y1);
    rope_out(o + half, y2);
  }
}
