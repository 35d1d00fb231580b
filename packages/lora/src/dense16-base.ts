/**
 * A dense base weight stored in 16 bits, bf16 or f16: half the bytes of an f32 DenseBase. Forward
 * and input gradient are `linalg.matmul_16bit`, which widens W to f32 exactly tile by tile and then
 * does linalg.matmul's f32 arithmetic in linalg.matmul's order, so a layer over a 16-bit base gives
 * the same bits as a layer over an f32 DenseBase holding the widened values. `dequantizeInto` is
 * `quant.dequantize_16bit` (those widened values). `assign` (merging) rounds the new weight to the
 * format, nearest even, and reports how far the stored weight is from it, as a 4-bit merge does.
 *
 * On the runtime W is a u32 tensor of ceil(N·K / 2) words, two halves per word, element e in bits
 * 16·(e % 2)… of word e / 2 (a little-endian u16 array), the layout the kernels bind.
 */
import { f32ToBf16Bits, f32ToF16Bits, HALF_FORMAT, type HalfFormat, type Runtime, type Tensor, TensorError, downloadF32, upload } from '@kvant/abi';
import type { AssignReport, BaseWeight } from './base';
import { compareWeights } from './four-bit-base';

const ROUND: Record<HalfFormat, (x: number) => number> = { bf16: f32ToBf16Bits, f16: f32ToF16Bits };

function checkShape(where: string, shape: readonly [number, number], count: number): void {
  const [n, k] = shape;
  if (!(Number.isInteger(n) && Number.isInteger(k) && n > 0 && k > 0)) throw new TensorError(where, '[out_features, in_features], both positive', `[${shape.join(', ')}]`);
  if (count !== n * k) throw new TensorError(where, `${n * k} values for [${n}, ${k}]`, `${count}`);
}

/** The halves padded to whole u32 words (an odd count leaves the high half of the last word 0). */
function asWords(bits: Uint16Array): Uint32Array {
  const padded = new Uint16Array(2 * Math.ceil(bits.length / 2));
  padded.set(bits);
  return new Uint32Array(padded.buffer);
}

export class Dense16Base implements BaseWeight {
  private constructor(
    readonly runtime: Runtime,
    /** W as u32 words holding the halves (see the file header). */
    readonly weight: Tensor,
    readonly outFeatures: number,
    readonly inFeatures: number,
    readonly storage: HalfFormat,
  ) {}

  /** Upload W [N, K] given as its bf16/f16 bit patterns, as stored (no rounding: a bf16 checkpoint's bits). */
  static fromBits(rt: Runtime, bits: Uint16Array, shape: readonly [number, number], format: HalfFormat): Dense16Base {
    if (!(format in HALF_FORMAT)) throw new TensorError('Dense16Base format', 'bf16 or f16', JSON.stringify(format));
    checkShape('Dense16Base bits', shape, bits.length);
    const words = asWords(bits);
    return new Dense16Base(rt, upload(rt, 'u32', [words.length], words), shape[0], shape[1], format);
  }

  /** Round f32 values W [N, K] to the format (nearest even; f16 overflows to ±inf) and upload them. */
  static fromValues(rt: Runtime, values: Float32Array, shape: readonly [number, number], format: HalfFormat): Dense16Base {
    if (!(format in HALF_FORMAT)) throw new TensorError('Dense16Base format', 'bf16 or f16', JSON.stringify(format));
    checkShape('Dense16Base values', shape, values.length);
    return Dense16Base.fromBits(rt, roundTo(values, format), shape, format);
  }

  get elementCount(): number {
    return this.outFeatures * this.inFeatures;
  }

  get byteLength(): number {
    return this.weight.byteLength;
  }

  private matmul(x: Tensor, y: Tensor, m: number, trans: 0 | 1, beta: number): void {
    this.runtime.dispatch('linalg.matmul_16bit', { x, w: this.weight, y }, { m, n: this.outFeatures, k: this.inFeatures, trans, beta, format: HALF_FORMAT[this.storage] });
  }

  forward(x: Tensor, y: Tensor, m: number, beta = 0): void {
    this.matmul(x, y, m, 0, beta);
  }

  inputGrad(dy: Tensor, dx: Tensor, m: number, beta = 0): void {
    this.matmul(dy, dx, m, 1, beta);
  }

  dequantizeInto(out: Tensor): void {
    this.runtime.dispatch('quant.dequantize_16bit', { w: this.weight, out }, { n: this.elementCount, format: HALF_FORMAT[this.storage] });
  }

  /**
   * Store `dense` [N, K] rounded to this format (nearest even, on the host: merging is not a
   * training-step operation) and report the rounding: max |stored − dense| and its share of max |dense|.
   */
  async assign(dense: Tensor): Promise<AssignReport> {
    const want = await downloadF32(dense);
    if (want.length !== this.elementCount) throw new TensorError('Dense16Base.assign', `${this.elementCount} values`, `${want.length}`);
    const bits = roundTo(want, this.storage);
    this.runtime.write(this.weight, asWords(bits));
    const stored = this.runtime.alloc('f32', [this.outFeatures, this.inFeatures]);
    this.dequantizeInto(stored);
    const got = await downloadF32(stored);
    this.runtime.free(stored);
    return compareWeights(want, got);
  }

  /** Read W back as its N·K bit patterns. */
  async toBits(): Promise<Uint16Array> {
    const bytes = await this.runtime.read(this.weight);
    return new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 2 * this.elementCount));
  }

  describe(): string {
    return `${this.storage} [${this.outFeatures}, ${this.inFeatures}]`;
  }

  free(): void {
    this.runtime.free(this.weight);
  }
}

/** bf16/f16 bits of f32 values, round to nearest even. */
export function roundTo(values: Float32Array, format: HalfFormat): Uint16Array {
  const round = ROUND[format];
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = round(values[i]);
  return out;
}
