import { arch, cpus, release, totalmem, type } from 'node:os';

/** The machine a benchmark ran on, stored with every result file. */
export interface MachineDescription {
  readonly os: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly date: string;
}

/** Describe this machine (CPU, cores, memory, OS, Node, date). */
export function describeMachine(): MachineDescription {
  const c = cpus();
  return {
    os: `${type()} ${release()} ${arch()}`,
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    date: new Date().toISOString(),
  };
}
