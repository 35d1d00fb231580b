import { FormatError } from '@kvant/abi';

/**
 * An optimizer state file (or state dict) that does not fit the optimizer it is loaded into: another
 * optimizer, other params, a state tensor of the wrong shape or dtype. `tensor` names the state
 * tensor or param concerned, when there is one.
 */
export class OptimizerStateError extends FormatError {
  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    expected: string,
    found: string,
  ) {
    super(tensor === undefined ? file : `${file}: ${tensor}`, expected, found);
  }
}
