// The kvant wasm module: every kernel `family.name` exported as
// `family__name(params: usize, bindings: usize): void`, where `params` points at the packed
// params block (32-bit words in spec order) and `bindings` at one u32 pointer per binding in
// spec order. scripts/build.ts checks that every spec not in src/unsupported.ts is exported here.

export { mem__copy } from './mem/copy';
export { quant__blockwise8_dequantize } from './quant/blockwise8_dequantize';
export { quant__blockwise8_quantize } from './quant/blockwise8_quantize';
export { quant__dequantize_4bit } from './quant/dequantize_4bit';
export { quant__dequantize_4bit_dq } from './quant/dequantize_4bit_dq';
export { quant__fp4_quantize } from './quant/fp4_quantize';
export { quant__linear_dequantize } from './quant/linear_dequantize';
export { quant__linear_quantize } from './quant/linear_quantize';
export { quant__nf4_quantize } from './quant/nf4_quantize';

/** First byte the JS arena may use: everything below holds the module's static data. */
export function heap_base(): usize {
  return __heap_base;
}
