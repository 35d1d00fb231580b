// linalg.matmul_16bit: a frozen dense base stored in bf16 or f16, W [n, k].
//   trans 0: y[m,n] = x[m,k] * wide(W)^T;  trans 1: y[m,k] = x[m,n] * wide(W);
//   wide() widens a bf16/f16 element to f32 exactly (lib/half16.wgsl);
//   acc sums over the inner dimension in order (products rounded, then added);
//   y = acc (beta == 0, old y not read) or acc + beta * y.
// Shapes: x f32[m*k] (trans 0) or f32[m*n] (trans 1); w u32[ceil(n*k/2)] (two halves per word,
// element e in bits 16*(e%2)..); y f32[m*n] (trans 0) or f32[m*k] (trans 1).
// Idea: the dense matmul's tiles (lib/matmul_tiles.wgsl) with B = wide(W) widened with integer
// operations as it is staged into workgroup memory, tile by tile: the same sums as linalg.matmul
// (trans_b = 1 - trans, alpha = 1) over quant.dequantize_16bit's values. No f32 copy of W exists.
// #include "lib/matmul_tiles.wgsl"
// #include "lib/half16.wgsl"

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

// B(kk, j) = W[j, kk] (trans 0) or W[kk, j] (trans 1), widened.
fn mm_load_b(batch: u32, kk: u32, j: u32) -> f32 {
  var e = kk * params.k + j;
  if (params.trans == 0u) { e = j * params.k + kk; }
  return bitcast<f32>(wide_bits(half_at(e), params.format));
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
