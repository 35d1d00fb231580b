/**
 * Typed errors of @kvant/lora's adapter files. Each names the file and the tensor or field, what was
 * expected and what was found.
 */
import { FormatError } from '@kvant/abi';

/** What part of an adapter folder broke a rule; stable, for code that handles errors. */
export type AdapterErrorKind =
  | 'folder' // the folder or one of its files is missing, or not a regular file
  | 'pickle' // only adapter_model.bin (a pickle, which can run code) is there
  | 'config' // adapter_config.json is not a LoRA config kvant can apply
  | 'missing-tensor' // a tensor the config implies is not in the file
  | 'unexpected-tensor' // the file holds a tensor the config and the base do not explain
  | 'shape' // a tensor has the wrong shape
  | 'rank' // lora_A/lora_B's rank disagrees with r (or rank_pattern)
  | 'dtype' // a tensor is not F32, BF16 or F16
  | 'non-finite'; // a tensor holds NaN or Inf

/** An adapter folder (adapter_config.json + adapter_model.safetensors) that kvant refuses. */
export class AdapterFileError extends FormatError {
  constructor(
    readonly kind: AdapterErrorKind,
    /** The file, as a path. */
    readonly file: string,
    /** The tensor or config field the problem is in. */
    readonly item: string | undefined,
    expected: string,
    found: string,
  ) {
    super(item === undefined ? file : `${file}: ${item}`, expected, found);
  }
}
