// Tiles shared by nn.attention and nn.attention_backward: the mask, packing, and two register-
// blocked micro-kernels that keep the spec's order of every sum.
//
// dotQuad: S[r][c] = f(dot(a_r, b_c) * scale) for 4 rows r of a row-major block `a` [.][lda] and
//   columns c in [c0, c1) (multiples of 8) of a transposed block `bt` [d][ldb]; the dot is
//   +0.0, then f(dot + f(a_r[dd] * b_c[dd])) for dd = 0..d-1 in order — vectorized across 8
//   columns (two f32x4 per row, 8 accumulators), never across dd.
// accQuad / accQuadRescale: C[r][0..dp) (+)= sum over j in [j0, j1) in order of f(w[r][j] * m[j][..])
//   for 4 rows, vectorized across 8 output columns (dd), never across j. accQuad continues the
//   running sums in C (the backward's dq, dk, dv); accQuadRescale computes pv from +0.0 and stores
//   C = f(f(C * alpha_r) + pv) (the forward's online-softmax update).
// A masked (i, j) enters as a weight of +0.0: its product is ±0 and a running sum that starts at
// +0.0 is never -0.0 under round-to-nearest, so adding it changes no bit.

/** Key (and query) tile: the forward's online-softmax tiles start at multiples of 64 (spec). */
export const KT: usize = 64;
/** Queries per tile of the tiled kernels. */
export const QB: usize = 64;

/** The first key query i of row bb attends (the spec's lo: document start, then the window). */
// @ts-ignore: decorator
@inline
export function attentionLo(pos: usize, t: usize, window: u32, bb: usize, i: usize): i32 {
  const P = load<i32>(pos + ((bb * t + i) << 2));
  const ii = i32(i);
  let lo = ii - min(max(P, 0), ii);
  if (window > 0) lo = max(lo, ii - i32(window) + 1);
  return lo;
}

/** d rounded up to a multiple of 8 (the micro-kernels' column step). */
// @ts-ignore: decorator
@inline
export function padD(d: usize): usize {
  return (d + 7) & ~7;
}

/** dst[r][0..dp) = src row r (d values, then +0.0) for r < rows, +0.0 rows up to rowsPad; src rows `stride` floats apart. */
export function packRows(src: usize, stride: usize, rows: usize, d: usize, dst: usize, dp: usize, rowsPad: usize): void {
  for (let r: usize = 0; r < rows; r++) {
    memory.copy(dst + ((r * dp) << 2), src + ((r * stride) << 2), d << 2);
    if (dp > d) memory.fill(dst + ((r * dp + d) << 2), 0, (dp - d) << 2);
  }
  if (rowsPad > rows) memory.fill(dst + ((rows * dp) << 2), 0, ((rowsPad - rows) * dp) << 2);
}

/** dst[dd][r] = src row r [dd] for dd < d, r < rows; +0.0 for rows <= r < ld. */
export function packTransposed(src: usize, stride: usize, rows: usize, d: usize, dst: usize, ld: usize): void {
  for (let r: usize = 0; r < rows; r++) {
    const s = src + ((r * stride) << 2);
    let o = dst + (r << 2);
    for (let dd: usize = 0; dd < d; dd++) {
      store<f32>(o, load<f32>(s + (dd << 2)));
      o += ld << 2;
    }
  }
  if (ld > rows) for (let dd: usize = 0; dd < d; dd++) memory.fill(dst + ((dd * ld + rows) << 2), 0, (ld - rows) << 2);
}

/** 4 rows of a (lda apart) against columns [c0, c1) of bt [d][ldb]: out[r][c] = f(dot * scale), out rows ldo apart. */
export function dotQuad(a: usize, lda: usize, bt: usize, ldb: usize, d: usize, c0: usize, c1: usize, out: usize, ldo: usize, scale: f32): void {
  const ra = lda << 2;
  const rb = ldb << 2;
  const ro = ldo << 2;
  const sc = f32x4.splat(scale);
  for (let c = c0; c < c1; c += 8) {
    let s00 = f32x4.splat(0), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    let pb = bt + (c << 2);
    let pa = a;
    for (let dd: usize = 0; dd < d; dd++) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const x0 = v128.load32_splat(pa);
      s00 = f32x4.add(s00, f32x4.mul(x0, b0));
      s01 = f32x4.add(s01, f32x4.mul(x0, b1));
      const x1 = v128.load32_splat(pa + ra);
      s10 = f32x4.add(s10, f32x4.mul(x1, b0));
      s11 = f32x4.add(s11, f32x4.mul(x1, b1));
      const x2 = v128.load32_splat(pa + 2 * ra);
      s20 = f32x4.add(s20, f32x4.mul(x2, b0));
      s21 = f32x4.add(s21, f32x4.mul(x2, b1));
      const x3 = v128.load32_splat(pa + 3 * ra);
      s30 = f32x4.add(s30, f32x4.mul(x3, b0));
      s31 = f32x4.add(s31, f32x4.mul(x3, b1));
      pb += rb;
      pa += 4;
    }
    const o = out + (c << 2);
    v128.store(o, f32x4.mul(s00, sc));
    v128.store(o, f32x4.mul(s01, sc), 16);
    v128.store(o + ro, f32x4.mul(s10, sc));
    v128.store(o + ro, f32x4.mul(s11, sc), 16);
    v128.store(o + 2 * ro, f32x4.mul(s20, sc));
    v128.store(o + 2 * ro, f32x4.mul(s21, sc), 16);
    v128.store(o + 3 * ro, f32x4.mul(s30, sc));
    v128.store(o + 3 * ro, f32x4.mul(s31, sc), 16);
  }
}

/** C[r][0..dp) += sum over j in [j0, j1) of w[r][j] * m[j][..], for 4 rows (w rows ldw apart, m rows ldm apart, C rows ldc apart). */
export function accQuad(w: usize, ldw: usize, m: usize, ldm: usize, j0: usize, j1: usize, dp: usize, c: usize, ldc: usize): void {
  const rw = ldw << 2;
  const rc = ldc << 2;
  for (let dd: usize = 0; dd < dp; dd += 8) {
    const pc = c + (dd << 2);
    let s00 = v128.load(pc), s01 = v128.load(pc, 16);
    let s10 = v128.load(pc + rc), s11 = v128.load(pc + rc, 16);
    let s20 = v128.load(pc + 2 * rc), s21 = v128.load(pc + 2 * rc, 16);
    let s30 = v128.load(pc + 3 * rc), s31 = v128.load(pc + 3 * rc, 16);
    let pm = m + ((j0 * ldm + dd) << 2);
    let pw = w + (j0 << 2);
    for (let j = j0; j < j1; j++) {
      const m0 = v128.load(pm);
      const m1 = v128.load(pm, 16);
      const x0 = v128.load32_splat(pw);
      s00 = f32x4.add(s00, f32x4.mul(x0, m0));
      s01 = f32x4.add(s01, f32x4.mul(x0, m1));
      const x1 = v128.load32_splat(pw + rw);
      s10 = f32x4.add(s10, f32x4.mul(x1, m0));
      s11 = f32x4.add(s11, f32x4.mul(x1, m1));
      const x2 = v128.load32_splat(pw + 2 * rw);
      s20 = f32x4.add(s20, f32x4.mul(x2, m0));
      s21 = f32x4.add(s21, f32x4.mul(x2, m1));
      const x3 = v128.load32_splat(pw + 3 * rw);
      s30 = f32x4.add(s30, f32x4.mul(x3, m0));
      s31 = f32x4.add(s31, f32x4.mul(x3, m1));
      pm += ldm << 2;
      pw += 4;
    }
    v128.store(pc, s00);
    v128.store(pc, s01, 16);
    v128.store(pc + rc, s10);
    v128.store(pc + rc, s11, 16);
    v128.store(pc + 2 * rc, s20);
    v128.store(pc + 2 * rc, s21, 16);
    v128.store(pc + 3 * rc, s30);
    v128.store(pc + 3 * rc, s31, 16);
  }
}

/** pv = sum over j in [j0, j1) of w[r][j] * m[j][..] from +0.0; C[r][..] = f(f(C * alpha[r]) + pv), for 4 rows. */
export function accQuadRescale(w: usize, ldw: usize, m: usize, ldm: usize, j0: usize, j1: usize, dp: usize, c: usize, ldc: usize, alpha: usize): void {
  const rw = ldw << 2;
  const rc = ldc << 2;
  const al0 = v128.load32_splat(alpha);
  const al1 = v128.load32_splat(alpha + 4);
  const al2 = v128.load32_splat(alpha + 8);
  const al3 = v128.load32_splat(alpha + 12);
  for (let dd: usize = 0; dd < dp; dd += 8) {
    let s00 = f32x4.splat(0), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    let pm = m + ((j0 * ldm + dd) << 2);
    let pw = w + (j0 << 2);
    for (let j = j0; j < j1; j++) {
      const m0 = v128.load(pm);
      const m1 = v128.load(pm, 16);
      const x0 = v128.load32_splat(pw);
      s00 = f32x4.add(s00, f32x4.mul(x0, m0));
      s01 = f32x4.add(s01, f32x4.mul(x0, m1));
      const x1 = v128.load32_splat(pw + rw);
      s10 = f32x4.add(s10, f32x4.mul(x1, m0));
      s11 = f32x4.add(s11, f32x4.mul(x1, m1));
      const x2 = v128.load32_splat(pw + 2 * rw);
      s20 = f32x4.add(s20, f32x4.mul(x2, m0));
      s21 = f32x4.add(s21, f32x4.mul(x2, m1));
      const x3 = v128.load32_splat(pw + 3 * rw);
      s30 = f32x4.add(s30, f32x4.mul(x3, m0));
      s31 = f32x4.add(s31, f32x4.mul(x3, m1));
      pm += ldm << 2;
      pw += 4;
    }
    const pc = c + (dd << 2);
    v128.store(pc, f32x4.add(f32x4.mul(v128.load(pc), al0), s00));
    v128.store(pc, f32x4.add(f32x4.mul(v128.load(pc, 16), al0), s01), 16);
    v128.store(pc + rc, f32x4.add(f32x4.mul(v128.load(pc + rc), al1), s10));
    v128.store(pc + rc, f32x4.add(f32x4.mul(v128.load(pc + rc, 16), al1), s11), 16);
    v128.store(pc + 2 * rc, f32x4.add(f32x4.mul(v128.load(pc + 2 * rc), al2), s20));
    v128.store(pc + 2 * rc, f32x4.add(f32x4.mul(v128.load(pc + 2 * rc, 16), al2), s21), 16);
    v128.store(pc + 3 * rc, f32x4.add(f32x4.mul(v128.load(pc + 3 * rc), al3), s30));
    v128.store(pc + 3 * rc, f32x4.add(f32x4.mul(v128.load(pc + 3 * rc, 16), al3), s31), 16);
  }
}
