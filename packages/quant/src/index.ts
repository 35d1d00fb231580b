/**
 * @kvant/quant — quantization you can import on its own: linear (affine) and group-wise, NF4 and
 * FP4 blockwise (byte-compatible with bitsandbytes), double quantization, error statistics,
 * memory accounting, and bitsandbytes' 4-bit safetensors layout.
 */
export * from './bnb';
export * from './config';
export * from './footprint';
export * from './pyjson';
export * from './quantize';
export * from './stats';
export * from './model';
export * from './model-plan';
export * from './nonfinite';
export * from './memory';
export * from './presets';
export * from './bnb-expected';
