// Keep a product rounded on its own, so that no driver fuses it with the add that follows into an
// fma (which would round once and differ from the reference in the last bit).
//
// `zero` must be 0 at run time but unknown to the compiler (e.g. `params.n >> 31u`: every
// element count is below 2^31). The xor through the integer bits is then the identity, yet the
// compiler cannot see through it, so the multiply and the add stay two rounded operations.
fn unfused(p: f32, zero: u32) -> f32 {
  return bitcast<f32>(bitcast<u32>(p) ^ zero);
}
