/**
 * Typed errors of SFT data: each names the file (and line, where there is one), what was expected
 * and what was found. A bad data file is the user's input, so the CLI exits 1 on any of these.
 */
import { ConfigError, FormatError } from '@kvant/abi';

/** What part of a data file broke: stable, for code that handles errors. */
export type DataErrorKind =
  | 'json' // a line (JSONL) or the file (JSON) is not valid JSON
  | 'record' // a record is not an object, or a field has the wrong type
  | 'format' // the keys match no dataset format, or differ from the first record's format
  | 'empty' // no records, or no example left after preparation
  | 'template'; // conversational data without a usable chat template

/** A data file (or one line of it) is malformed or does not fit a dataset format. */
export class DataFileError extends FormatError {
  constructor(
    readonly kind: DataErrorKind,
    /** The file as the user named it. */
    readonly path: string,
    /** 1-based line (JSONL) or record number (JSON array); undefined for the whole file. */
    readonly line: number | undefined,
    expected: string,
    found: string,
  ) {
    super(line === undefined ? path : `${path}:${line}`, expected, found);
  }
}

/** Data options that cannot work together or with this data (assistant-only loss on plain text, packing without max_length). */
export class DataConfigError extends ConfigError {}
