// Shared pieces of nn.attention and nn.attention_backward: the key range of a query (the mask)
// and the tile geometry that depends on the head dim.
//
// Tile rows: R = clamp(4 * floor(64 / ceil(d / 4)), 4, 16) rows (queries in the forward and dq,
// keys in dk/dv) per workgroup, so that the (R / 4) x ceil(d / 4) blocks of 4 rows x 4 columns of
// the result fill at most the 64 invocations (one register block each): d = 64 -> 16 rows,
// d = 128 -> 8, d = 256 -> 4. packages/runtime-webgpu/src/launch.ts computes the same R.

fn attn_col_blocks() -> u32 { return (params.d + 3u) / 4u; }

fn attn_rows() -> u32 { return clamp(4u * (64u / attn_col_blocks()), 4u, 16u); }

// The first key query i of row bb attends (the spec's lo): the document start i - pos, then the window.
fn attn_lo(bb: u32, i: u32) -> u32 {
  let p = pos[bb * params.t + i];
  var lo = i32(i) - min(max(p, 0), i32(i));
  if (params.window > 0u) { lo = max(lo, i32(i) - i32(params.window) + 1); }
  return u32(lo);
}

fn unfused4(p: vec4<f32>, zero: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(p) ^ vec4<u32>(zero));
}

// The largest power of two <= x (x >= 1): chunk lengths that divide a tile of 64.
fn pow2_floor(x: u32) -> u32 { return 1u << (31u - countLeadingZeros(x)); }
