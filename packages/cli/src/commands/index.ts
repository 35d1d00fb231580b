import type { Command } from '../command';
import { conformanceCommand } from './conformance';
import { dataCommand } from './data';
import { generateCommand } from './generate';
import { memoryCommand } from './memory';
import { quantizeCommand } from './quantize';

/** Every `kvant` subcommand, in the order `kvant --help` lists them. */
export const COMMANDS: readonly Command[] = [quantizeCommand, memoryCommand, dataCommand, generateCommand, conformanceCommand];
