// linalg.axpy: y[i] = alpha * x[i] + y[i] for i < n (a multiply, then an add: no fma).
// Shapes: x f32[n], y f32[n] (read and written in place).
// Idea: PER elements per invocation strided by WG; the product passes through `unfused` (an
// integer xor with a run-time zero) so no driver contracts it with the add into an fma.
// #include "lib/grid.wgsl"
// #include "lib/unfused.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  let zero = params.n >> 31u;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * WG;
    if (i >= params.n) { break; }
    y[i] = unfused(params.alpha * x[i], zero) + y[i];
  }
}
