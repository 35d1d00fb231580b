/**
 * bitsandbytes' 8-bit blockwise AdamW (bnb.optim.AdamW8bit, optim_bits=8, block_wise=True): m and v
 * stored as one byte per element — a code of the signed dynamic map for m (qmap1), of the unsigned
 * one for v (qmap2) — with one f32 absmax per block of 256 elements. Each step dequantizes,
 * updates, and requantizes with the new block absmax (one `optim.adamw8bit_step` per tensor).
 *
 * Tensors with fewer than `minEightBitSize` (4096) elements keep 32-bit states and take the f32
 * AdamW step, as bitsandbytes does with `min_8bit_size=4096`. State names follow bitsandbytes:
 * `state1`, `state2` (u8 codes, or f32 for a small tensor), `absmax1`, `absmax2`.
 */
import { ADAMW8BIT_BLOCK, adamw8bitStepParams, adamwStepParams, ConfigError, DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, type Runtime, type Tensor, upload } from '@kvant/abi';
import { ADAMW_DEFAULTS, type AdamWHyper, checkAdamHyper } from './adamw';
import { type StateSpec, Optimizer } from './optimizer';
import type { NamedParam, ParamsInput, ResolvedGroup } from './params';

/** Options of AdamW8bit beyond the per-group hyper-parameters. */
export interface AdamW8bitOptions extends Partial<AdamWHyper> {
  /** Tensors with fewer elements keep 32-bit states (bitsandbytes' min_8bit_size, default 4096). */
  readonly minEightBitSize?: number;
}

/** Default min_8bit_size of bitsandbytes. */
export const MIN_8BIT_SIZE = 4096;

const f = Math.fround;


/** Blocks of 256 for n elements. */
export function blocksOf(n: number): number {
  return Math.ceil(n / ADAMW8BIT_BLOCK);
}

/** bitsandbytes' 8-bit blockwise AdamW over any runtime. */
export class AdamW8bit extends Optimizer<AdamWHyper> {
  readonly kind: string = 'AdamW8bit';
  readonly minEightBitSize: number;
  private readonly codeSigned: Tensor;
  private readonly codeUnsigned: Tensor;

  constructor(runtime: Runtime, params: ParamsInput<AdamWHyper>, options: AdamW8bitOptions = {}) {
    const { minEightBitSize = MIN_8BIT_SIZE, ...hyper } = options;
    super(runtime, params, { ...ADAMW_DEFAULTS, ...hyper }, ['optim.adamw8bit_step', 'optim.adamw_step']);
    if (!Number.isSafeInteger(minEightBitSize) || minEightBitSize < 1) throw new ConfigError('AdamW8bit: minEightBitSize', 'an integer >= 1', String(minEightBitSize));
    this.minEightBitSize = minEightBitSize;
    this.codeSigned = upload(runtime, 'f32', [256], DYNAMIC_MAP_SIGNED);
    this.codeUnsigned = upload(runtime, 'f32', [256], DYNAMIC_MAP_UNSIGNED);
    this.allocStates();
  }

  /** True when this param's states are 8-bit (it has at least minEightBitSize elements). */
  isEightBit(name: string): boolean {
    const p = this.params().find((q) => q.name === name);
    if (!p) throw new ConfigError('AdamW8bit.isEightBit', 'a param name of this optimizer', JSON.stringify(name));
    return this.eightBit(p);
  }

  private eightBit(p: NamedParam): boolean {
    return p.param.size >= this.minEightBitSize;
  }

  protected checkHyper(where: string, h: AdamWHyper): void {
    checkAdamHyper(where, h);
  }

  protected stateLayout(p: NamedParam): StateSpec[] {
    if (!this.eightBit(p)) {
      return [
        { key: 'state1', dtype: 'f32', shape: p.param.shape },
        { key: 'state2', dtype: 'f32', shape: p.param.shape },
      ];
    }
    const blocks = [blocksOf(p.param.size)];
    return [
      { key: 'state1', dtype: 'u8', shape: p.param.shape },
      { key: 'state2', dtype: 'u8', shape: p.param.shape },
      { key: 'absmax1', dtype: 'f32', shape: blocks },
      { key: 'absmax2', dtype: 'f32', shape: blocks },
    ];
  }

  protected override sharedBytes(): number {
    return this.codeSigned.byteLength + this.codeUnsigned.byteLength;
  }

  protected stepGroup(group: ResolvedGroup<AdamWHyper>, t: number): void {
    for (const p of group.params) {
      const n = p.param.size;
      if (n === 0) continue;
      const s = this.states.get(p.name)!;
      if (!this.eightBit(p)) {
        this.runtime.dispatch('optim.adamw_step', { p: p.param, g: p.grad, m: s.get('state1')!, v: s.get('state2')! }, adamwStepParams(n, group.hyper, t));
        continue;
      }
      this.runtime.dispatch(
        'optim.adamw8bit_step',
        {
          p: p.param,
          g: p.grad,
          m_q: s.get('state1')!,
          v_q: s.get('state2')!,
          m_absmax: s.get('absmax1')!,
          v_absmax: s.get('absmax2')!,
          code_signed: this.codeSigned,
          code_unsigned: this.codeUnsigned,
        },
        adamw8bitStepParams(n, group.hyper, t),
      );
    }
  }

  /** The moments of one param as f32 on the host (8-bit states dequantized: code[q]·absmax[block]). */
  async moments(name: string): Promise<{ m: Float32Array; v: Float32Array }> {
    const s = this.stateTensors(name);
    await this.runtime.flush();
    const read = (key: string) => this.runtime.read(s.get(key)!);
    const n = s.get('state1')!.size;
    if (s.get('state1')!.dtype === 'f32') {
      const [m, v] = await Promise.all([read('state1'), read('state2')]);
      return { m: new Float32Array(m.buffer, m.byteOffset, n), v: new Float32Array(v.buffer, v.byteOffset, n) };
    }
    const [q1, q2, a1, a2] = await Promise.all([read('state1'), read('state2'), read('absmax1'), read('absmax2')]);
    return { m: dequantize8bit(q1, new Float32Array(a1.buffer, a1.byteOffset, blocksOf(n)), DYNAMIC_MAP_SIGNED, n), v: dequantize8bit(q2, new Float32Array(a2.buffer, a2.byteOffset, blocksOf(n)), DYNAMIC_MAP_UNSIGNED, n) };
  }

  override dispose(): void {
    if (this.states.size > 0) {
      this.runtime.free(this.codeSigned);
      this.runtime.free(this.codeUnsigned);
    }
    super.dispose();
  }
}

/** Host dequantization of 8-bit states: value[i] = f32(code[q[i]] · absmax[i / 256]), as the kernel reads them. */
export function dequantize8bit(codes: Uint8Array, absmax: Float32Array, code: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(code[codes[i]] * absmax[Math.floor(i / ADAMW8BIT_BLOCK)]);
  return out;
}
