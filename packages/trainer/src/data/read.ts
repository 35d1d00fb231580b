/**
 * Reading a data file: JSONL (one JSON object per line; blank lines skipped) or a JSON array of
 * objects (a `.json` file, or any file whose first character is `[`). Each record keeps its line
 * (JSONL) or 1-based position (JSON array), so later errors can say where.
 */
import { FileSystemError, isJsonObject, type JsonValue, parseStrictJson, readRegularFile, StrictJsonError } from '@kvant/formats';
import { DataFileError } from './errors';

/** One record of a data file. */
export interface DataRecord {
  readonly value: Readonly<Record<string, JsonValue>>;
  /** 1-based line of a JSONL file, or 1-based index in a JSON array. */
  readonly line: number;
}

/** Records of a data file, with the file's path and layout. */
export interface DataFile {
  readonly path: string;
  readonly layout: 'jsonl' | 'json';
  readonly records: DataRecord[];
}

/** Parse the text of a data file (see readDataFile). */
export function parseDataText(text: string, path: string): DataFile {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const isArray = path.endsWith('.json') || text.trimStart().startsWith('[');
  if (isArray) {
    let value: JsonValue;
    try {
      value = parseStrictJson(text);
    } catch (e) {
      if (e instanceof StrictJsonError) {
        const line = text.slice(0, e.position).split('\n').length;
        throw new DataFileError('json', path, undefined, 'a JSON array of objects (or JSONL: one object per line)', `${e.detail} at line ${line}`);
      }
      throw e;
    }
    if (!Array.isArray(value)) throw new DataFileError('json', path, undefined, 'a JSON array of objects', isJsonObject(value) ? 'one object' : typeof value);
    const records = value.map((v, i) => {
      if (!isJsonObject(v)) throw new DataFileError('record', path, i + 1, 'an object per record', describe(v));
      return { value: v, line: i + 1 };
    });
    return { path, layout: 'json', records };
  }
  const records: DataRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    let v: JsonValue;
    try {
      v = parseStrictJson(line);
    } catch (e) {
      if (e instanceof StrictJsonError) throw new DataFileError('json', path, i + 1, 'one JSON object on the line', `${e.detail} at column ${e.position + 1}`);
      throw e;
    }
    if (!isJsonObject(v)) throw new DataFileError('record', path, i + 1, 'a JSON object on the line', describe(v));
    records.push({ value: v, line: i + 1 });
  }
  return { path, layout: 'jsonl', records };
}

/** A JSON value in a few words, for errors. */
export function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return `an object with keys ${Object.keys(v).join(', ') || '(none)'}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Read a JSONL or JSON-array data file; a missing or unreadable file is a DataFileError naming it. */
export async function readDataFile(path: string): Promise<DataFile> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path, 'a readable JSONL or JSON data file');
  } catch (e) {
    if (e instanceof FileSystemError) throw new DataFileError('json', path, undefined, e.expected, e.found);
    throw e;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataFileError('json', path, undefined, 'UTF-8 text', 'bytes that are not valid UTF-8');
  }
  return parseDataText(text, path);
}
