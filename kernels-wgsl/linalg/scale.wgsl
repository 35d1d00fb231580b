// linalg.scale: y[i] = alpha * x[i] for i < n (alpha == 1 still multiplies).
// Shapes: x f32[n], y f32[n].
// Idea: PER elements per invocation strided by WG, as every element-wise kernel here.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * WG;
    if (i >= params.n) { break; }
    y[i] = params.alpha * x[i];
  }
}
