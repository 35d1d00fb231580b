/**
 * Typed errors of @kvant/formats. Each names the file (and the tensor, where there is one), what was
 * expected and what was found, so a user can fix the input without reading kvant's source.
 */
import { ConfigError, FormatError } from '@kvant/abi';

/** What part of a safetensors file broke a rule; stable, for code that handles errors. */
export type SafetensorsErrorKind =
  | 'file' // the file cannot be opened or read
  | 'header-length' // the 8-byte header length is missing, zero, too large or past the end of the file
  | 'header-utf8' // the header is not valid UTF-8
  | 'header-json' // the header is not a JSON object
  | 'duplicate-key' // a key appears twice in a JSON object of the header
  | 'entry' // a tensor entry lacks dtype/shape/data_offsets or has a malformed one
  | 'dtype' // a dtype this reader does not know
  | 'metadata' // `__metadata__` is not a string -> string map
  | 'offsets' // data_offsets out of bounds or begin > end
  | 'overlap' // two tensors share bytes
  | 'hole' // bytes of the data section that no tensor covers
  | 'size' // byte length differs from product(shape) * dtype size
  | 'truncated' // the file ended before a tensor's bytes (changed after it was opened)
  | 'index' // a sharded index is malformed or disagrees with its shards
  | 'write'; // arguments of a write do not agree (dtype vs data, shape vs length)

/** A safetensors file (or sharded index) breaks the format. */
export class SafetensorsError extends FormatError {
  constructor(
    readonly kind: SafetensorsErrorKind,
    /** The file, as the caller named it. */
    readonly file: string,
    /** The tensor the problem is in, when there is one. */
    readonly tensor: string | undefined,
    expected: string,
    found: string,
  ) {
    super(tensor === undefined ? file : `${file}: tensor "${tensor}"`, expected, found);
  }
}

/** A file of a model folder is missing or malformed (config.json, an index, a tokenizer file). */
export class ModelFileError extends FormatError {
  constructor(
    /** The file, as a path. */
    readonly path: string,
    expected: string,
    found: string,
  ) {
    super(path, expected, found);
  }
}

/** An output path exists and `force` was not given. */
export class OutputExistsError extends ConfigError {
  constructor(readonly path: string) {
    super(path, 'an output path that does not exist yet (or force to replace it)', 'an existing file or directory');
  }
}
