/**
 * The --force safety rule, for every command that writes: an output path may never be an input,
 * a folder that contains an input, or a path inside an input — with or without --force. Paths are
 * compared both as given (absolute) and with symbolic links resolved, so a link cannot hide the overlap.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ConfigError } from '@kvant/abi';

/** The output path overlaps an input: writing or replacing it would modify or delete the input. */
export class OutputOverlapsInputError extends ConfigError {
  constructor(
    readonly output: string,
    readonly input: string,
    readonly relation: 'is the input' | 'contains the input' | 'is inside the input',
  ) {
    super(output, `an output path outside the input ${input} (never the input itself, a folder containing it, or a path inside it)`, `a path that ${relation}`);
  }
}

/** The real path of `path`, resolving links of its longest existing prefix (the rest appended as is). */
async function realPathOf(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return join(await realPathOf(parent), basename(abs));
  }
}

const inside = (child: string, parent: string): boolean => child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/**
 * Throw OutputOverlapsInputError when `output` is an input, contains one, or lies inside one.
 * `inputs` are the input folder and every file read (their links resolved too).
 */
export async function checkOutputOutsideInputs(output: string, inputs: readonly string[]): Promise<void> {
  const outs = [...new Set([resolve(output), await realPathOf(output)])];
  for (const input of inputs) {
    const ins = [...new Set([resolve(input), await realPathOf(input)])];
    for (const o of outs) {
      for (const i of ins) {
        if (o === i) throw new OutputOverlapsInputError(output, input, 'is the input');
        if (inside(i, o)) throw new OutputOverlapsInputError(output, input, 'contains the input');
        if (inside(o, i)) throw new OutputOverlapsInputError(output, input, 'is inside the input');
      }
    }
  }
}
