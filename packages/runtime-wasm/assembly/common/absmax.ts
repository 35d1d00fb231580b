// Block statistics shared by the blockwise quantizers.
//
// absmaxOf(x, start, end, offset) = max |x[i] - offset| over i in [start, end), NaN ignored
// (fmaxf semantics), 0 for an empty or all-NaN range — as `absmaxOf` in the reference.
// Idea: four lanes with f32x4.pmax(m, a) = (m < a ? a : m), which keeps m when a is NaN, exactly
// the reference's `if (a > m) m = a`; max is order-independent, so the lanes reduce to the same value.

/** Elements [start, end) of an f32 array at `x`; `offset` is subtracted in f32 before |.|. */
export function absmaxOf(x: usize, start: usize, end: usize, offset: f32): f32 {
  const voff = f32x4.splat(offset);
  let m4 = f32x4.splat(0);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const a = f32x4.abs(f32x4.sub(v128.load(x + (i << 2)), voff));
    m4 = f32x4.pmax(m4, a);
  }
  let m: f32 = 0;
  for (let k = 0; k < 4; k++) {
    const a = f32x4.extract_lane(m4, 0);
    if (a > m) m = a;
    m4 = v128.shuffle<u32>(m4, m4, 1, 2, 3, 0);
  }
  for (; i < end; i++) {
    const a = Mathf.abs(load<f32>(x + (i << 2)) - offset);
    if (a > m) m = a;
  }
  return m;
}

/** End of the block starting at `start`: min(n, start + size), without u32 overflow. */
// @ts-ignore: decorator
@inline
export function blockEnd(start: usize, size: usize, n: usize): usize {
  return n - start > size ? start + size : n;
}
