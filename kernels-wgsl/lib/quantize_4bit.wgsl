// Shared body of quant.nf4_quantize and quant.fp4_quantize; the including file defines
// `fn code4(v: Scaled) -> u32`, the 4-bit code of a scaled value v.s in [-1, 1] (or +-inf).
//
// Shapes: x f32[n]; packed u8[ceil(n/2)] as u32 words (byte j = code[2j] << 4 | code[2j+1],
// little-endian bytes in a word); absmax f32[ceil(n/blocksize)].
// Work split: a segment of seg = min(blocksize, WG) invocations owns one block (WG/seg blocks
// per workgroup). blocksize >= 32 makes every block start on a word boundary (16 bytes), so the
// words of a block belong to its segment alone: no two invocations write the same word.
// #include "lib/grid.wgsl"
// #include "lib/f32bits.wgsl"
// #include "lib/segment_max.wgsl"

override WG: u32 = 256u;

// Byte j of the packed output: the codes of elements 2j and 2j+1 (odd n: the last low nibble
// holds the code of 0, as in bitsandbytes).
fn packed_byte(j: u32, inv_bits: u32) -> u32 {
  let e = 2u * j;
  var hi = 0u;
  let sh = scale_by_inverse(x[e], inv_bits);
  if (!sh.nan) { hi = code4(sh); }
  var lo = code4(Scaled(false, 0.0, false));
  if (e + 1u < params.n) {
    lo = 0u;
    let sl = scale_by_inverse(x[e + 1u], inv_bits);
    if (!sl.nan) { lo = code4(sl); }
  }
  return (hi << 4u) | lo;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let seg = min(params.blocksize, WG);
  let blk = flat_workgroup(wid, nwg) * (WG / seg) + t / seg;
  let l = t % seg;
  let start = blk * params.blocksize;
  let in_range = start < params.n;
  let end = min(params.n, start + params.blocksize);

  // absmax over the valid elements of the block, NaN ignored (on the bits: exact).
  var m = 0u;
  if (in_range) {
    for (var i = start + l; i < end; i = i + seg) {
      let a = abs_bits(x[i]);
      if (a <= 0x7f800000u && a > m) { m = a; }
    }
  }
  let amax = segment_max(t, seg, m);
  if (!in_range) { return; }
  if (l == 0u) { absmax[blk] = bitcast<f32>(amax); }
  let inv_bits = recip_bits(amax);               // f32(1 / absmax), as bitsandbytes multiplies

  // One invocation per output word: 4 bytes = 8 elements.
  let packed_bytes = (params.n + 1u) / 2u;
  let first_word = start / 8u;
  let words = (end - start + 7u) / 8u;
  for (var k = l; k < words; k = k + seg) {
    let w = first_word + k;
    var word = 0u;
    if (4u * w + 4u > packed_bytes) { word = packed[w]; } // keep bytes past the end
    for (var b = 0u; b < 4u; b = b + 1u) {
      let j = 4u * w + b;
      if (j < packed_bytes) {
        word = (word & ~(0xffu << (8u * b))) | (packed_byte(j, inv_bits) << (8u * b));
      }
    }
    packed[w] = word;
  }
}
