export { benchMain } from './main';
export { describeMachine, type MachineDescription } from './machine';
export { type BenchResult, runBenches } from './run-benches';
export { BENCH_N, type KernelBench, quantBenches } from './suites';
