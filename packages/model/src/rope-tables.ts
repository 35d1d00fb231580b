/**
 * The host-side cos/sin tables nn.rope reads, computed as transformers does by @kvant/abi's
 * `ropeInvFreq` and `ropeTables` (next to the nn specs that define them). A caller may pass its own
 * `RopeProvider` (the same signatures), e.g. to test another rule.
 */
import { type Runtime, ropeInvFreq, ropeTables, type Tensor, upload } from '@kvant/abi';
import type { DecoderConfig } from './decoder-config';

/** ropeInvFreq and ropeTables of @kvant/abi, or the caller's replacement with the same signatures. */
export interface RopeProvider {
  invFreq(config: { readonly base: number; readonly dim: number; readonly scaling?: DecoderConfig['ropeScaling'] }): Float32Array;
  tables(invFreq: Float32Array, maxPos: number, attentionScaling?: number): { cos: Float32Array; sin: Float32Array };
}

/** cos/sin [maxPos, D/2] on a runtime, grown (never shrunk) when a batch has larger positions. */
export class RopeTables {
  private inv: Float32Array | undefined;
  cos: Tensor | undefined;
  sin: Tensor | undefined;
  maxPos = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly config: DecoderConfig,
    private readonly provider: RopeProvider = { invFreq: ropeInvFreq, tables: ropeTables },
  ) {}

  /** Make sure the tables cover positions 0..maxPosition; returns the table rows (max_pos). */
  ensure(maxPosition: number): number {
    if (maxPosition < this.maxPos && this.cos) return this.maxPos;
    this.inv ??= this.provider.invFreq({ base: this.config.ropeTheta, dim: this.config.headDim, scaling: this.config.ropeScaling });
    // Grow in powers of two so generation does not rebuild the tables every token.
    let rows = 64;
    while (rows <= maxPosition) rows *= 2;
    const { cos, sin } = this.provider.tables(this.inv, rows);
    this.free();
    this.cos = upload(this.rt, 'f32', [rows, this.config.headDim / 2], cos);
    this.sin = upload(this.rt, 'f32', [rows, this.config.headDim / 2], sin);
    this.maxPos = rows;
    return rows;
  }

  get byteLength(): number {
    return (this.cos?.byteLength ?? 0) + (this.sin?.byteLength ?? 0);
  }

  free(): void {
    if (this.cos) this.rt.free(this.cos);
    if (this.sin) this.rt.free(this.sin);
    this.cos = this.sin = undefined;
    this.maxPos = 0;
  }
}
