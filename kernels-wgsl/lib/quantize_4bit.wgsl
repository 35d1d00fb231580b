// Shared body of quant.nf4_quantize and quant.fp4_quantize; the including file defines
// `fn code4(v: Scaled) -> u32`, the 4-bit code of a scaled value v.s in [-1, 1] (or +-inf).
//
// Shapes: x f32[n]; packed u8[ceil(n/2)] as u32 words (byte j = code[2j] << 4 | code[2j+1],
// little-endian bytes in a word); absmax f32[ceil(n/blocksize)].
// Work split: a block of blocksize elements is cut into seg = min(WG, blocksize / min(PER,
// blocksize)) chunks of chunk = blocksize / seg consecutive elements, one invocation per chunk
// (WG / seg blocks per workgroup). Each invocation takes the max |x| of its chunk, the seg
// partial maxima are combined in workgroup memory (only when seg > 1), then each invocation
// packs its own chunk (chunk / 8 words; chunk >= 8 because blocksize >= 32 and PER >= 8), so no
// two invocations write the same word and x is read twice from the same small range.
// Why whole chunks per invocation: on lavapipe every workgroupBarrier costs a switch of each
// invocation's coroutine, and the old split (64 invocations per block of 64, a 6-step tree
// reduction, 8 barriers per workgroup) spent ~70 of ~80 ms there for n = 2^20 (measured by
// removing the reduction). With PER = 64 a block of <= 64 elements is one invocation: no
// barriers at all (13x faster). Larger blocks still use up to WG invocations each, so a GPU
// keeps enough threads; the cost on a GPU is that neighbouring invocations read 256 bytes apart
// (each reads its own run of consecutive words, which the L1 cache serves).
// #include "lib/grid.wgsl"
// #include "lib/f32bits.wgsl"
// #include "lib/segment_max.wgsl"

override WG: u32 = 64u;
override PER: u32 = 64u;

// The code of element e (NaN -> 0).
fn code_at(e: u32, inv_bits: u32) -> u32 {
  let sv = scale_by_inverse(x[e], inv_bits);
  return select(code4(sv), 0u, sv.nan);
}

// Packed word w (bytes 4w..4w+3, elements 8w..8w+7). Element e of the word lands in byte
// (e % 8) / 2 of the word, in the high nibble for even e. Past n: the code of 0 (the last low
// nibble of an odd n, as in bitsandbytes); bytes past ceil(n/2) keep their old value.
fn packed_word(w: u32, inv_bits: u32) -> u32 {
  let e0 = 8u * w;
  var word = 0u;
  if (e0 + 8u <= params.n) {
    for (var k = 0u; k < 8u; k = k + 1u) {
      word = word | (code_at(e0 + k, inv_bits) << (8u * (k / 2u) + 4u * (1u - k % 2u)));
    }
    return word;
  }
  let zero = code4(Scaled(false, 0.0, false));
  for (var k = 0u; k < 8u; k = k + 1u) {
    var c = zero;
    if (e0 + k < params.n) { c = code_at(e0 + k, inv_bits); }
    word = word | (c << (8u * (k / 2u) + 4u * (1u - k % 2u)));
  }
  let packed_bytes = (params.n + 1u) / 2u;
  if (4u * w + 4u > packed_bytes) {
    let keep = 0xffffffffu << (8u * (packed_bytes - 4u * w));      // bytes past the end
    word = (word & ~keep) | (packed[w] & keep);
  }
  return word;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let seg = min(WG, params.blocksize / min(PER, params.blocksize));   // uniform
  let chunk = params.blocksize / seg;
  let blk = flat_workgroup(wid, nwg) * (WG / seg) + t / seg;
  let l = t % seg;
  let start = blk * params.blocksize + l * chunk;
  let end = min(params.n, start + chunk);

  // max |x| over the chunk, NaN ignored (on the bits: exact).
  var m = 0u;
  for (var i = start; i < end; i = i + 1u) {
    let a = abs_bits(x[i]);
    m = select(m, max(m, a), a <= 0x7f800000u);
  }
  var amax = m;
  if (seg > 1u) { amax = segment_max(t, seg, m); }
  if (start >= params.n) { return; }
  if (l == 0u) { absmax[blk] = bitcast<f32>(amax); }
  let inv_bits = recip_bits(amax);               // f32(1 / absmax), as bitsandbytes multiplies

  for (var w = start / 8u; 8u * w < end; w = w + 1u) {
    packed[w] = packed_word(w, inv_bits);
  }
}
