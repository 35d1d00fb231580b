// linalg.add: c[i] = a[i] + b[i] for i < n.
// Shapes: a f32[n], b f32[n], c f32[n].
// Idea: each invocation handles PER elements strided by WG (element base + k*WG of its
// workgroup's WG*PER): coalesced on a GPU, the per-invocation cost spread over PER elements.
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
    c[i] = a[i] + b[i];
  }
}
