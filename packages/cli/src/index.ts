/**
 * @kvant/cli — the `kvant` command. Each subcommand is also importable, so scripts can run one
 * without spawning a process.
 */
export { type Command, formatBytes, table, UsageError } from './command';
export { conformanceCommand } from './commands/conformance';
export { COMMANDS } from './commands/index';
export { memoryCommand } from './commands/memory';
export { quantizeCommand } from './commands/quantize';
export { main } from './main';
