// Operands of linalg.matmul_4bit(_dq) for lib/matmul_tiles.wgsl: A = x, B = deq(W) (W [n, k]:
// B(kk, j) = W[j, kk] for trans 0, W[kk, j] for trans 1), output y with beta. The including
// kernel defines `fn w_absmax(blk: u32) -> f32`, the absmax of block blk of W's flat index.

fn mm_shape() -> vec4<u32> {
  if (params.trans == 0u) { return vec4<u32>(params.m, params.n, params.k, 1u); }
  return vec4<u32>(params.m, params.k, params.n, 1u);
}
fn mm_a_k_fastest() -> bool { return true; }
fn mm_b_k_fastest() -> bool { return params.trans == 0u; }

fn mm_load_a(batch: u32, i: u32, kk: u32) -> f32 {
  let inner = select(params.n, params.k, params.trans == 0u);
  return x[i * inner + kk];
}

// deq(W)[r, c], exactly as quant.dequantize_4bit: code[nibble] * absmax of the flat index's block.
fn w_deq(r: u32, c: u32) -> f32 {
  let e = r * params.k + c;
  let byte = (packed[e / 8u] >> (8u * ((e / 2u) % 4u))) & 0xffu;
  let nib = select(byte >> 4u, byte & 15u, (e & 1u) == 1u);
  return code[nib] * w_absmax(e / params.blocksize);
}

fn mm_load_b(batch: u32, kk: u32, j: u32) -> f32 {
  if (params.trans == 0u) { return w_deq(j, kk); }
  return w_deq(kk, j);
}

fn mm_store(batch: u32, i: u32, j: u32, acc: f32, zero: u32) {
  let ny = select(params.k, params.n, params.trans == 0u);
  let yi = i * ny + j;
  if (params.beta == 0.0) {
    y[yi] = acc;
  } else {
    y[yi] = acc + unfused(params.beta * y[yi], zero);
  }
}
