import { linalgCases } from './linalg';
import { memCases } from './mem';
import { nnCases } from './nn';
import { optimCases } from './optim';
import { quantCases } from './quant';
import { quantEdgeCases } from './quant-edges';
import type { Case } from './types';

export type { Case } from './types';

/** Every conformance case. */
export const CASES: readonly Case[] = [...memCases, ...quantCases, ...quantEdgeCases, ...linalgCases, ...optimCases, ...nnCases];
