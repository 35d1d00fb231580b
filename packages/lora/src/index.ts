/**
 * @kvant/lora — LoRA and DoRA over a frozen dense (f32, bf16, f16) or 4-bit base, with PEFT's semantics (config names
 * and defaults, init, scaling, merging, several adapters) and PEFT's adapter folders. Written against
 * @kvant/abi's Runtime: every computation is a kernel dispatch, so it runs on any runtime.
 */
export * from './adapter';
export * from './base';
export * from './config';
export * from './dense-base';
export * from './dense16-base';
export * from './dora';
export * from './errors';
export * from './four-bit-base';
export * from './hf-base';
export * from './layer';
export * from './merge';
export * from './model';
export * from './peft-files';
export { gaussian, kaimingUniform, seedFor, uniformGenerator } from './random';
export * from './scaling';
export * from './targets';
export { addBias, columnSums, dropoutParams, matmul, rowDots, rowScale, multiply } from './ops';
