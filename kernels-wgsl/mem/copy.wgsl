// mem.copy: dst[i] = src[i] for i < words.
// Shapes: src u32[words], dst u32[words].
// Idea: each invocation handles PER words strided by WG (word base + k*WG of its
// workgroup's WG*PER), so neighbouring invocations touch neighbouring words (coalesced on a GPU)
// and the per-invocation cost is spread over PER words: on lavapipe 8 per invocation at
// WG = 64 runs about 3x faster than one element per invocation at WG = 256.
// The simplest kernel: its bandwidth is this runtime's copy bandwidth, against which the
// benchmarks report every other kernel.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * WG;
    if (i >= params.words) { break; }
    dst[i] = src[i];
  }
}
