/**
 * The `kvant` command's dispatcher: `main(argv)` runs one subcommand and resolves to its exit code.
 * The executable entry point is bin.ts.
 */
import { KvantError } from '@kvant/abi';
import { fsError, isErrnoError } from '@kvant/formats';
import { type Command, UsageError } from './command';
import { COMMANDS } from './commands/index';
import pkg from '../package.json' with { type: 'json' };

/** The version of @kvant/cli. */
export const VERSION: string = pkg.version;

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'kvant — QLoRA fine-tuning toolkit: quantize, measure memory, check runtimes.',
    '',
    'usage: kvant <command> [options]      (kvant <command> --help for details; kvant --version)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
  ].join('\n');
}

/**
 * Run `kvant <argv>`; resolves to the exit code: 0 success, 1 an error in the user's files or data
 * (a typed KvantError, printed as one line), 2 a usage error (the command line itself).
 * Anything else is a bug in kvant and rejects (bin.ts prints it as an internal error, exit 70).
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(`kvant ${VERSION}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const command: Command | undefined = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`kvant: unknown command ${JSON.stringify(name)}; expected one of ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    // A file-system error that no layer mapped still names its path and is the user's disk, not a bug.
    const typed = isErrnoError(e) && typeof e.path === 'string' ? fsError(e, e.path, 'a usable file or folder') : e;
    if (typed instanceof KvantError) {
      process.stderr.write(`kvant ${name}: ${typed.name}: ${typed.message}\n`);
      if (typed instanceof UsageError) process.stderr.write(`(kvant ${name} --help shows the usage)\n`);
      return typed instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}
