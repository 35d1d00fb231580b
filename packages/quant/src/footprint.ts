import type { QuantizedTensor } from './quantize';

/** Bytes a quantized tensor occupies, split the way the memory table reports them. */
export interface Footprint {
  readonly elements: number;
  /** packed 4-bit codes, or one byte per linear code */
  readonly codeBytes: number;
  /** absmax (f32, or u8 + nested f32 + the offset), or scale + zero point per group */
  readonly statisticsBytes: number;
  /** code tables (16 floats; 256 more with double quantization) */
  readonly tableBytes: number;
  readonly totalBytes: number;
  /** totalBytes * 8 / elements */
  readonly bitsPerParameter: number;
  /** What transformers' get_memory_footprint counts for it: the packed weight only. */
  readonly transformersFootprintBytes: number;
}

/** The footprint of a quantized tensor. */
export function footprint(q: QuantizedTensor): Footprint {
  const elements = q.shape.reduce((a, d) => a * d, 1);
  let codeBytes: number;
  let statisticsBytes: number;
  let tableBytes: number;
  if (q.format === 'linear') {
    codeBytes = q.codes.byteLength;
    statisticsBytes = q.scale.byteLength + q.zero.byteLength;
    tableBytes = 0;
  } else {
    codeBytes = q.packed.byteLength;
    tableBytes = q.code.byteLength;
    const s = q.stats;
    if (s.kind === 'absmax') statisticsBytes = s.absmax.byteLength;
    else {
      statisticsBytes = s.qabsmax.byteLength + s.nestedAbsmax.byteLength + 4;
      tableBytes += s.nestedCode.byteLength;
    }
  }
  const totalBytes = codeBytes + statisticsBytes + tableBytes;
  return {
    elements,
    codeBytes,
    statisticsBytes,
    tableBytes,
    totalBytes,
    bitsPerParameter: (totalBytes * 8) / elements,
    transformersFootprintBytes: codeBytes,
  };
}
