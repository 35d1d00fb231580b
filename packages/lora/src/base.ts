/**
 * The frozen base weight W [N, K] that a LoRA layer adapts, behind one interface: a dense f32
 * weight (DenseBase), a dense bf16/f16 one (Dense16Base, through linalg.matmul_16bit) or a 4-bit
 * NF4/FP4 one, optionally double-quantized (FourBitBase). LoraLinear, DoRA and merging are written
 * once against `BaseWeight`; a new storage (8-bit) is one more implementation of it.
 */
import type { Runtime, Tensor } from '@kvant/abi';

/** How the base weight is stored. */
export type BaseStorage = 'f32' | 'bf16' | 'f16' | 'nf4' | 'fp4';

/** What merging into a base changed: for a 4-bit base, how far the stored weight is from W + ΔW. */
export interface AssignReport {
  /** max |stored - wanted| over the weight (0 for a dense base). */
  readonly maxAbsError: number;
  /** max |stored - wanted| / max |wanted|. */
  readonly relMaxError: number;
  /** ‖stored - wanted‖ / ‖wanted‖ (Frobenius). */
  readonly relNormError: number;
}

/** A frozen linear weight W [N, K] (out_features x in_features, as nn.Linear) on a runtime. */
export interface BaseWeight {
  readonly runtime: Runtime;
  /** N. */
  readonly outFeatures: number;
  /** K. */
  readonly inFeatures: number;
  readonly storage: BaseStorage;
  /** Elements of the weight as it was before any quantization (N·K): what parameter counts use. */
  readonly elementCount: number;
  /** Bytes the weight holds on the runtime (codes, statistics and tables for 4-bit). */
  readonly byteLength: number;
  /** y[M, N] = x[M, K]·Wᵀ + beta·y. */
  forward(x: Tensor, y: Tensor, m: number, beta?: number): void;
  /** dx[M, K] = dy[M, N]·W + beta·dx (the input gradient; W itself never gets a gradient). */
  inputGrad(dy: Tensor, dx: Tensor, m: number, beta?: number): void;
  /** out[N, K] = W as f32 (4-bit: dequantized, 16-bit: widened; bit-identical to what forward multiplies by). */
  dequantizeInto(out: Tensor): void;
  /**
   * Replace W by `dense` [N, K] (an f32 base copies it; a 16-bit base rounds it to bf16/f16; a 4-bit
   * base quantizes it again in its own format, blocksize and double quantization) and say how far
   * the stored weight is from it.
   */
  assign(dense: Tensor): Promise<AssignReport>;
  /** One line for reports: `f32 [N, K]`, `bf16 [N, K]` or `nf4 [N, K] blocksize 64, double quant`. */
  describe(): string;
  /** Release the runtime storage. */
  free(): void;
}

/** Allocate an f32 [N, K] tensor holding W (dequantized). The caller frees it. */
export function denseCopy(base: BaseWeight): Tensor {
  const t = base.runtime.alloc('f32', [base.outFeatures, base.inFeatures]);
  base.dequantizeInto(t);
  return t;
}
