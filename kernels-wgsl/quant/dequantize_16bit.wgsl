// quant.dequantize_16bit: out[e] = element e of w (bf16 for format 0, f16 for format 1) widened to
// f32 exactly — subnormals, inf and NaN payloads included (lib/half16.wgsl).
// Shapes: w u32[ceil(n/2)] (two halves per word, element e in bits 16*(e%2)..); out f32[n].
// Idea: integer operations only, written through bitcast, so no float unit can flush or
// canonicalize anything; PER elements per invocation strided by WG, as the other dequantizations.
// #include "lib/grid.wgsl"
// #include "lib/half16.wgsl"

override WG: u32 = 64u;
override PER: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let base = flat_workgroup(wid, nwg) * WG * PER + t;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * WG;
    if (i >= params.n) { break; }
    out[i] = bitcast<f32>(wide_bits(half_at(i), params.format));
  }
}
