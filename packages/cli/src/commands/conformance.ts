import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, hasKernel, KERNELS, type Runtime, UnsupportedError } from '@kvant/abi';
import { type CaseResult, describeFailure, formatTable, markdownTable, runConformance, selectCases } from '@kvant/conformance';
import { createRuntime, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { type Command, intOption, parseCommandArgs, print } from '../command';

/** Write a file atomically: a temporary sibling, then a rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

const USAGE = `usage: kvant conformance [--runtime R]... [--kernel K]... [--filter TEXT] [--allow-unsupported] [--json-out FILE] [--table FILE]

Runs every conformance case of every kernel on each runtime and compares each output with the
reference (and, for every runtime after the first, with the first): bit for bit where the spec
says exact, within the spec's stated bound elsewhere. Out-of-bounds writes (guard bytes from the
last element on), unwritten outputs (two starting sentinels), changed inputs and errors fail.
Codes may differ by one only on a runtime that declares a kernel approximate, only where the
reference proves the element ambiguous, and at most the spec's budget per case (printed).
Prints the support table (kernel x runtime). Exit 0 when everything passed, 1 on any failure or
unsupported kernel, 2 on a usage error.

  --runtime R          a runtime to check: ${RUNTIME_NAMES.join(', ')} (repeatable; default: every
                       runtime available here — one named explicitly that is not available fails)
  --kernel K           only this kernel id (repeatable)
  --filter TEXT        only cases whose "kernel name" contains TEXT
  --allow-unsupported  a kernel a runtime reports unsupported does not fail the run
  --threads N          wasm: threads to split heavy kernels over (default: this machine's cores)
  --json-out FILE      write every result as JSON
  --table FILE         write the support table as Markdown (e.g. docs/support.md)
  --quiet              print only the table and failures`;

/** A usage error: printed with the usage hint, exit 2. */
function usageError(message: string): number {
  process.stderr.write(`kvant conformance: ${message}\nsee kvant conformance --help\n`);
  return 2;
}

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
        'allow-unsupported': { type: 'boolean' },
        threads: { type: 'string' },
        'json-out': { type: 'string' },
        table: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      false,
    );
    const explicit = values.runtime ?? [];
    for (const name of explicit) if (!isRuntimeName(name)) throw new ConfigError('kvant conformance --runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(name));
    for (const k of values.kernel ?? []) if (!hasKernel(k)) return usageError(`unknown kernel ${JSON.stringify(k)}; expected one of ${KERNELS.map((x) => x.id).join(', ')}`);
    const selected = selectCases({ kernels: values.kernel, filter: values.filter });
    if (selected.length === 0) return usageError(`no conformance case matches${values.kernel ? ` --kernel ${values.kernel.join(', ')}` : ''}${values.filter ? ` --filter ${JSON.stringify(values.filter)}` : ''}`);
    const names = explicit.length ? explicit : RUNTIME_NAMES.filter((n) => n !== 'reference');
    const threads = values.threads === undefined ? undefined : intOption('conformance', 'threads', values.threads, 1, 1, 256);
    const runtimes: Runtime[] = [];
    const missing: Record<string, string> = {};
    const crashed: Record<string, string> = {};
    for (const name of names) {
      try {
        runtimes.push(await createRuntime(name, { threads }));
      } catch (e) {
        // Absent (no driver, no adapter, no addon) is "not available"; anything else is a crash.
        if (e instanceof UnsupportedError) missing[name] = e.reason;
        else crashed[name] = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
    }
    for (const [name, reason] of Object.entries(missing)) print(`${explicit.length ? 'FAIL' : 'skip'} runtime ${name}: not available: ${reason}`);
    for (const [name, error] of Object.entries(crashed)) print(`FAIL runtime ${name} crashed while starting: ${error}`);
    for (const rt of runtimes) print(`runtime ${rt.name}: ${rt.info().description}${rt.info().approximate?.length ? ` (approximate arithmetic declared for ${rt.info().approximate?.join(', ')})` : ''}`);
    let done = 0;
    const allowUnsupported = values['allow-unsupported'] === true;
    const results: CaseResult[] = await runConformance(runtimes, {
      cases: selected,
      onResult: (r) => {
        done++;
        if (r.status === 'fail') print(`FAIL ${describeFailure(r)}`);
        else if (r.status === 'unsupported' && !allowUnsupported) print(`FAIL ${r.kernel} [${r.case}] on ${r.runtime}: unsupported: ${r.error}`);
        else if (!values.quiet && done % 100 === 0) process.stderr.write(`  ${done} results…\n`);
      },
    });
    for (const rt of runtimes) rt.dispose();
    const shown = runtimes.map((r) => r.name);
    const unavailable = { ...missing, ...crashed };
    print();
    print(formatTable(results, shown, unavailable));
    const byCase = new Map<string, CaseResult['status']>();
    for (const r of results) {
      const key = `${r.runtime} ${r.kernel} ${r.case}`;
      if (byCase.get(key) !== 'fail') byCase.set(key, r.status);
    }
    const count = (s: CaseResult['status']) => [...byCase.values()].filter((v) => v === s).length;
    const exempt = results.filter((r) => r.against === 'reference').flatMap((r) => r.outputs);
    const exemptTotal = exempt.reduce((a, o) => a + o.exempt, 0);
    const budget = Math.max(0, ...exempt.map((o) => o.budget));
    print();
    print(
      `${count('pass')} passed, ${count('fail')} failed` +
        `${count('unsupported') ? `, ${count('unsupported')} unsupported${allowUnsupported ? ' (allowed)' : ''}` : ''}` +
        ` (case x runtime; ${results.length} comparisons)` +
        `${exemptTotal ? `; ${exemptTotal} elements exempt (ambiguous codes one away, budget ${budget} per case, or subnormals a flushing device zeroed)` : '; no exemptions'}`,
    );
    const namedMissing = explicit.length > 0 && Object.keys(missing).length > 0;
    if (namedMissing) print(`FAIL: runtime(s) named with --runtime are not available: ${Object.keys(missing).join(', ')}`);
    const machine = `${process.platform}-${process.arch}, Node ${process.version}; ${runtimes.map((r) => `${r.name}: ${r.info().description}`).join('; ')}`;
    if (values['json-out']) writeFileAtomic(values['json-out'], `${JSON.stringify({ machine, runtimes: shown, missing, crashed, results }, null, 1)}\n`);
    if (values.table) writeFileAtomic(values.table, markdownTable(results, shown, machine, unavailable));
    const unsupportedFails = !allowUnsupported && count('unsupported') > 0;
    return count('fail') || unsupportedFails || namedMissing || Object.keys(crashed).length ? 1 : 0;
  },
};
