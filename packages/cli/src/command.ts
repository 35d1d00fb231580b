import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '@kvant/abi';
import { writeFileAtomic } from '@kvant/formats';

/**
 * The command line itself is wrong (an unknown flag, a bad number, a missing argument): exit 2.
 * Errors about the user's files and data are other KvantErrors: exit 1.
 */
export class UsageError extends ConfigError {}

/** One `kvant <name>` subcommand. */
export interface Command {
  readonly name: string;
  /** One line for `kvant --help`. */
  readonly summary: string;
  /** Full usage text for `kvant <name> --help`. */
  readonly usage: string;
  /** Run with the arguments after the command name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** What parseCommandArgs returns (named, so the package's .d.ts can state it). */
export type ParsedCommandArgs<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & { help: { type: 'boolean'; short: 'h' } }; allowPositionals: boolean; strict: true }>>;

/** parseArgs with strict checking, turning its errors into UsageError naming the command. */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true): ParsedCommandArgs<O> {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(`kvant ${command}`, 'valid options (see --help)', e instanceof Error ? e.message : String(e));
  }
}

/** Parse an integer option in [min, max] (default: a positive integer below 2^53) with a UsageError. */
export function intOption(command: string, name: string, value: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`kvant ${command} --${name}`, `an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? '2^53 - 1' : max}`, JSON.stringify(value));
  }
  return n;
}

/** A --json-out FILE: the JSON report written atomically (the text report still goes to stdout). */
export async function writeJsonOut(path: string | undefined, value: unknown): Promise<void> {
  if (path) await writeFileAtomic(path, `${JSON.stringify(value, null, 1)}\n`, { checkOutput: true, force: true });
}

/** Write text to stdout. */
export function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Render rows as an aligned text table (first row is the header). */
export function table(rows: (string | number)[][], align: ('l' | 'r')[] = []): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map(() => 0);
  for (const r of cells) for (let c = 0; c < widths.length; c++) widths[c] = Math.max(widths[c], (r[c] ?? '').length);
  const line = (r: string[]) =>
    r.map((v, c) => ((align[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  const out = [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
  return out.join('\n');
}

/** Human-readable bytes (GB = 1e9, as in the course and transformers). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(2)} kB`;
  return `${bytes} B`;
}
