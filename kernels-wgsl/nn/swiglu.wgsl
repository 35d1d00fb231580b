// nn.swiglu: out[e] = silu(gate[e]) * up[e], silu(g) = g / (1 + exp(-g)) (torch's silu), each
// operation rounded on its own.
// Shapes: gate, up, out f32[n, inter].
// Idea: element-wise, PER elements per invocation strided by WG; exp is lib/exp.wgsl's
// range-reduced exp (lavapipe's builtin exp loses accuracy for large |g|).
// #include "lib/grid.wgsl"
// #include "lib/exp.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let total = params.n * params.inter;
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let e = base + k * WG;
    if (e >= total) { break; }
    let g = gate[e];
    out[e] = (g / (1.0 + exp_f32(-g))) * up[e];
  }
}
