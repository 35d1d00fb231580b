import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '@kvant/abi';

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

/** parseArgs with strict checking, turning its errors into ConfigError naming the command. */
export function parseCommandArgs<O extends Options>(command: string, argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw new ConfigError(`kvant ${command}`, 'valid options (see --help)', e instanceof Error ? e.message : String(e));
  }
}

/** Parse an integer option with a typed error. */
export function intOption(command: string, name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`kvant ${command} --${name}`, 'an integer', JSON.stringify(value));
  return n;
}

/** Write text to stdout. */
export function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Render rows as an aligned text table (first row is the header). */
export function table(rows: (string | number)[][], align: ('l' | 'r')[] = []): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
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
