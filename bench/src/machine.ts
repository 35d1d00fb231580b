import { cpus, totalmem, type, release, arch } from 'node:os';

/** A description of the machine a benchmark ran on, stored with every result file. */
export function describeMachine(): Record<string, unknown> {
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
