import { memCases } from './mem';
import { quantCases } from './quant';
import { quantEdgeCases } from './quant-edges';
import type { Case } from './types';

export type { Case } from './types';

/** Every conformance case. */
export const CASES: readonly Case[] = [...memCases, ...quantCases, ...quantEdgeCases];
