/**
 * Quantization configs. `QuantConfig` is kvant's own; `BitsAndBytesConfig` mirrors the fields
 * transformers writes into `config.json` as `quantization_config`, with the same defaults.
 */
import { ConfigError } from '@kvant/abi';
import { PyFloat } from './pyjson';

export type QuantType = 'nf4' | 'fp4' | 'linear';
export type FloatDType = 'float32' | 'float16' | 'bfloat16';

export interface QuantConfig {
  /** nf4 / fp4: blockwise 4-bit as bitsandbytes; linear: affine n-bit per tensor or per group. Default nf4. */
  readonly quantType?: QuantType;
  /** 4-bit: elements per absmax block, a power of two in [32, 4096]. Default 64 (bitsandbytes' default). */
  readonly blocksize?: number;
  /** 4-bit: quantize the absmax statistics again (8-bit, nested blocksize 256). Default false. */
  readonly doubleQuant?: boolean;
  /** Dtype the weights are dequantized to for compute (recorded; kvant computes in f32). Default float32. */
  readonly computeDtype?: FloatDType;
  /** linear: bits per code, 2 to 8. Default 8. */
  readonly bits?: number;
  /** linear: elements per group (32 to 4096); omit for one scale per tensor. */
  readonly group?: number;
  /** linear: symmetric (absmax, zero point 0) or asymmetric (min/max). Default true. */
  readonly symmetric?: boolean;
}

export interface ResolvedQuantConfig {
  readonly quantType: QuantType;
  readonly blocksize: number;
  readonly doubleQuant: boolean;
  readonly computeDtype: FloatDType;
  readonly bits: number;
  readonly group: number | undefined;
  readonly symmetric: boolean;
}

/** Nested blocksize of double quantization (fixed by bitsandbytes). */
export const NESTED_BLOCKSIZE = 256;
export const DEFAULT_BLOCKSIZE = 64;

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Fill defaults and check every field, with errors that name the field. */
export function resolveQuantConfig(c: QuantConfig = {}): ResolvedQuantConfig {
  const quantType = c.quantType ?? 'nf4';
  if (!['nf4', 'fp4', 'linear'].includes(quantType)) throw new ConfigError('quantType', 'nf4, fp4 or linear', JSON.stringify(quantType));
  const blocksize = c.blocksize ?? DEFAULT_BLOCKSIZE;
  if (!(isPow2(blocksize) && blocksize >= 32 && blocksize <= 4096)) {
    throw new ConfigError('blocksize', 'a power of two in [32, 4096]', String(blocksize));
  }
  const bits = c.bits ?? 8;
  if (!(Number.isInteger(bits) && bits >= 2 && bits <= 8)) throw new ConfigError('bits', 'an integer in [2, 8]', String(bits));
  if (c.group !== undefined && !(Number.isInteger(c.group) && c.group >= 32 && c.group <= 4096)) {
    throw new ConfigError('group', 'an integer in [32, 4096] (omit for one scale per tensor)', String(c.group));
  }
  const computeDtype = c.computeDtype ?? 'float32';
  if (!['float32', 'float16', 'bfloat16'].includes(computeDtype)) {
    throw new ConfigError('computeDtype', 'float32, float16 or bfloat16', JSON.stringify(computeDtype));
  }
  if (c.doubleQuant && quantType === 'linear') throw new ConfigError('doubleQuant', 'false with quantType linear', 'true');
  return { quantType, blocksize, doubleQuant: c.doubleQuant ?? false, computeDtype, bits, group: c.group, symmetric: c.symmetric ?? true };
}

/** transformers' `BitsAndBytesConfig` as written into config.json (4-bit fields). */
export interface BitsAndBytesConfig {
  quant_method: 'bitsandbytes';
  load_in_4bit: boolean;
  load_in_8bit: boolean;
  bnb_4bit_quant_type: 'nf4' | 'fp4';
  bnb_4bit_use_double_quant: boolean;
  bnb_4bit_compute_dtype: FloatDType;
  bnb_4bit_quant_storage: 'uint8';
  /** Written as a float (6.0): transformers rejects an integer here. */
  llm_int8_threshold: PyFloat;
  llm_int8_skip_modules: string[] | null;
  llm_int8_enable_fp32_cpu_offload: boolean;
  llm_int8_has_fp16_weight: boolean;
}

/** The `quantization_config` transformers expects for a 4-bit kvant config. */
export function toBitsAndBytesConfig(c: ResolvedQuantConfig): BitsAndBytesConfig {
  if (c.quantType === 'linear') throw new ConfigError('quantType', 'nf4 or fp4 for a bitsandbytes config', 'linear');
  return {
    quant_method: 'bitsandbytes',
    load_in_4bit: true,
    load_in_8bit: false,
    bnb_4bit_quant_type: c.quantType,
    bnb_4bit_use_double_quant: c.doubleQuant,
    bnb_4bit_compute_dtype: c.computeDtype,
    bnb_4bit_quant_storage: 'uint8',
    llm_int8_threshold: new PyFloat(6.0),
    llm_int8_skip_modules: null,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
  };
}

/** kvant config from a `quantization_config` object (BitsAndBytesConfig defaults: fp4, no double quant). */
export function fromBitsAndBytesConfig(q: Record<string, unknown>): ResolvedQuantConfig {
  if (q.load_in_4bit !== true) throw new ConfigError('quantization_config.load_in_4bit', 'true (only 4-bit is supported)', String(q.load_in_4bit));
  return resolveQuantConfig({
    quantType: (q.bnb_4bit_quant_type as QuantType | undefined) ?? 'fp4',
    doubleQuant: (q.bnb_4bit_use_double_quant as boolean | undefined) ?? false,
    computeDtype: (q.bnb_4bit_compute_dtype as FloatDType | undefined) ?? 'float32',
  });
}
