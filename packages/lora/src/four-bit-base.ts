/**
 * A 4-bit base weight (NF4 or FP4 in bitsandbytes' layout, optionally double-quantized), as QLoRA
 * freezes it. Forward and input gradient are `linalg.matmul_4bit` (or `_dq`, which reads the
 * double-quantized absmax directly): W is dequantized tile by tile inside the kernel, so a dense
 * copy never exists during training. `dequantizeInto` is `quant.dequantize_4bit(_dq)`, bit-identical
 * to what the matmul multiplies by; `assign` quantizes again with `quant.nf4_quantize`/`fp4_quantize`.
 */
import { downloadF32, type Runtime, type Tensor, TensorError, upload } from '@kvant/abi';
import { type QuantConfig, type QuantizedFourBit, doubleQuantize, quantize } from '@kvant/quant';
import type { AssignReport, BaseWeight } from './base';

/** The absmax statistics on the runtime: plain f32, or double-quantized. */
type DeviceStats =
  | { readonly kind: 'absmax'; readonly absmax: Tensor }
  | { readonly kind: 'double'; readonly qabsmax: Tensor; readonly nestedAbsmax: Tensor; readonly nestedCode: Tensor; readonly offset: number; readonly nestedBlocksize: number };

export class FourBitBase implements BaseWeight {
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly storage: 'nf4' | 'fp4';
  readonly blocksize: number;
  private packed: Tensor;
  private readonly code: Tensor;
  private stats: DeviceStats;

  private constructor(
    readonly runtime: Runtime,
    q: QuantizedFourBit,
  ) {
    if (q.shape.length !== 2) throw new TensorError('FourBitBase', 'a 2-D weight [out_features, in_features]', `shape [${q.shape.join(', ')}]`);
    [this.outFeatures, this.inFeatures] = q.shape;
    this.storage = q.format;
    this.blocksize = q.blocksize;
    this.packed = upload(runtime, 'u8', [q.packed.length], q.packed);
    this.code = upload(runtime, 'f32', [16], q.code);
    this.stats = FourBitBase.uploadStats(runtime, q);
  }

  private static uploadStats(rt: Runtime, q: QuantizedFourBit): DeviceStats {
    const s = q.stats;
    if (s.kind === 'absmax') return { kind: 'absmax', absmax: upload(rt, 'f32', [s.absmax.length], s.absmax) };
    return {
      kind: 'double',
      qabsmax: upload(rt, 'u8', [s.qabsmax.length], s.qabsmax),
      nestedAbsmax: upload(rt, 'f32', [s.nestedAbsmax.length], s.nestedAbsmax),
      nestedCode: upload(rt, 'f32', [s.nestedCode.length], s.nestedCode),
      offset: s.offset,
      nestedBlocksize: s.nestedBlocksize,
    };
  }

  /** Upload a tensor quantized by @kvant/quant (or read from bitsandbytes' safetensors keys with fromBnbTensors). */
  static fromQuantized(rt: Runtime, q: QuantizedFourBit): FourBitBase {
    return new FourBitBase(rt, q);
  }

  /** Quantize host values W [N, K] with @kvant/quant (default NF4, blocksize 64) and upload them. */
  static async quantize(rt: Runtime, values: Float32Array, shape: readonly [number, number], config: QuantConfig = {}): Promise<FourBitBase> {
    const q = await quantize(rt, values, shape, { quantType: 'nf4', ...config });
    if (q.format === 'linear') throw new TensorError('FourBitBase.quantize', 'quantType nf4 or fp4', 'linear');
    return new FourBitBase(rt, q);
  }

  get doubleQuant(): boolean {
    return this.stats.kind === 'double';
  }

  get elementCount(): number {
    return this.outFeatures * this.inFeatures;
  }

  get byteLength(): number {
    const s = this.stats;
    const stats = s.kind === 'absmax' ? s.absmax.byteLength : s.qabsmax.byteLength + s.nestedAbsmax.byteLength + s.nestedCode.byteLength;
    return this.packed.byteLength + this.code.byteLength + stats;
  }

  private matmul(x: Tensor, y: Tensor, m: number, trans: 0 | 1, beta: number): void {
    const params = { m, n: this.outFeatures, k: this.inFeatures, trans, beta, blocksize: this.blocksize };
    const s = this.stats;
    if (s.kind === 'absmax') {
      this.runtime.dispatch('linalg.matmul_4bit', { x, packed: this.packed, absmax: s.absmax, code: this.code, y }, params);
    } else {
      this.runtime.dispatch(
        'linalg.matmul_4bit_dq',
        { x, packed: this.packed, qabsmax: s.qabsmax, nested_absmax: s.nestedAbsmax, nested_code: s.nestedCode, code: this.code, y },
        { ...params, nested_blocksize: s.nestedBlocksize, offset: s.offset },
      );
    }
  }

  forward(x: Tensor, y: Tensor, m: number, beta = 0): void {
    this.matmul(x, y, m, 0, beta);
  }

  inputGrad(dy: Tensor, dx: Tensor, m: number, beta = 0): void {
    this.matmul(dy, dx, m, 1, beta);
  }

  dequantizeInto(out: Tensor): void {
    const n = this.elementCount;
    const s = this.stats;
    if (s.kind === 'absmax') {
      this.runtime.dispatch('quant.dequantize_4bit', { packed: this.packed, absmax: s.absmax, code: this.code, out }, { n, blocksize: this.blocksize });
    } else {
      this.runtime.dispatch(
        'quant.dequantize_4bit_dq',
        { packed: this.packed, qabsmax: s.qabsmax, nested_absmax: s.nestedAbsmax, nested_code: s.nestedCode, code: this.code, out },
        { n, blocksize: this.blocksize, nested_blocksize: s.nestedBlocksize, offset: s.offset },
      );
    }
  }

  /**
   * Quantize `dense` again in this weight's format. The codes and absmax are computed on the runtime;
   * with double quantization the absmax (one value per block) is read back and quantized by
   * @kvant/quant's doubleQuantize, whose offset is a host mean. The report reads the wanted and the
   * stored weight back to measure the rounding (merging is not a training-step operation).
   */
  async assign(dense: Tensor): Promise<AssignReport> {
    const rt = this.runtime;
    const n = this.elementCount;
    const blocks = Math.ceil(n / this.blocksize);
    const packed = rt.alloc('u8', [Math.ceil(n / 2)]);
    const absmax = rt.alloc('f32', [blocks]);
    rt.dispatch(`quant.${this.storage}_quantize`, { x: dense, packed, absmax }, { n, blocksize: this.blocksize });
    const old = { packed: this.packed, stats: this.stats };
    this.packed = packed;
    if (this.stats.kind === 'absmax') {
      this.stats = { kind: 'absmax', absmax };
    } else {
      const s = await doubleQuantize(rt, await downloadF32(absmax));
      rt.free(absmax);
      if (s.kind !== 'double') throw new Error('internal: doubleQuantize returned plain absmax');
      this.stats = {
        kind: 'double',
        qabsmax: upload(rt, 'u8', [s.qabsmax.length], s.qabsmax),
        nestedAbsmax: upload(rt, 'f32', [s.nestedAbsmax.length], s.nestedAbsmax),
        nestedCode: upload(rt, 'f32', [s.nestedCode.length], s.nestedCode),
        offset: s.offset,
        nestedBlocksize: s.nestedBlocksize,
      };
    }
    rt.free(old.packed);
    freeStats(rt, old.stats);
    const stored = rt.alloc('f32', [this.outFeatures, this.inFeatures]);
    this.dequantizeInto(stored);
    const [want, got] = [await downloadF32(dense), await downloadF32(stored)];
    rt.free(stored);
    return compareWeights(want, got);
  }

  /** Read the weight back in @kvant/quant's layout (for bitsandbytes safetensors with toBnbTensors). */
  async toQuantized(): Promise<QuantizedFourBit> {
    const read = async (t: Tensor, count: number) => new Uint8Array(await this.runtime.read(t)).slice(0, count);
    const n = this.elementCount;
    const blocks = Math.ceil(n / this.blocksize);
    const s = this.stats;
    const stats: QuantizedFourBit['stats'] =
      s.kind === 'absmax'
        ? { kind: 'absmax', absmax: (await downloadF32(s.absmax)).slice() }
        : {
            kind: 'double',
            qabsmax: await read(s.qabsmax, blocks),
            nestedAbsmax: (await downloadF32(s.nestedAbsmax)).slice(),
            nestedCode: (await downloadF32(s.nestedCode)).slice(),
            offset: s.offset,
            nestedBlocksize: s.nestedBlocksize,
          };
    return {
      format: this.storage,
      shape: [this.outFeatures, this.inFeatures],
      dtype: 'float32',
      blocksize: this.blocksize,
      packed: await read(this.packed, Math.ceil(n / 2)),
      code: (await downloadF32(this.code)).slice(),
      stats,
    };
  }

  describe(): string {
    return `${this.storage} [${this.outFeatures}, ${this.inFeatures}] blocksize ${this.blocksize}${this.doubleQuant ? ', double quant' : ''}`;
  }

  free(): void {
    this.runtime.free(this.packed);
    this.runtime.free(this.code);
    freeStats(this.runtime, this.stats);
  }
}

function freeStats(rt: Runtime, s: DeviceStats): void {
  if (s.kind === 'absmax') rt.free(s.absmax);
  else {
    rt.free(s.qabsmax);
    rt.free(s.nestedAbsmax);
    rt.free(s.nestedCode);
  }
}

/** How far `got` is from `want`: max abs, max abs relative to max |want|, and relative Frobenius norm. */
export function compareWeights(want: Float32Array, got: Float32Array): AssignReport {
  let maxAbs = 0;
  let maxWant = 0;
  let errSq = 0;
  let wantSq = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (e > maxAbs) maxAbs = e;
    const w = Math.abs(want[i]);
    if (w > maxWant) maxWant = w;
    errSq += e * e;
    wantSq += w * w;
  }
  return { maxAbsError: maxAbs, relMaxError: maxWant > 0 ? maxAbs / maxWant : 0, relNormError: wantSq > 0 ? Math.sqrt(errSq / wantSq) : 0 };
}
