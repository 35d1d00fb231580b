/**
 * The `kvant` command's dispatcher: `main(argv)` runs one subcommand and resolves to its exit code.
 * The executable entry point is bin.ts.
 */
import { KvantError } from '@kvant/abi';
import type { Command } from './command';
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
    if (e instanceof KvantError) {
      process.stderr.write(`kvant ${name}: ${e.name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
