// linalg.sum: out = the sum of x[0..n) by the fixed 256-ary tree (plus the old out when
// accumulate == 1).
// Shapes: x f32[n], partials f32[partials_len] (scratch), out f32[1].
// Idea: one level of the tree per pass of a multi-pass dispatch (launch.ts `passes`), one
// invocation per chunk of 256; see lib/tree_reduce.wgsl.
// #include "lib/tree_reduce.wgsl"

fn term(i: u32, zero: u32) -> f32 { return x[i]; }
