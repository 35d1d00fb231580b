/**
 * A dense f32 base weight: forward and input gradient are `linalg.matmul`
 * (y = x·Wᵀ with trans_b = 1; dx = dy·W with trans_b = 0, k = N).
 */
import { type Runtime, type Tensor, TensorError, upload } from '@kvant/abi';
import type { AssignReport, BaseWeight } from './base';
import { matmul, scale } from './ops';

export class DenseBase implements BaseWeight {
  readonly storage = 'f32' as const;

  private constructor(
    readonly runtime: Runtime,
    /** W [N, K] f32 on the runtime. */
    readonly weight: Tensor,
    readonly outFeatures: number,
    readonly inFeatures: number,
  ) {}

  /** Upload host values W [N, K] (row-major, out_features x in_features). */
  static fromValues(rt: Runtime, values: Float32Array, shape: readonly [number, number]): DenseBase {
    const [n, k] = shape;
    if (!(Number.isInteger(n) && Number.isInteger(k) && n > 0 && k > 0)) throw new TensorError('DenseBase shape', '[out_features, in_features], both positive', `[${shape.join(', ')}]`);
    if (values.length !== n * k) throw new TensorError('DenseBase values', `${n * k} values for [${n}, ${k}]`, `${values.length}`);
    return new DenseBase(rt, upload(rt, 'f32', [n, k], values), n, k);
  }

  /** Wrap a tensor [N, K] f32 already on the runtime (not copied: the base owns it from now on). */
  static fromTensor(weight: Tensor): DenseBase {
    if (weight.dtype !== 'f32' || weight.shape.length !== 2) throw new TensorError('DenseBase.fromTensor', 'an f32 tensor [N, K]', `${weight.dtype} [${weight.shape.join(', ')}]`);
    return new DenseBase(weight.runtime, weight, weight.shape[0], weight.shape[1]);
  }

  /** A dense f32 copy of any base (the export path: a 4-bit base dequantized). */
  static copyOf(base: BaseWeight): DenseBase {
    const t = base.runtime.alloc('f32', [base.outFeatures, base.inFeatures]);
    base.dequantizeInto(t);
    return new DenseBase(base.runtime, t, base.outFeatures, base.inFeatures);
  }

  get elementCount(): number {
    return this.outFeatures * this.inFeatures;
  }

  get byteLength(): number {
    return this.weight.byteLength;
  }

  forward(x: Tensor, y: Tensor, m: number, beta = 0): void {
    matmul(this.runtime, { a: x, b: this.weight, c: y, m, n: this.outFeatures, k: this.inFeatures, transB: true, beta });
  }

  inputGrad(dy: Tensor, dx: Tensor, m: number, beta = 0): void {
    matmul(this.runtime, { a: dy, b: this.weight, c: dx, m, n: this.inFeatures, k: this.outFeatures, beta });
  }

  dequantizeInto(out: Tensor): void {
    scale(this.runtime, 1, this.weight, out, this.elementCount);
  }

  async assign(dense: Tensor): Promise<AssignReport> {
    scale(this.runtime, 1, dense, this.weight, this.elementCount);
    return { maxAbsError: 0, relMaxError: 0, relNormError: 0 };
  }

  describe(): string {
    return `f32 [${this.outFeatures}, ${this.inFeatures}]`;
  }

  free(): void {
    this.runtime.free(this.weight);
  }
}
