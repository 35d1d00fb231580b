/**
 * @kvant/conformance — cases as data and the runner: every kernel x every runtime x every case.
 */
export { CASES, type Case } from './cases/index';
export { type Comparison, compareOutput } from './compare';
export { type Gen, generate, randn, rng } from './gen';
export {
  type CaseResult,
  caseInputs,
  checkCase,
  declaresApproximate,
  describeFailure,
  type OutputResult,
  referenceOutputs,
  type RunOptions,
  runConformance,
  SENTINELS,
  selectCases,
  toleranceFor,
} from './runner';
export { type Cell, formatTable, markdownTable, summarize, type Unavailable } from './table';
