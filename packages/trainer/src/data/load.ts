/**
 * From files to prepared data: read the training file (and an eval file, or hold out a fraction of
 * the training records with a seed), check every record against one format, and prepare each split
 * with the same options. What `kvant data` prints and `kvant train` trains on.
 */
import type { SftDataConfig } from './config';
import { DataConfigError, DataFileError } from './errors';
import { parseSftRecords } from './format';
import { type DataTokenizer, type PreparedDataset, prepareSftDataset } from './prepare';
import { readDataFile } from './read';
import { splitByFraction } from './split';

/** Where the data is and how to split it. */
export interface SftDataSources {
  /** The training file (JSONL or JSON array). */
  readonly data: string;
  /** A second file for evaluation (`--eval-data`). */
  readonly evalData?: string;
  /** Or a fraction of the training records held out for evaluation (`--eval-fraction`). */
  readonly evalFraction?: number;
  /** Seed of the held-out split (TrainingArguments' seed; default 42). */
  readonly seed?: number;
}

/** Prepared training data, and evaluation data when asked for. */
export interface SftData {
  readonly train: PreparedDataset;
  readonly eval?: PreparedDataset;
}

/** Read, split and prepare (see the file comment). Errors are typed: DataFileError, DataConfigError, ModelFileError. */
export async function loadSftData(sources: SftDataSources, tokenizer: DataTokenizer, config: SftDataConfig = {}): Promise<SftData> {
  if (sources.evalData !== undefined && sources.evalFraction !== undefined) {
    throw new DataConfigError('eval_data / eval_fraction', 'one of an eval file or an eval fraction', 'both');
  }
  const textField = config.datasetTextField ?? 'text';
  const file = await readDataFile(sources.data);
  const { format, records } = parseSftRecords(file, textField);
  if (sources.evalData !== undefined) {
    const evalFile = await readDataFile(sources.evalData);
    const parsed = parseSftRecords(evalFile, textField);
    if (parsed.format !== format) {
      throw new DataFileError('format', evalFile.path, evalFile.records[0].line, `the training data's format (${format}, ${file.path})`, `${parsed.format} records`);
    }
    return {
      train: prepareSftDataset(format, records, tokenizer, config, file.path),
      eval: prepareSftDataset(format, parsed.records, tokenizer, config, evalFile.path),
    };
  }
  if (sources.evalFraction !== undefined) {
    const { train, eval: held } = splitByFraction(records, sources.evalFraction, sources.seed ?? 42);
    return {
      train: prepareSftDataset(format, train, tokenizer, config, file.path),
      eval: prepareSftDataset(format, held, tokenizer, config, `${file.path} (held-out ${sources.evalFraction})`),
    };
  }
  return { train: prepareSftDataset(format, records, tokenizer, config, file.path) };
}
