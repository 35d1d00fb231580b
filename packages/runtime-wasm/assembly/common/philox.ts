// Philox 4x32-10 (Salmon et al., SC'11; Random123's philox4x32_10), as linalg.dropout specifies.
// Round: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2 (full 64-bit products);
// c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0); the key is bumped by (W0, W1) before rounds 2..10.
// Idea: four counters at once in u32x4 lanes; the 32x32 -> 64-bit products are
// i64x2.extmul_low/high_i32x4_u, whose halves are shuffled back into lo and hi words (no
// i32x4.mul for lo: on x64 that is a second, slower multiply). philox8
// runs two such counter sets through the rounds side by side: one set's rounds are a chain of
// dependent multiplies (~100 cycles for ten), and V8 keeps the source order, so a second
// independent chain interleaved with it fills the time the first one waits. The key schedule is
// shared.

const M0: u32 = 0xd2511f53;
const M1: u32 = 0xcd9e8d57;
const W0: u32 = 0x9e3779b9;
const W1: u32 = 0xbb67ae85;

// The 64-bit products of lanes 0, 1 (pl) and 2, 3 (ph); their high words are the round's hi,
// their low words its lo (the same bits as i32x4.mul, without a second multiply).
// @ts-ignore: decorator
@inline
function hiWords(pl: v128, ph: v128): v128 {
  return i32x4.shuffle(pl, ph, 1, 3, 5, 7);
}

// @ts-ignore: decorator
@inline
function loWords(pl: v128, ph: v128): v128 {
  return i32x4.shuffle(pl, ph, 0, 2, 4, 6);
}

/**
 * Eight Philox draws: counters (a0[l], c1, c2, c3) and (b0[l], c1, c2, c3) per lane l with one
 * key. The output words go to `out` (16 bytes each): word w of the a set at out + 16w, of the b
 * set at out + 64 + 16w.
 */
// @ts-ignore: decorator
@inline
export function philox8(a0in: v128, b0in: v128, c1in: v128, c2in: v128, c3in: v128, k0in: u32, k1in: u32, out: usize): void {
  let a0 = a0in, a1 = c1in, a2 = c2in, a3 = c3in;
  let b0 = b0in, b1 = c1in, b2 = c2in, b3 = c3in;
  let k0 = k0in;
  let k1 = k1in;
  const m0 = i32x4.splat(M0);
  const m1 = i32x4.splat(M1);
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += W0;
      k1 += W1;
    }
    const vk0 = i32x4.splat(k0);
    const vk1 = i32x4.splat(k1);
    const ap0 = i64x2.extmul_low_i32x4_u(a0, m0);
    const bp0 = i64x2.extmul_low_i32x4_u(b0, m0);
    const aq0 = i64x2.extmul_high_i32x4_u(a0, m0);
    const bq0 = i64x2.extmul_high_i32x4_u(b0, m0);
    const ap1 = i64x2.extmul_low_i32x4_u(a2, m1);
    const bp1 = i64x2.extmul_low_i32x4_u(b2, m1);
    const aq1 = i64x2.extmul_high_i32x4_u(a2, m1);
    const bq1 = i64x2.extmul_high_i32x4_u(b2, m1);
    const ahi0 = hiWords(ap0, aq0);
    const bhi0 = hiWords(bp0, bq0);
    const ahi1 = hiWords(ap1, aq1);
    const bhi1 = hiWords(bp1, bq1);
    const alo0 = loWords(ap0, aq0);
    const blo0 = loWords(bp0, bq0);
    const alo1 = loWords(ap1, aq1);
    const blo1 = loWords(bp1, bq1);
    a0 = v128.xor(v128.xor(ahi1, a1), vk0);
    b0 = v128.xor(v128.xor(bhi1, b1), vk0);
    a1 = alo1;
    b1 = blo1;
    a2 = v128.xor(v128.xor(ahi0, a3), vk1);
    b2 = v128.xor(v128.xor(bhi0, b3), vk1);
    a3 = alo0;
    b3 = blo0;
  }
  v128.store(out, a0);
  v128.store(out, a1, 16);
  v128.store(out, a2, 32);
  v128.store(out, a3, 48);
  v128.store(out, b0, 64);
  v128.store(out, b1, 80);
  v128.store(out, b2, 96);
  v128.store(out, b3, 112);
}
