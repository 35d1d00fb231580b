// mem.copy: dst[i] = src[i] for i < words.
// Shapes: src u32[words], dst u32[words].
// Idea: one invocation per word; the simplest kernel, so its bandwidth is this runtime's copy
// bandwidth, against which the benchmarks report every other kernel.
// #include "lib/grid.wgsl"

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let i = flat_workgroup(wid, nwg) * WG + t;
  if (i < params.words) {
    dst[i] = src[i];
  }
}
