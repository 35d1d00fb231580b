// The fixed 256-ary reduction tree of linalg.sum and linalg.sum_squares.
//
// Level 0: p0[c] = sum over x[256c .. min(n, 256c+256)) in order from +0 (of x or of f(x*x));
// level l+1 sums chunks of 256 level-l partials the same way, until one value is left. Partials
// are laid out level after level in `partials`.
// Idea: each chunk's sum is sequential, so the SIMD lanes run over four chunks at once: four
// vectors, one from each chunk, are transposed so that lane c holds chunk c's next element, and
// the adds walk each chunk in order. Leftover chunks (fewer than four, or the short last one) go
// one element at a time.

export const FAN_IN: usize = 256;

/** Sum the chunks of 256 of src[0..len) into dst[0..ceil(len/256)); `square` sums f(x*x). */
export function reduceLevel(src: usize, len: usize, dst: usize, square: bool): void {
  const full = len / FAN_IN;
  let c: usize = 0;
  for (; c + 4 <= full; c += 4) {
    const s0 = src + ((c * FAN_IN) << 2);
    const s1 = s0 + (FAN_IN << 2);
    const s2 = s1 + (FAN_IN << 2);
    const s3 = s2 + (FAN_IN << 2);
    let acc = f32x4.splat(0);
    for (let i: usize = 0; i < FAN_IN; i += 4) {
      const o = i << 2;
      let r0 = v128.load(s0 + o);
      let r1 = v128.load(s1 + o);
      let r2 = v128.load(s2 + o);
      let r3 = v128.load(s3 + o);
      if (square) {
        r0 = f32x4.mul(r0, r0);
        r1 = f32x4.mul(r1, r1);
        r2 = f32x4.mul(r2, r2);
        r3 = f32x4.mul(r3, r3);
      }
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      acc = f32x4.add(acc, i64x2.shuffle(t0, t1, 0, 2));
      acc = f32x4.add(acc, i64x2.shuffle(t0, t1, 1, 3));
      acc = f32x4.add(acc, i64x2.shuffle(t2, t3, 0, 2));
      acc = f32x4.add(acc, i64x2.shuffle(t2, t3, 1, 3));
    }
    v128.store(dst + (c << 2), acc);
  }
  for (; c * FAN_IN < len; c++) {
    const start = c * FAN_IN;
    const end = len - start > FAN_IN ? start + FAN_IN : len;
    let acc: f32 = 0;
    for (let i = start; i < end; i++) {
      const v = load<f32>(src + (i << 2));
      acc += square ? v * v : v;
    }
    store<f32>(dst + (c << 2), acc);
  }
}

/** The total of the tree over x[0..n) (square: of f(x*x)), with the partials written level by level. */
export function treeReduce(x: usize, n: usize, partials: usize, square: bool): f32 {
  let len = (n + FAN_IN - 1) / FAN_IN;
  let base = partials;
  reduceLevel(x, n, base, square);
  while (len > 1) {
    const next = (len + FAN_IN - 1) / FAN_IN;
    reduceLevel(base, len, base + (len << 2), false);
    base += len << 2;
    len = next;
  }
  return load<f32>(base);
}
