// order_key(x): a u32 whose unsigned order is the numeric order of non-NaN f32 values, with
// -0 and +0 mapped to one key (they compare equal) and -Inf < finite < +Inf. Decided on the bits,
// so a compiler that assumes no NaN/Inf cannot change it. NaN gets 0xffffffff (above +Inf); a
// kernel that must not let NaN win tests bits_is_nan itself.
fn order_key(x: f32) -> u32 {
  var b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; }
  if ((b & 0x7fffffffu) == 0u) { b = 0u; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}
