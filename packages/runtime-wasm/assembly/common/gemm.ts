// The blocked f32 GEMM shared by linalg.matmul, linalg.matmul_4bit, linalg.matmul_4bit_dq and
// linalg.matmul_16bit.
//
// C[t] (m x n) = alpha·op(A[t])·op(B[t]) (+ beta·C[t]), every element one sequential sum
// acc = +0, acc = f(acc + f(a·b)) for kk = 0..k-1 in order — the spec's order, so the bits equal the
// reference whatever the tiling or the thread count.
//
// Idea: GotoBLAS-style blocking with the k order kept. The output is cut into units of MB x NB
// (per batch); a part of a threaded dispatch takes a contiguous range of units. Per unit and per
// chunk of KC steps of k: op(A) rows are packed into MR-row tiles (kk-major, MR floats per step),
// op(B) columns into NR-column panels (kk-major, NR floats per step) — for every trans_a/trans_b
// combination and for a 4-bit W dequantized (dequantRange below) or a 16-bit W widened on the fly, so the micro-kernel only
// ever reads contiguous memory. The MR x NR micro-kernel (gemm_micro.ts) keeps its block of C in
// v128 accumulators, vectorized across output columns, never across k; between KC chunks the
// accumulators are parked in an f32 tile and reloaded (an exact round trip), which keeps the
// packed panels in L1/L2. Edge tiles are zero-padded and only valid elements are stored.
//
// Memory: everything writable lives in the caller's 1 MiB `scratch` (GEMM_SCRATCH_BYTES), so
// parts running concurrently over one shared memory never touch each other's data.
import { MR, NR, microKernel } from './gemm_micro';

/** Bytes of scratch one part is given by the threading ABI. */
export const GEMM_SCRATCH_BYTES: usize = 1048576;

/**
 * Bytes of the static scratch of the plain exports `family__name(params, bindings)`. Static data
 * is shared between threads, so only one plain GEMM dispatch may run at a time; threads call the
 * `__part` exports with scratch of their own. (The module is built with one page of initial
 * memory, so static data must stay under 64 KiB: the plain exports use the small blocking below;
 * with 1 MiB here they would run at the full `__part` rate.)
 */
export const SINGLE_THREAD_SCRATCH_BYTES: usize = 40 * 1024;
export const SINGLE_THREAD_SCRATCH: usize = memory.data(i32(SINGLE_THREAD_SCRATCH_BYTES), 16);

// Blocking: MB rows x NB columns of C per unit (multiples of MR and NR), KC steps of k per chunk.
// The large blocking keeps an MB x KC block of A (240 KiB) in L2 and a KC x NR panel of B (16 KiB)
// in L1; the small one fits the plain exports' static scratch.
const LARGE_MB: usize = 120;
const LARGE_NB: usize = 128;
const LARGE_KC: usize = 512;
const SMALL_MB: usize = 24;
const SMALL_NB: usize = 24;
const SMALL_KC: usize = 128;

// Scratch layout (16-aligned offsets): GemmArgs (256 bytes), the 4-bit code planes (64 bytes),
// then A block MB x KC, B panels NB x KC, the 4-bit dequantized tile NB x KC, parked accumulators MB x NB.
const ARGS_OFF: usize = 0;
const PLANES_OFF: usize = 256;
const BLOCKS_OFF: usize = 512;

/** Scratch bytes a blocking needs. */
// @ts-ignore: decorator
@inline
function blockingBytes(mb: usize, nb: usize, kc: usize): usize {
  return BLOCKS_OFF + (mb * kc + 2 * nb * kc + mb * nb) * 4;
}

// @ts-ignore: compile-time check
if (blockingBytes(LARGE_MB, LARGE_NB, LARGE_KC) > GEMM_SCRATCH_BYTES) ERROR('gemm: large blocking exceeds 1 MiB');
// @ts-ignore: compile-time check
if (blockingBytes(SMALL_MB, SMALL_NB, SMALL_KC) > SINGLE_THREAD_SCRATCH_BYTES) ERROR('gemm: small blocking exceeds the static scratch');

/** Where op(B) comes from. */
export const SOURCE_DENSE: u32 = 0;
export const SOURCE_4BIT: u32 = 1;
export const SOURCE_4BIT_DQ: u32 = 2;
/** A bf16/f16 W (linalg.matmul_16bit) widened exactly on the fly (common/half.ts). */
export const SOURCE_16BIT: u32 = 3;

/** One GEMM call, written into the scratch by the kernel entry and read by the driver. */
@unmanaged
export class GemmArgs {
  m: usize;
  n: usize;
  k: usize;
  batch: usize;
  strideA: usize;
  strideB: usize;
  strideC: usize;
  transA: u32;
  transB: u32;
  alpha: f32;
  beta: f32;
  /** alpha is applied (matmul); 4-bit matmul has none (acc is written as is). */
  useAlpha: bool;
  a: usize;
  b: usize;
  c: usize;
  source: u32;
  // 4-bit W (SOURCE_4BIT*): logical [wRows, wCols], flat row-major.
  wCols: usize;
  packed: usize;
  code: usize;
  absmax: usize; // f32 per block (SOURCE_4BIT)
  qabsmax: usize; // u8 per block (SOURCE_4BIT_DQ)
  nestedAbsmax: usize;
  nestedCode: usize;
  blockShift: u32;
  nestedShift: u32;
  offset: f32;
  // 16-bit W (SOURCE_16BIT): `packed` points at the halves, logical [wRows, wCols]; 0 bf16, 1 f16.
  halfFormat: u32;
  // Blocking (chosen from the scratch size, the same for every part of a call).
  mb: usize;
  nb: usize;
  kc: usize;
  aOff: usize;
  bOff: usize;
  tempOff: usize;
  accOff: usize;
}

/** The GemmArgs record at the start of a scratch area. */
// @ts-ignore: decorator
@inline
export function gemmArgs(scratch: usize): GemmArgs {
  return changetype<GemmArgs>(scratch + ARGS_OFF);
}

/** log2 of a power of two. */
// @ts-ignore: decorator
@inline
export function log2(x: u32): u32 {
  return 31 - clz<u32>(x);
}

/** Choose the blocking for `bytes` of scratch (GEMM_SCRATCH_BYTES or SINGLE_THREAD_SCRATCH_BYTES). */
export function gemmBlocking(g: GemmArgs, bytes: usize): void {
  const large = bytes >= blockingBytes(LARGE_MB, LARGE_NB, LARGE_KC);
  g.mb = large ? LARGE_MB : SMALL_MB;
  g.nb = large ? LARGE_NB : SMALL_NB;
  g.kc = large ? LARGE_KC : SMALL_KC;
  g.aOff = BLOCKS_OFF;
  g.bOff = g.aOff + g.mb * g.kc * 4;
  g.tempOff = g.bOff + g.nb * g.kc * 4;
  g.accOff = g.tempOff + g.nb * g.kc * 4;
}

/** Units of output for this call: batch x ceil(m/MB) x ceil(n/NB). */
function unitCount(g: GemmArgs): u64 {
  return u64(g.batch) * u64((g.m + g.mb - 1) / g.mb) * u64((g.n + g.nb - 1) / g.nb);
}

/**
 * Part `part` of `parts` (scratch of `bytes` bytes): units [floor(part·U/parts), floor((part+1)·U/parts)). The ranges of
 * parts 0..parts-1 tile [0, U), so every output element is written by exactly one part.
 */
export function gemmPart(scratch: usize, bytes: usize, part: u32, parts: u32): void {
  const g = gemmArgs(scratch);
  gemmBlocking(g, bytes);
  if (gemvApplies(g)) {
    gemvPart(g, scratch, part, parts);
    return;
  }
  if (parts > 1) balanceUnits(g, parts);
  const units = unitCount(g);
  const u0 = (units * u64(part)) / u64(parts);
  const u1 = (units * u64(part + 1)) / u64(parts);
  const unitsM = u64((g.m + g.mb - 1) / g.mb);
  const unitsN = u64((g.n + g.nb - 1) / g.nb);
  for (let u = u0; u < u1; u++) {
    const t = usize(u / (unitsM * unitsN));
    const rest = u % (unitsM * unitsN);
    const i0 = usize(rest / unitsN) * g.mb;
    const j0 = usize(rest % unitsN) * g.nb;
    gemmUnit(g, scratch, t, i0, j0);
  }
}

// ---------------------------------------------------------------------------------------------
// One output row (m == 1, the decode step of generation) against W rows: a matrix-vector product.
// The blocked path would pad the row to MR = 6 (six times the multiply-adds) and pack all of W on
// every call; here each group of 4 outputs reads 4 rows of W in place, 4 k steps at a time,
// transposes the 4 x 4 block with shuffles so that lane i holds row j + i, and accumulates
// acc = f(acc + f(x_kk * W[j + i, kk])) in k order — the same sum, so the same bits.
// ---------------------------------------------------------------------------------------------

/** m == 1 and op(B)[kk, j] = W[j, kk] (trans_b 1, or a 4-bit/16-bit W in its forward layout) whose 4 rows fit the temp tile. */
function gemvApplies(g: GemmArgs): bool {
  if (g.m != 1 || g.transB != 1) return false;
  return g.source == SOURCE_DENSE || g.k * 4 <= g.nb * g.kc;
}

/** Groups of 4 outputs (over every batch) [floor(part·G/parts), floor((part+1)·G/parts)). */
function gemvPart(g: GemmArgs, scratch: usize, part: u32, parts: u32): void {
  const groups = u64((g.n + 3) >> 2);
  const total = groups * u64(g.batch);
  const u0 = (total * u64(part)) / u64(parts);
  const u1 = (total * u64(part + 1)) / u64(parts);
  const temp = scratch + g.tempOff;
  const planes = scratch + PLANES_OFF;
  const k = g.k;
  for (let u = u0; u < u1; u++) {
    const t = usize(u / groups);
    const j = usize(u % groups) << 2;
    const valid = min(4, g.n - j);
    // The 4 rows (past n: row j again, computed and not stored).
    let r0: usize, r1: usize, r2: usize, r3: usize;
    if (g.source == SOURCE_DENSE) {
      const w = g.b + ((t * g.strideB + j * k) << 2);
      const row = k << 2;
      r0 = w;
      r1 = valid > 1 ? w + row : w;
      r2 = valid > 2 ? w + 2 * row : w;
      r3 = valid > 3 ? w + 3 * row : w;
    } else {
      for (let i: usize = 0; i < valid; i++) weightRange(g, planes, (j + i) * g.wCols, k, temp + ((i * k) << 2));
      r0 = temp;
      r1 = valid > 1 ? temp + (k << 2) : temp;
      r2 = valid > 2 ? temp + (k << 3) : temp;
      r3 = valid > 3 ? temp + 3 * (k << 2) : temp;
    }
    const acc = gemvDot4(g.a + ((t * g.strideA) << 2), r0, r1, r2, r3, k);
    storeRow(g, t, j, valid, acc);
  }
}

/** Lane i: the sequential sum over kk of x[kk]·row_i[kk], from +0. */
function gemvDot4(x: usize, r0: usize, r1: usize, r2: usize, r3: usize, k: usize): v128 {
  let acc = f32x4.splat(0);
  let kk: usize = 0;
  for (; kk + 4 <= k; kk += 4) {
    const o = kk << 2;
    const v0 = v128.load(r0 + o);
    const v1 = v128.load(r1 + o);
    const v2 = v128.load(r2 + o);
    const v3 = v128.load(r3 + o);
    const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
    const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
    const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(x + o), i64x2.shuffle(t0, t1, 0, 2)));
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(x + o, 4), i64x2.shuffle(t0, t1, 1, 3)));
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(x + o, 8), i64x2.shuffle(t2, t3, 0, 2)));
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(x + o, 12), i64x2.shuffle(t2, t3, 1, 3)));
  }
  for (; kk < k; kk++) {
    const o = kk << 2;
    let c = f32x4.splat(load<f32>(r0 + o));
    c = f32x4.replace_lane(c, 1, load<f32>(r1 + o));
    c = f32x4.replace_lane(c, 2, load<f32>(r2 + o));
    c = f32x4.replace_lane(c, 3, load<f32>(r3 + o));
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(x + o), c));
  }
  return acc;
}

/** Outputs j .. j + cols - 1 of row 0 of C[t] from acc, as storeTile writes a tile row. */
function storeRow(g: GemmArgs, t: usize, j: usize, cols: usize, acc: v128): void {
  const dst = g.c + ((t * g.strideC + j) << 2);
  const useBeta = g.beta != 0;
  if (cols == 4) {
    let x = acc;
    if (g.useAlpha) x = f32x4.mul(f32x4.splat(g.alpha), x);
    if (useBeta) x = f32x4.add(x, f32x4.mul(f32x4.splat(g.beta), v128.load(dst)));
    v128.store(dst, x);
    return;
  }
  storeLane(g, dst, f32x4.extract_lane(acc, 0), useBeta);
  if (cols > 1) storeLane(g, dst + 4, f32x4.extract_lane(acc, 1), useBeta);
  if (cols > 2) storeLane(g, dst + 8, f32x4.extract_lane(acc, 2), useBeta);
}

// @ts-ignore: decorator
@inline
function storeLane(g: GemmArgs, dst: usize, acc: f32, useBeta: bool): void {
  let y = acc;
  if (g.useAlpha) y = g.alpha * y;
  if (useBeta) y = y + g.beta * load<f32>(dst);
  store<f32>(dst, y);
}

/**
 * With several parts: spread the rows (and columns) evenly over the row (and column) units, then,
 * when the unit count is not a multiple of `parts`, shrink mb (else nb) until it is, if a smaller
 * blocking allows it. Even units matter as much as their count: with mb = 120, M = 128 is a unit
 * of 120 rows and one of 8, and the part given the 8 rows idled for 94% of the call; spread, they
 * are 66 and 62. (With the fixed blocking, 5 row units over 2 parts also idled one thread for a
 * fifth of the call.) Depends only on the call and `parts`, so every part picks the same
 * blocking; the bits do not depend on the blocking (each element's sum still walks k in order).
 */
function balanceUnits(g: GemmArgs, parts: u32): void {
  const p = u64(parts);
  const tilesM = (g.m + MR - 1) / MR;
  const panelsN = (g.n + NR - 1) / NR;
  // As many units as before (or fewer), each within one MR tile (NR panel) of the others.
  g.mb = evenBlock(tilesM, (g.m + g.mb - 1) / g.mb, MR);
  g.nb = evenBlock(panelsN, (g.n + g.nb - 1) / g.nb, NR);
  const rowUnits = (g.m + g.mb - 1) / g.mb;
  const colUnits = (g.n + g.nb - 1) / g.nb;
  if ((u64(g.batch) * u64(rowUnits) * u64(colUnits)) % p == 0) return;
  // Rows first: r target row units, each of ceil(tilesM / r) MR-row tiles.
  for (let r = rowUnits + 1; r <= tilesM && r <= rowUnits + usize(parts); r++) {
    const mb = evenBlock(tilesM, r, MR);
    const actual = (g.m + mb - 1) / mb;
    if ((u64(g.batch) * u64(actual) * u64(colUnits)) % p == 0) {
      g.mb = mb;
      return;
    }
  }
  for (let c = colUnits + 1; c <= panelsN && c <= colUnits + usize(parts); c++) {
    const nb = evenBlock(panelsN, c, NR);
    const actual = (g.n + nb - 1) / nb;
    if ((u64(g.batch) * u64(rowUnits) * u64(actual)) % p == 0) {
      g.nb = nb;
      return;
    }
  }
}

/** The block width that spreads `tiles` tiles of `width` over `units` units: width · ceil(tiles / units). */
// @ts-ignore: decorator
@inline
function evenBlock(tiles: usize, units: usize, width: usize): usize {
  return width * ((tiles + units - 1) / units);
}

/** One mb x nb unit of C[t] at (i0, j0). */
function gemmUnit(g: GemmArgs, scratch: usize, t: usize, i0: usize, j0: usize): void {
  const mb = min(g.mb, g.m - i0);
  const nb = min(g.nb, g.n - j0);
  const tilesM = (mb + MR - 1) / MR;
  const panels = (nb + NR - 1) / NR;
  const apack = scratch + g.aOff;
  const bpack = scratch + g.bOff;
  const accBuf = scratch + g.accOff;
  const k = g.k;
  const KC = g.kc;
  for (let k0: usize = 0; k0 < k; k0 += KC) {
    const kc = min(KC, k - k0);
    packA(g, t, i0, mb, k0, kc, apack);
    packB(g, scratch, t, j0, nb, k0, kc, bpack);
    const first = k0 == 0;
    const last = k0 + kc >= k;
    for (let jp: usize = 0; jp < panels; jp++) {
      const bp = bpack + jp * kc * NR * 4;
      for (let ip: usize = 0; ip < tilesM; ip++) {
        const tile = accBuf + (jp * tilesM + ip) * (MR * NR * 4);
        microKernel(apack + ip * kc * MR * 4, bp, kc, tile, !first);
        if (last) storeTile(g, t, i0 + ip * MR, min(MR, mb - ip * MR), j0 + jp * NR, min(NR, nb - jp * NR), tile);
      }
    }
  }
}

/**
 * Pack op(A)[i0 .. i0+mb, k0 .. k0+kc) into MR-row tiles: tile r-block, step kk holds MR floats
 * (rows past mb are zero).
 */
function packA(g: GemmArgs, t: usize, i0: usize, mb: usize, k0: usize, kc: usize, dst: usize): void {
  const a = g.a + ((t * g.strideA) << 2);
  const tiles = (mb + MR - 1) / MR;
  for (let ip: usize = 0; ip < tiles; ip++) {
    const d = dst + ip * kc * MR * 4;
    const r0 = i0 + ip * MR;
    const rows = min(MR, mb - ip * MR);
    if (g.transA == 0) {
      // A [m, k]: row i contiguous in k.
      if (MR == 4 && rows == MR) {
        packRowsTo4(a + ((r0 * g.k + k0) << 2), g.k << 2, kc, d);
      } else {
        for (let r: usize = 0; r < MR; r++) {
          if (r < rows) {
            const src = a + (((r0 + r) * g.k + k0) << 2);
            for (let kk: usize = 0; kk < kc; kk++) store<f32>(d + ((kk * MR + r) << 2), load<f32>(src + (kk << 2)));
          } else {
            for (let kk: usize = 0; kk < kc; kk++) store<f32>(d + ((kk * MR + r) << 2), 0);
          }
        }
      }
    } else {
      // A [k, m]: step kk holds rows contiguously.
      const src = a + ((k0 * g.m + r0) << 2);
      const ld = g.m << 2;
      if (MR == 6 && rows == MR) {
        for (let kk: usize = 0; kk < kc; kk++) {
          const s = src + kk * ld;
          const o = d + ((kk * MR) << 2);
          v128.store(o, v128.load(s));
          store<u64>(o, load<u64>(s, 16), 16);
        }
      } else {
        for (let kk: usize = 0; kk < kc; kk++) {
          for (let r: usize = 0; r < MR; r++) store<f32>(d + ((kk * MR + r) << 2), r < rows ? load<f32>(src + kk * ld + (r << 2)) : 0);
        }
      }
    }
  }
}

/**
 * Four rows at `src` (byte stride `ld`), kc values each, interleaved: dst[kk*4 + r] = row r [kk].
 * 4x4 transposes with shuffles, the tail one step at a time. (MR == 4.)
 */
function packRowsTo4(src: usize, ld: usize, kc: usize, dst: usize): void {
  let kk: usize = 0;
  for (; kk + 4 <= kc; kk += 4) {
    const s = src + (kk << 2);
    const r0 = v128.load(s);
    const r1 = v128.load(s + ld);
    const r2 = v128.load(s + 2 * ld);
    const r3 = v128.load(s + 3 * ld);
    const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
    const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
    const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
    const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
    const d = dst + (kk << 4);
    v128.store(d, i64x2.shuffle(t0, t1, 0, 2));
    v128.store(d, i64x2.shuffle(t0, t1, 1, 3), 16);
    v128.store(d, i64x2.shuffle(t2, t3, 0, 2), 32);
    v128.store(d, i64x2.shuffle(t2, t3, 1, 3), 48);
  }
  for (; kk < kc; kk++) {
    const d = dst + (kk << 4);
    store<f32>(d, load<f32>(src + (kk << 2)));
    store<f32>(d, load<f32>(src + ld + (kk << 2)), 4);
    store<f32>(d, load<f32>(src + 2 * ld + (kk << 2)), 8);
    store<f32>(d, load<f32>(src + 3 * ld + (kk << 2)), 12);
  }
}

/**
 * Pack op(B)[k0 .. k0+kc, j0 .. j0+nb) into NR-column panels (panel jp, step kk: NR floats;
 * columns past nb are zero). Dense B is read in place; a 4-bit W is first dequantized into the
 * temp tile in the layout of a dense source.
 */
function packB(g: GemmArgs, scratch: usize, t: usize, j0: usize, nb: usize, k0: usize, kc: usize, dst: usize): void {
  if (g.source == SOURCE_DENSE) {
    const b = g.b + ((t * g.strideB) << 2);
    if (g.transB == 0) packPanelsN(b + ((k0 * g.n + j0) << 2), g.n << 2, kc, nb, dst);
    else packPanelsT(b + ((j0 * g.k + k0) << 2), g.k << 2, kc, nb, dst);
  } else {
    const temp = scratch + g.tempOff;
    const NB = g.nb;
    const KC = g.kc;
    const planes = scratch + PLANES_OFF;
    if (g.transB == 0) {
      // W [k, n] (the input-gradient path): rows k0.. of W, columns j0..j0+nb.
      for (let kk: usize = 0; kk < kc; kk++) weightRange(g, planes, (k0 + kk) * g.wCols + j0, nb, temp + ((kk * NB) << 2));
      packPanelsN(temp, NB << 2, kc, nb, dst);
    } else {
      // W [n, k] (the forward path): rows j0.. of W, columns k0..k0+kc.
      for (let jj: usize = 0; jj < nb; jj++) weightRange(g, planes, (j0 + jj) * g.wCols + k0, kc, temp + ((jj * KC) << 2));
      packPanelsT(temp, KC << 2, kc, nb, dst);
    }
  }
}

/** B stored [k, n] (row kk contiguous in j), byte stride ld between rows. */
function packPanelsN(src: usize, ld: usize, kc: usize, nb: usize, dst: usize): void {
  const panels = (nb + NR - 1) / NR;
  for (let jp: usize = 0; jp < panels; jp++) {
    const d = dst + jp * kc * NR * 4;
    const s = src + ((jp * NR) << 2);
    const cols = min(NR, nb - jp * NR);
    if (cols == NR) {
      for (let kk: usize = 0; kk < kc; kk++) {
        const row = s + kk * ld;
        v128.store(d + ((kk * NR) << 2), v128.load(row));
        v128.store(d + ((kk * NR) << 2), v128.load(row, 16), 16);
      }
    } else {
      for (let kk: usize = 0; kk < kc; kk++) {
        const row = s + kk * ld;
        for (let j: usize = 0; j < NR; j++) store<f32>(d + ((kk * NR + j) << 2), j < cols ? load<f32>(row + (j << 2)) : 0);
      }
    }
  }
}

/** B stored [n, k] (column j of op(B) contiguous in kk), byte stride ld between columns. */
function packPanelsT(src: usize, ld: usize, kc: usize, nb: usize, dst: usize): void {
  const panels = (nb + NR - 1) / NR;
  for (let jp: usize = 0; jp < panels; jp++) {
    const d = dst + jp * kc * NR * 4;
    const s = src + jp * NR * ld;
    const cols = min(NR, nb - jp * NR);
    if (cols == NR) {
      // Two 4x4 transposes per 4 steps: columns 0..3 and 4..7.
      let kk: usize = 0;
      for (; kk + 4 <= kc; kk += 4) {
        const o = s + (kk << 2);
        transpose4(o, ld, d + ((kk * NR) << 2));
        transpose4(o + 4 * ld, ld, d + ((kk * NR) << 2) + 16);
      }
      for (; kk < kc; kk++) {
        for (let j: usize = 0; j < NR; j++) store<f32>(d + ((kk * NR + j) << 2), load<f32>(s + j * ld + (kk << 2)));
      }
    } else {
      for (let kk: usize = 0; kk < kc; kk++) {
        for (let j: usize = 0; j < NR; j++) store<f32>(d + ((kk * NR + j) << 2), j < cols ? load<f32>(s + j * ld + (kk << 2)) : 0);
      }
    }
  }
}

/** 4 columns (byte stride ld) x 4 steps at src -> 4 steps of 4 floats at dst, dst stride NR floats. */
// @ts-ignore: decorator
@inline
function transpose4(src: usize, ld: usize, dst: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + ld);
  const r2 = v128.load(src + 2 * ld);
  const r3 = v128.load(src + 3 * ld);
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(dst + NR * 4, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(dst + NR * 8, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(dst + NR * 12, i64x2.shuffle(t2, t3, 1, 3));
}

/**
 * Write the rows x cols valid part of an MR x NR accumulator tile to C[t] at (i, j):
 * out = alpha·acc (or acc when there is no alpha), then beta == 0 ? out : out + beta·c
 * (C is not read when beta == 0).
 */
function storeTile(g: GemmArgs, t: usize, i: usize, rows: usize, j: usize, cols: usize, tile: usize): void {
  const n = g.n;
  const c = g.c + ((t * g.strideC + i * n + j) << 2);
  const alpha = f32x4.splat(g.alpha);
  const beta = f32x4.splat(g.beta);
  const useAlpha = g.useAlpha;
  const useBeta = g.beta != 0;
  for (let r: usize = 0; r < rows; r++) {
    const row = c + ((r * n) << 2);
    for (let v: usize = 0; v < NR; v += 4) {
      if (v >= cols) break;
      let x = v128.load(tile + ((r * NR + v) << 2));
      if (useAlpha) x = f32x4.mul(alpha, x);
      const dst = row + (v << 2);
      if (cols - v >= 4) {
        if (useBeta) x = f32x4.add(x, f32x4.mul(beta, v128.load(dst)));
        v128.store(dst, x);
      } else {
        for (let l: usize = 0; l < cols - v; l++) {
          let y = load<f32>(tile + ((r * NR + v + l) << 2));
          if (useAlpha) y = g.alpha * y;
          if (useBeta) y = y + g.beta * load<f32>(dst + (l << 2));
          store<f32>(dst + (l << 2), y);
        }
      }
    }
  }
}

/** W's flat elements [e0, e0+count) as f32 at dst: widened (16-bit W) or dequantized (4-bit W). */
// @ts-ignore: decorator
@inline
function weightRange(g: GemmArgs, planes: usize, e0: usize, count: usize, dst: usize): void {
  if (g.source == SOURCE_16BIT) widenRange(g.packed, g.halfFormat, e0, count, dst);
  else dequantRange(g, planes, e0, count, dst);
}

/**
 * Dequantize W's flat elements [e0, e0+count) to f32 at dst: deq = f(code[nib(e)] * absmax_of(e >> blockShift)).
 * 32-aligned runs take the SIMD table lookup (a run of 32 never straddles a block: blocks are
 * powers of two >= 32); the unaligned head and the tail go one element at a time.
 */
function dequantRange(g: GemmArgs, planes: usize, e0: usize, count: usize, dst: usize): void {
  const p0 = v128.load(planes);
  const p1 = v128.load(planes, 16);
  const p2 = v128.load(planes, 32);
  const p3 = v128.load(planes, 48);
  const end = e0 + count;
  let e = e0;
  let d = dst;
  while (e < end && (e & 31) != 0) {
    dequantOne(g, e, d);
    e++;
    d += 4;
  }
  for (; e + 32 <= end; e += 32, d += 128) dequant32(g.packed + (e >> 1), d, p0, p1, p2, p3, f32x4.splat(absmaxOfBlock(g, e >> g.blockShift)));
  for (; e < end; e++, d += 4) dequantOne(g, e, d);
}

// @ts-ignore: decorator
@inline
function absmaxOfBlock(g: GemmArgs, blk: usize): f32 {
  if (g.source == SOURCE_4BIT) return load<f32>(g.absmax + (blk << 2));
  const q = usize(load<u8>(g.qabsmax + blk));
  return load<f32>(g.nestedCode + (q << 2)) * load<f32>(g.nestedAbsmax + ((blk >> g.nestedShift) << 2)) + g.offset;
}

// @ts-ignore: decorator
@inline
function dequantOne(g: GemmArgs, e: usize, d: usize): void {
  const byte = u32(load<u8>(g.packed + (e >> 1)));
  const nib = e & 1 ? byte & 15 : byte >> 4;
  store<f32>(d, load<f32>(g.code + (nib << 2)) * absmaxOfBlock(g, e >> g.blockShift));
}

/** Lay the 4-bit code table out as byte planes in this part's scratch (see four_bit.ts buildPlanes). */
export function gemmPlanes(scratch: usize, code: usize): void {
  const planes = scratch + PLANES_OFF;
  for (let j: usize = 0; j < 16; j++) {
    for (let k: usize = 0; k < 4; k++) store<u8>(planes + (k << 4) + j, load<u8>(code + (j << 2) + k));
  }
}

import { dequant32 } from './four_bit';
import { widenRange } from './half';
