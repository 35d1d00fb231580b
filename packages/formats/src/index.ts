/**
 * @kvant/formats — file formats, below every numeric package: safetensors (lazy, validated reading;
 * atomic, sharded writing), Hugging Face model folders and configs, strict JSON, atomic outputs with
 * the --force safety rule and signal cleanup, safe input reading, and the example model.
 * Knows no kernel; imports only @kvant/abi (errors).
 */
export * from './atomic-dir';
export * from './convert';
export * from './errors';
export * from './example-model';
export * from './example-tokenizer';
export * from './fs-errors';
export * from './gguf';
export * from './hf';
export * from './output-safety';
export * from './regular-file';
export * from './safetensors';
export { isJsonObject, type JsonValue, parseStrictJson, StrictJsonError } from './strict-json';
export { PARTIAL_MARKER, removeStaleTemporaries, trackTemporary } from './temporaries';
