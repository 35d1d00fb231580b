import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, type Runtime, UnsupportedError } from '@kvant/abi';
import { type CaseResult, describeFailure, formatTable, markdownTable, runConformance } from '@kvant/conformance';
import { createRuntime, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { type Command, parseCommandArgs, print } from '../command';

/** Write a file atomically: a temporary sibling, then a rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

const USAGE = `usage: kvant conformance [--runtime R]... [--kernel K]... [--filter TEXT] [--json FILE] [--table FILE]

Runs every conformance case of every kernel on each runtime, compares each with the reference
and with the first runtime named, and prints the support table (kernel x runtime).
Exits 1 on any mismatch, out-of-bounds write or error.

  --runtime R   a runtime to check: ${RUNTIME_NAMES.join(', ')} (repeatable; default: every
                runtime available here — a runtime named explicitly that cannot start is a failure)
  --kernel K    only this kernel id (repeatable)
  --filter TEXT only cases whose "kernel name" contains TEXT
  --json FILE   write every result as JSON
  --table FILE  write the support table as Markdown (e.g. docs/support.md)
  --quiet       print only the table and failures`;

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: 'check every kernel on every runtime against the reference and each other',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(
      'conformance',
      argv,
      {
        runtime: { type: 'string', multiple: true },
        kernel: { type: 'string', multiple: true },
        filter: { type: 'string' },
        json: { type: 'string' },
        table: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      false,
    );
    const explicit = values.runtime ?? [];
    for (const name of explicit) if (!isRuntimeName(name)) throw new ConfigError('kvant conformance --runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(name));
    const names = explicit.length ? explicit : RUNTIME_NAMES.filter((n) => n !== 'reference');
    const runtimes: Runtime[] = [];
    const missing: Record<string, string> = {};
    for (const name of names) {
      try {
        runtimes.push(await createRuntime(name));
      } catch (e) {
        if (!(e instanceof UnsupportedError)) throw e;
        missing[name] = e.reason;
      }
    }
    for (const [name, reason] of Object.entries(missing)) print(`${explicit.length ? 'FAIL' : 'skip'} runtime ${name}: ${reason}`);
    for (const rt of runtimes) print(`runtime ${rt.name}: ${rt.info().description}`);
    let done = 0;
    const results: CaseResult[] = await runConformance(runtimes, {
      kernels: values.kernel,
      filter: values.filter,
      onResult: (r) => {
        done++;
        if (r.status === 'fail') print(`FAIL ${describeFailure(r)}`);
        else if (!values.quiet && done % 50 === 0) process.stderr.write(`  ${done} results…\n`);
      },
    });
    for (const rt of runtimes) rt.dispose();
    const shown = runtimes.map((r) => r.name);
    print();
    print(formatTable(results, shown, missing));
    const failed = results.filter((r) => r.status === 'fail');
    const ambiguous = results.filter((r) => r.against === 'reference').reduce((a, r) => a + r.outputs.reduce((b, o) => b + o.ambiguousDiffs, 0), 0);
    print();
    print(`${results.length - failed.length} passed, ${failed.length} failed${ambiguous ? ` (${ambiguous} ambiguous elements one code away, allowed)` : ''}`);
    if (explicit.length && Object.keys(missing).length) print(`FAIL: runtime(s) named with --runtime could not start: ${Object.keys(missing).join(', ')}`);
    const machine = `${process.platform}-${process.arch}, Node ${process.version}; ${runtimes.map((r) => `${r.name}: ${r.info().description}`).join('; ')}`;
    if (values.json) writeFileAtomic(values.json, `${JSON.stringify({ machine, runtimes: shown, missing, results }, null, 1)}\n`);
    if (values.table) writeFileAtomic(values.table, markdownTable(results, shown, machine, missing));
    return failed.length || (explicit.length && Object.keys(missing).length) ? 1 : 0;
  },
};
