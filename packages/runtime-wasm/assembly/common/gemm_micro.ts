// The register-blocked micro-kernel of the GEMM (gemm.ts): an MR x NR block of C in v128
// accumulators, over kc steps of k in order.
// Shapes: ap = MR-row tile of op(A), kk-major (MR floats per step); bp = NR-column panel of op(B),
// kk-major (NR floats per step); acc = MR x NR f32 tile, row-major.
// Math: acc[r][j] = f(acc[r][j] + f(a[kk][r] * b[kk][j])) for kk = 0..kc-1 — one multiply and one
// add per element per step, vectorized across the NR columns (never across k).
// Idea: 6x8 = 12 accumulators. V8 allocates 15 xmm registers, so the two B vectors are not held:
// each row broadcasts its A value (v128.load32_splat, a load-port broadcast) and re-reads the two
// B vectors from L1, which the load ports absorb — 12 multiplies and 12 adds per 18 loads, with
// 12 + broadcast + B + product = 15 registers and no spills. (Measured against 4x8 with B held in
// registers, 4x8 was about 20% slower; 5x8 slower still.)

/** Rows of the register block. */
export const MR: usize = 6;
/** Columns of the register block (NR / 4 vectors). */
export const NR: usize = 8;

/**
 * The 6x8 micro-kernel: acc[r][j] over kc steps of the packed panels, from the tile at `acc`
 * (load) or from +0, stored back to that tile (row-major 6x8).
 */
export function microKernel(ap: usize, bp: usize, kc: usize, acc: usize, load: bool): void {
  let c00 = load ? v128.load(acc, 0) : f32x4.splat(0);
  let c01 = load ? v128.load(acc, 16) : f32x4.splat(0);
  let c10 = load ? v128.load(acc, 32) : f32x4.splat(0);
  let c11 = load ? v128.load(acc, 48) : f32x4.splat(0);
  let c20 = load ? v128.load(acc, 64) : f32x4.splat(0);
  let c21 = load ? v128.load(acc, 80) : f32x4.splat(0);
  let c30 = load ? v128.load(acc, 96) : f32x4.splat(0);
  let c31 = load ? v128.load(acc, 112) : f32x4.splat(0);
  let c40 = load ? v128.load(acc, 128) : f32x4.splat(0);
  let c41 = load ? v128.load(acc, 144) : f32x4.splat(0);
  let c50 = load ? v128.load(acc, 160) : f32x4.splat(0);
  let c51 = load ? v128.load(acc, 176) : f32x4.splat(0);
  for (let kk: usize = 0; kk < kc; kk++) {
    const a00 = v128.load32_splat(ap, 0);
    c00 = f32x4.add(c00, f32x4.mul(a00, v128.load(bp, 0)));
    c01 = f32x4.add(c01, f32x4.mul(a00, v128.load(bp, 16)));
    const a10 = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a10, v128.load(bp, 0)));
    c11 = f32x4.add(c11, f32x4.mul(a10, v128.load(bp, 16)));
    const a20 = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a20, v128.load(bp, 0)));
    c21 = f32x4.add(c21, f32x4.mul(a20, v128.load(bp, 16)));
    const a30 = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a30, v128.load(bp, 0)));
    c31 = f32x4.add(c31, f32x4.mul(a30, v128.load(bp, 16)));
    const a40 = v128.load32_splat(ap, 16);
    c40 = f32x4.add(c40, f32x4.mul(a40, v128.load(bp, 0)));
    c41 = f32x4.add(c41, f32x4.mul(a40, v128.load(bp, 16)));
    const a50 = v128.load32_splat(ap, 20);
    c50 = f32x4.add(c50, f32x4.mul(a50, v128.load(bp, 0)));
    c51 = f32x4.add(c51, f32x4.mul(a50, v128.load(bp, 16)));
    ap += 24;
    bp += 32;
  }
  v128.store(acc, c00, 0);
  v128.store(acc, c01, 16);
  v128.store(acc, c10, 32);
  v128.store(acc, c11, 48);
  v128.store(acc, c20, 64);
  v128.store(acc, c21, 80);
  v128.store(acc, c30, 96);
  v128.store(acc, c31, 112);
  v128.store(acc, c40, 128);
  v128.store(acc, c41, 144);
  v128.store(acc, c50, 160);
  v128.store(acc, c51, 176);
}
