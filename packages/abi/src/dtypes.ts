/**
 * Element dtypes. Every buffer is a byte buffer padded to 4 bytes (WGSL has no 8- or 16-bit
 * storage); 8- and 16-bit elements are addressed through little-endian 32-bit words.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'u8' | 'i8' | 'u32' | 'i32';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'u8', 'i8', 'u32', 'i32'];

/** Bytes per element. */
export const DTYPE_BYTES: Record<DType, number> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  u8: 1,
  i8: 1,
  u32: 4,
  i32: 4,
};

/** The typed array a dtype reads back as (f16 and bf16 come back as their raw u16 bits). */
export type TypedArrayFor<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'f16' | 'bf16'
    ? Uint16Array
    : D extends 'u8'
      ? Uint8Array
      : D extends 'i8'
        ? Int8Array
        : D extends 'u32'
          ? Uint32Array
          : Int32Array;

export type AnyTypedArray = Float32Array | Uint16Array | Uint8Array | Int8Array | Uint32Array | Int32Array;

/** Round a byte count up to the 4-byte word size every runtime allocates in. */
export function padTo4(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}

/** Byte length of `count` elements of `dtype`, padded to 4 bytes. */
export function byteLengthOf(dtype: DType, count: number): number {
  return padTo4(DTYPE_BYTES[dtype] * count);
}

/** A typed array of `dtype` viewing `bytes` (which must be aligned for that dtype). */
export function viewAs(dtype: DType, bytes: Uint8Array, count?: number): AnyTypedArray {
  const n = count ?? Math.floor(bytes.byteLength / DTYPE_BYTES[dtype]);
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer, byteOffset, n);
    case 'f16':
    case 'bf16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'u8':
      return new Uint8Array(buffer, byteOffset, n);
    case 'i8':
      return new Int8Array(buffer, byteOffset, n);
    case 'u32':
      return new Uint32Array(buffer, byteOffset, n);
    case 'i32':
      return new Int32Array(buffer, byteOffset, n);
  }
}

/** The dtype a typed array holds (Uint16Array is reported as f16 bits). */
export function dtypeOfArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Uint16Array) return 'f16';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Uint32Array) return 'u32';
  return 'i32';
}

/** The bytes of a typed array (a view, not a copy). */
export function bytesOf(a: AnyTypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Round a JS number to the nearest f32. */
export const f32 = Math.fround;

/** bf16 bits of an f32 value, round-to-nearest-even (NaN stays a quiet NaN). */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  const rounded = u + 0x7fff + ((u >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** f32 value of bf16 bits. */
export function bf16BitsToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** f16 bits of an f32 value, round-to-nearest-even, with subnormals, Inf and NaN. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** f32 value of f16 bits. */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
