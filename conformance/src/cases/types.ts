import type { Params } from '@kvant/abi';
import type { Gen } from '../gen';

/** One conformance case: a kernel, its params, and a generator for every binding it reads. */
export interface Case {
  readonly kernel: string;
  /** Short description, unique per kernel. */
  readonly name: string;
  readonly params: Params;
  readonly inputs: Readonly<Record<string, Gen>>;
  readonly seed: number;
}
