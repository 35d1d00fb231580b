// quant.dequantize_4bit_dq: 4-bit dequantization with double-quantized statistics.
//   absmax_b = nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize] + offset
//              (a multiply, then an add: no fma)
//   out[i]   = code[nibble(i)] * absmax_{i / blocksize}
// Shapes: packed u8[ceil(n/2)], qabsmax u8[blocks], nested_absmax f32[nested_blocks],
// nested_code f32[256], code f32[16], out f32[n].
// Idea: each invocation handles PER elements strided by WG (element base + k*WG of its
// workgroup's WG*PER), so neighbouring invocations touch neighbouring words (coalesced on a GPU)
// and the per-invocation cost is spread over PER elements: on lavapipe 8 per invocation at
// WG = 64 runs about 3x faster than one element per invocation at WG = 256.
// Each element rebuilds its block's absmax (two loads and two flops, cheaper than a second
// pass). The product goes through a bit operation the compiler cannot see through, so no driver
// fuses multiply and add into an fma.
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
    let b = i / params.blocksize;
    let qa = (qabsmax[b / 4u] >> (8u * (b % 4u))) & 0xffu;
    let p = nested_code[qa] * nested_absmax[b / params.nested_blocksize];
    // n < 2^31 for every bindable buffer, so this xor is 0 — but only known at run time.
    let block_absmax = bitcast<f32>(bitcast<u32>(p) ^ (params.n >> 31u)) + params.offset;
    let byte = (packed[i / 8u] >> (8u * ((i / 2u) % 4u))) & 0xffu;
    let nib = select(byte >> 4u, byte & 15u, (i & 1u) == 1u);
    out[i] = code[nib] * block_absmax;
  }
}
