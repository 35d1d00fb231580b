// quant.dequantize_4bit: out[i] = code[nibble(i)] * absmax[i / blocksize], where nibble(i) is
// the high nibble of packed byte i/2 for even i and the low nibble for odd i.
// Shapes: packed u8[ceil(n/2)] (as u32 words, little-endian bytes), absmax f32[blocks],
// code f32[16], out f32[n].
// Idea: one invocation per output element; neighbours read the same word, which the cache serves.
// #include "lib/grid.wgsl"

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let i = flat_workgroup(wid, nwg) * WG + t;
  if (i >= params.n) { return; }
  let byte = (packed[i / 8u] >> (8u * ((i / 2u) % 4u))) & 0xffu;
  let nib = select(byte >> 4u, byte & 15u, (i & 1u) == 1u);
  out[i] = code[nib] * absmax[i / params.blocksize];
}
