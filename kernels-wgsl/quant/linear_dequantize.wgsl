// quant.linear_dequantize: out[i] = f32(q[i] - zero[g]) * scale[g], g = i / group; q is the
// code byte read as i8 when symmetric, as u8 otherwise.
// Shapes: codes u8[n] (4 per u32 word), scale f32[groups], zero i32[groups], out f32[n].
// Idea: each invocation handles PER elements strided by WG (element base + k*WG of its
// workgroup's WG*PER), so neighbouring invocations touch neighbouring words (coalesced on a GPU)
// and the per-invocation cost is spread over PER elements: on lavapipe 8 per invocation at
// WG = 64 runs about 3x faster than one element per invocation at WG = 256.
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
    let g = i / params.group;
    let raw = (codes[i / 4u] >> (8u * (i % 4u))) & 0xffu;
    var q = i32(raw);
    if (params.symmetric == 1u) { q = (q << 24u) >> 24u; }   // sign-extend the byte
    out[i] = f32(q - zero[g]) * scale[g];
  }
}
