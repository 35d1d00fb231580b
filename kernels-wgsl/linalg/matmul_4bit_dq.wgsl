// linalg.matmul_4bit_dq: linalg.matmul_4bit reading double-quantized statistics directly:
//   absmax_of(b) = nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize] + offset
//   (a multiply, then an add, as quant.dequantize_4bit_dq).
// Shapes: x, packed, code, y as linalg.matmul_4bit; qabsmax u8[blocks]; nested_absmax
// f32[nested_blocks]; nested_code f32[256].
// Idea: the 4-bit matmul's tiles (lib/matmul_tiles.wgsl, lib/matmul_4bit_io.wgsl); each staged
// weight rebuilds its block's absmax (two loads, a product kept `unfused`, an add).
// #include "lib/matmul_tiles.wgsl"
// #include "lib/matmul_4bit_io.wgsl"

fn w_absmax(blk: u32) -> f32 {
  let qa = (qabsmax[blk / 4u] >> (8u * (blk % 4u))) & 0xffu;
  return unfused(nested_code[qa] * nested_absmax[blk / params.nested_blocksize], params.m >> 31u) + params.offset;
}
