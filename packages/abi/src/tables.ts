/**
 * Code tables of the 4-bit and 8-bit formats (facts from bitsandbytes, see
 * docs/formats.md, "The 4-bit codes"). Kernels in every language embed the same
 * constants; the conformance suite catches any drift.
 */

/** NF4 values by code (sorted ascending, so the code is the rank). */
export const NF4_CODE = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

/** NF4 decision thresholds: code = number of thresholds t with s > t (as f32 constants). */
export const NF4_THRESHOLDS = Float32Array.from([
  -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
  -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
  0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
  0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]);

/** FP4 values by code, bit-pattern order, normalised by 12 (codes 8–15 negate 0–7; code 8 is +0 as in bitsandbytes' quant_map). */
export const FP4_CODE = Float32Array.from(
  [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3].map((v) => (v === 0 ? 0 : v / 12)),
);

/**
 * FP4 magnitude decision: sorted magnitudes with their 3-bit codes, and the thresholds between
 * them, compared strictly (a tie goes to the lower magnitude). The thresholds are the f32
 * constants bitsandbytes' CUDA tree compares against (0.29166667f, 0.583333f, …), which are not
 * all the f32 nearest to the exact midpoints (7/24, 7/12, …): ties follow the CUDA kernel.
 */
export const FP4_MAGNITUDE_CODES = Uint8Array.from([0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011]);
export const FP4_THRESHOLDS = Float32Array.from([0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333]);

const f = Math.fround;

/**
 * float32 `torch.linspace(start, end, steps)`: the first half counts up from start, the second
 * down from end, each `start + step * i` rounded once (torch's kernel fuses the multiply-add).
 */
function linspaceF32(start: number, end: number, steps: number): number[] {
  if (steps === 1) return [f(start)];
  const step = f((f(end) - f(start)) / (steps - 1));
  const half = Math.floor(steps / 2);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(i < half ? f(f(start) + step * i) : f(f(end) - step * (steps - i - 1)));
  return out;
}

/**
 * The 8-bit dynamic map (`create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)`), 256
 * values sorted ascending. Signed: 127 negative, 0, 127 positive and 1.0. Unsigned: 0, 254
 * positive and 1.0.
 */
export function dynamicMap(signed = true): Float32Array {
  const values: number[] = [];
  const maxExponentBits = 7;
  const nonSignBits = 7; // total_bits - 1 for both signed and unsigned maps
  for (let i = 0; i < maxExponentBits; i++) {
    const fractionItems = signed ? 2 ** (i + nonSignBits - maxExponentBits) + 1 : 2 ** (i + nonSignBits - maxExponentBits + 1) + 1;
    const boundaries = linspaceF32(0.1, 1, fractionItems);
    // torch multiplies an f32 tensor by a Python float scalar in f32: the scale is rounded first.
    const scale = f(10 ** (-(maxExponentBits - 1) + i));
    for (let j = 0; j + 1 < boundaries.length; j++) {
      const mean = f(f(boundaries[j] + boundaries[j + 1]) / 2);
      values.push(f(scale * mean));
      if (signed) values.push(f(-scale * mean));
    }
  }
  values.push(0, 1);
  if (values.length !== 256) throw new Error(`dynamic map has ${values.length} values, expected 256`);
  return Float32Array.from(values).sort();
}

/** The signed dynamic map (double quantization, Adam's first moment). */
export const DYNAMIC_MAP_SIGNED = dynamicMap(true);
/** The unsigned dynamic map (Adam's second moment). */
export const DYNAMIC_MAP_UNSIGNED = dynamicMap(false);
