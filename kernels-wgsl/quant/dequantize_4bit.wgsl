// quant.dequantize_4bit: out[i] = code[nibble(i)] * absmax[i / blocksize], where nibble(i) is
// the high nibble of packed byte i/2 for even i and the low nibble for odd i.
// Shapes: packed u8[ceil(n/2)] (as u32 words, little-endian bytes), absmax f32[blocks],
// code f32[16], out f32[n].
// Idea: each invocation handles PER elements strided by WG (element base + k*WG of its
// workgroup's WG*PER), so neighbouring invocations touch neighbouring words (coalesced on a GPU)
// and the per-invocation cost is spread over PER elements: on lavapipe 8 per invocation at
// WG = 64 runs about 3x faster than one element per invocation at WG = 256.
// Neighbours read the same packed word, which the cache serves.
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
    let byte = (packed[i / 8u] >> (8u * ((i / 2u) % 4u))) & 0xffu;
    let nib = select(byte >> 4u, byte & 15u, (i & 1u) == 1u);
    out[i] = code[nib] * absmax[i / params.blocksize];
  }
}
