import type { Command } from '../command';
import { chatCommand } from './chat';
import { conformanceCommand } from './conformance';
import { dataCommand } from './data';
import { exportGgufCommand } from './export-gguf';
import { generateCommand } from './generate';
import { memoryCommand } from './memory';
import { mergeCommand } from './merge';
import { quantizeCommand } from './quantize';
import { trainCommand } from './train';

/** Every `kvant` subcommand, in the order `kvant --help` lists them. */
export const COMMANDS: readonly Command[] = [quantizeCommand, memoryCommand, dataCommand, trainCommand, generateCommand, chatCommand, mergeCommand, exportGgufCommand, conformanceCommand];
