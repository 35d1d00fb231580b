/**
 * @kvant/model — model files: safetensors (lazy, validated reading; atomic, sharded writing),
 * Hugging Face model folders and configs, atomic output folders, and the example model.
 */
export * from './atomic-dir';
export * from './convert';
export * from './errors';
export * from './example-model';
export * from './example-tokenizer';
export * from './hf';
export * from './safetensors';
export { isJsonObject, type JsonValue, parseStrictJson, StrictJsonError } from './strict-json';
