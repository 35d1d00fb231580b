// nn.cross_entropy_backward, in place over the logits: for row r with label != ignore_index,
//   p = exp(x_j - lse[r]); g = j == label ? p - 1 : p; dlogits[r, j] = g * dloss[r];
// an ignored row becomes +0.0 everywhere.
// Shapes: dlogits f32[n, v] (logits in, gradient out), labels i32[n], lse f32[n], dloss f32[n].
// Idea: element-wise given lse (each element read, then overwritten by the same invocation), PER
// elements per invocation strided by WG; exp from lib/exp.wgsl.
// #include "lib/grid.wgsl"
// #include "lib/exp.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let total = params.n * params.v;
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let e = base + k * WG;
    if (e >= total) { break; }
    let r = e / params.v;
    let j = e - r * params.v;
    let label = labels[r];
    var g = 0.0;
    if (label != params.ignore_index) {
      let p = exp_f32(dlogits[e] - lse[r]);
      if (label >= 0 && u32(label) == j) { g = (p - 1.0) * dloss[r]; } else { g = p * dloss[r]; }
    }
    dlogits[e] = g;
  }
}
