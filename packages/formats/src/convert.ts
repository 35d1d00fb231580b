/**
 * Conversions between stored tensors and the f32 kvant computes in. bf16 and f16 use the
 * round-to-nearest-even helpers of @kvant/abi.
 */
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, TensorError } from '@kvant/abi';
import type { SafetensorsTensor } from './safetensors';

/** The dtypes toFloat32 accepts. */
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const;

/**
 * A tensor's values as f32 (a copy for F32, converted for F16/BF16, rounded for F64).
 * Integer tensors are refused with a TensorError: they are codes or ids, not weights.
 */
export function toFloat32(tensor: SafetensorsTensor, where = 'tensor'): Float32Array {
  const { dtype, data } = tensor;
  switch (dtype) {
    case 'F32':
      return Float32Array.from(data as Float32Array);
    case 'F64':
      return Float32Array.from(data as Float64Array);
    case 'BF16': {
      const bits = data as Uint16Array;
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = bf16BitsToF32(bits[i]);
      return out;
    }
    case 'F16': {
      const bits = data as Uint16Array;
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]);
      return out;
    }
    default:
      throw new TensorError(where, `a floating-point tensor (${FLOAT_DTYPES.join(', ')})`, `dtype ${dtype}`);
  }
}

/** bf16 bits of each f32 value (round to nearest even). */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]);
  return out;
}

/** f16 bits of each f32 value (round to nearest even; overflow goes to Inf). */
export function float32ToF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}

/** Store f32 values as `dtype` (F32 as is, BF16 or F16 rounded), ready to write. */
export function fromFloat32(values: Float32Array, dtype: 'F32' | 'BF16' | 'F16', shape: readonly number[]): SafetensorsTensor {
  const data = dtype === 'F32' ? values : dtype === 'BF16' ? float32ToBf16(values) : float32ToF16(values);
  return { dtype, shape, data };
}
