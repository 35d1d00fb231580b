// nn.swiglu_backward: with g = gate[e], u = up[e], dy = dout[e], ex = exp(-g):
//   dup[e] = dy * (g / (1 + ex)),   sig = 1 / (1 + ex),
//   dgate[e] = ((dy * u) * sig) * (1 + g * (1 - sig))   (torch's silu_backward; no fma)
// Shapes: gate, up, dout, dgate, dup f32[n, inter].
// Idea: element-wise, PER elements per invocation strided by WG; exp from lib/exp.wgsl.
// #include "lib/grid.wgsl"
// #include "lib/exp.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let zero = params.n >> 31u;
  let total = params.n * params.inter;
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let e = base + k * WG;
    if (e >= total) { break; }
    let g = gate[e];
    let dy = dout[e];
    let ex = exp_f32(-g);
    let den = 1.0 + ex;
    dup[e] = dy * (g / den);
    let sig = 1.0 / den;
    dgate[e] = ((dy * up[e]) * sig) * (1.0 + unfused(g * (1.0 - sig), zero));
  }
}
