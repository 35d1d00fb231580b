// linalg.sum_squares: out = the sum of x[i] * x[i] over i < n by the fixed 256-ary tree (plus the
// old out when accumulate == 1): the squared global gradient norm, one tensor at a time.
// Shapes: x f32[n], partials f32[partials_len] (scratch), out f32[1].
// Idea: one level of the tree per pass of a multi-pass dispatch (launch.ts `passes`), one
// invocation per chunk of 256; each square is rounded before it is added (`unfused`: no fma).
// #include "lib/tree_reduce.wgsl"
// #include "lib/unfused.wgsl"

fn term(i: u32, zero: u32) -> f32 {
  let v = x[i];
  return unfused(v * v, zero);
}
