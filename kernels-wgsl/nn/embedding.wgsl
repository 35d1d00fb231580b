// nn.embedding: out[t, j] = table[ids[t], j] for 0 <= ids[t] < v, else +0.0 (bits 0).
// Shapes: ids i32[n], table f32[v, c], out f32[n, c].
// Idea: element-wise over out, PER elements per invocation strided by WG; the value moves as its
// u32 bits (no arithmetic), so NaN payloads, infinities and signed zeros are copied unchanged.
// #include "lib/grid.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let total = params.n * params.c;
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let e = base + k * WG;
    if (e >= total) { break; }
    let tok = e / params.c;
    let j = e - tok * params.c;
    let id = ids[tok];
    var bits = 0u;
    if (id >= 0 && u32(id) < params.v) { bits = bitcast<u32>(table[u32(id) * params.c + j]); }
    out[e] = bitcast<f32>(bits);
  }
}
