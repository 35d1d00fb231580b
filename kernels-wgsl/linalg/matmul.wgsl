// linalg.matmul: C = alpha * op(A) * op(B) + beta * C, batched, op = identity or transpose.
//   acc = sum over kk in order of opA(i,kk) * opB(kk,j) (each product rounded, then added: no fma);
//   beta == 0: c = alpha * acc (the old c is not read); else c = alpha * acc + beta * c.
// Shapes: a f32[(batch-1)*stride_a + m*k] ([m,k], or [k,m] with trans_a), b f32[(batch-1)*stride_b
// + k*n] ([k,n], or [n,k] with trans_b), c f32[(batch-1)*stride_c + m*n] ([m,n]).
// Idea: 64x64 output tiles, a 4x4 register block per invocation, k-tiles of 16 in workgroup
// memory (lib/matmul_tiles.wgsl); this file says where op(A), op(B) and C live, transposes and
// batch strides included.
// #include "lib/matmul_tiles.wgsl"

fn mm_shape() -> vec4<u32> { return vec4<u32>(params.m, params.n, params.k, params.batch); }
fn mm_a_k_fastest() -> bool { return params.trans_a == 0u; }
fn mm_b_k_fastest() -> bool { return params.trans_b == 1u; }

fn mm_load_a(batch: u32, i: u32, kk: u32) -> f32 {
  let base = batch * params.stride_a;
  if (params.trans_a == 0u) { return a[base + i * params.k + kk]; }
  return a[base + kk * params.m + i];
}

fn mm_load_b(batch: u32, kk: u32, j: u32) -> f32 {
  let base = batch * params.stride_b;
  if (params.trans_b == 0u) { return b[base + kk * params.n + j]; }
  return b[base + j * params.k + kk];
}

fn mm_store(batch: u32, i: u32, j: u32, acc: f32, zero: u32) {
  let ci = batch * params.stride_c + i * params.n + j;
  let scaled = params.alpha * acc;
  if (params.beta == 0.0) {
    c[ci] = scaled;
  } else {
    c[ci] = unfused(scaled, zero) + unfused(params.beta * c[ci], zero);
  }
}
