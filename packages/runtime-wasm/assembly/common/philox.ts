// Philox 4x32-10 (Salmon et al., SC'11; Random123's philox4x32_10), as linalg.dropout specifies.
// Round: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2 (full 64-bit products);
// c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0); the key is bumped by (W0, W1) before rounds 2..10.
// Idea: four counters at once in u32x4 lanes; the 32x32 -> 64-bit products are
// i64x2.extmul_low/high_i32x4_u, whose halves are shuffled back into lo and hi words.

const M0: u32 = 0xd2511f53;
const M1: u32 = 0xcd9e8d57;
const W0: u32 = 0x9e3779b9;
const W1: u32 = 0xbb67ae85;

/** lo and hi words of the lane-wise 64-bit products a * m (u32 lanes). */
// @ts-ignore: decorator
@inline
function mulLo(a: v128, m: v128): v128 {
  return i32x4.mul(a, m);
}

// @ts-ignore: decorator
@inline
function mulHi(a: v128, m: v128): v128 {
  const lo = i64x2.extmul_low_i32x4_u(a, m);
  const hi = i64x2.extmul_high_i32x4_u(a, m);
  return i32x4.shuffle(lo, hi, 1, 3, 5, 7);
}

/**
 * Four Philox draws: counters (c0[l], c1, c2, c3) per lane l with one key; the four output words
 * are returned through `out` (16 bytes each: word w of lanes 0..3 at out + 16w).
 */
// @ts-ignore: decorator
@inline
export function philox4(c0in: v128, c1in: v128, c2in: v128, c3in: v128, k0in: u32, k1in: u32, out: usize): void {
  let c0 = c0in;
  let c1 = c1in;
  let c2 = c2in;
  let c3 = c3in;
  let k0 = k0in;
  let k1 = k1in;
  const m0 = i32x4.splat(M0);
  const m1 = i32x4.splat(M1);
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += W0;
      k1 += W1;
    }
    const hi0 = mulHi(c0, m0);
    const lo0 = mulLo(c0, m0);
    const hi1 = mulHi(c2, m1);
    const lo1 = mulLo(c2, m1);
    c0 = v128.xor(v128.xor(hi1, c1), i32x4.splat(k0));
    c1 = lo1;
    c2 = v128.xor(v128.xor(hi0, c3), i32x4.splat(k1));
    c3 = lo0;
  }
  v128.store(out, c0);
  v128.store(out, c1, 16);
  v128.store(out, c2, 32);
  v128.store(out, c3, 48);
}
