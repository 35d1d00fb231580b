// linalg.matmul_4bit: the QLoRA frozen base, W NF4/FP4 [n, k] in bitsandbytes' layout.
//   trans 0: y[m,n] = x[m,k] * deq(W)^T;  trans 1: y[m,k] = x[m,n] * deq(W);
//   deq(W)[r,c] = code[nibble(r*k + c)] * absmax[(r*k + c) / blocksize];
//   acc sums over the inner dimension in order (products rounded, then added);
//   y = acc (beta == 0, old y not read) or acc + beta * y.
// Shapes: x f32[m*k] (trans 0) or f32[m*n] (trans 1); packed u8[ceil(n*k/2)] (even element in the
// high nibble); absmax f32[blocks]; code f32[16]; y f32[m*n] (trans 0) or f32[m*k] (trans 1).
// Idea: the dense matmul's tiles (lib/matmul_tiles.wgsl) with B = deq(W) dequantized as it is
// staged into workgroup memory, tile by tile: exactly quant.dequantize_4bit's product, then the
// same sums as linalg.matmul (trans_b = 1 - trans, alpha = 1). A full f32 copy of W never exists.
// #include "lib/matmul_tiles.wgsl"
// #include "lib/matmul_4bit_io.wgsl"

fn w_absmax(blk: u32) -> f32 { return absmax[blk]; }
