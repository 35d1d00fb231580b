// quant.linear_dequantize: out[i] = f32(q[i] - zero[g]) * scale[g], g = i / group; q is the
// code byte read as i8 when symmetric, as u8 otherwise.
// Shapes: codes u8[n] (4 per u32 word), scale f32[groups], zero i32[groups], out f32[n].
// Idea: one invocation per element.
// #include "lib/grid.wgsl"

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let i = flat_workgroup(wid, nwg) * WG + t;
  if (i >= params.n) { return; }
  let g = i / params.group;
  let raw = (codes[i / 4u] >> (8u * (i % 4u))) & 0xffu;
  var q = i32(raw);
  if (params.symmetric == 1u) { q = (q << 24u) >> 24u; }   // sign-extend the byte
  out[i] = f32(q - zero[g]) * scale[g];
}
