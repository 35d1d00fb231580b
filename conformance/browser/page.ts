/**
 * The browser page: runs the conformance suite on the webgpu runtime (navigator.gpu) and the wasm
 * runtime against the reference, renders the support table (kernel x runtime) and leaves the
 * result in `window.__kvantResult` for the headless-Chromium test.
 */
import { KERNELS, type Runtime } from '@kvant/abi';
import { createWasmRuntime } from '@kvant/runtime-wasm';
import { createWebGpuRuntime } from '@kvant/runtime-webgpu';
import { type CaseResult, runConformance, summarize } from '../src/index';

export interface PageResult {
  readonly adapter: string;
  /** kernel -> runtime -> pass | fail | unsupported | unavailable */
  readonly table: Record<string, Record<string, string>>;
  readonly exempt: number;
  /** Ambiguous elements that differed, per runtime. */
  readonly ambiguousByRuntime: Record<string, number>;
  /** Ambiguous elements that differed, per `runtime kernel` (only nonzero entries). */
  readonly ambiguousByKernel: Record<string, number>;
  readonly failures: string[];
  /** `runtime kernel` -> the reason a runtime gave for not running a kernel (e.g. a device limit). */
  readonly unsupported: Record<string, string>;
  readonly error?: string;
}

async function tryCreate(name: string, make: () => Promise<Runtime>, unavailable: Record<string, string>): Promise<Runtime | undefined> {
  try {
    return await make();
  } catch (e) {
    unavailable[name] = e instanceof Error ? e.message : String(e);
    return undefined;
  }
}

async function main(): Promise<PageResult> {
  const unavailable: Record<string, string> = {};
  const webgpu = await tryCreate('webgpu', () => createWebGpuRuntime(), unavailable);
  const wasm = await tryCreate('wasm', () => createWasmRuntime(), unavailable);
  const runtimes = [webgpu, wasm].filter((r): r is Runtime => r !== undefined);
  const results: CaseResult[] = [];
  for (const rt of runtimes) results.push(...(await runConformance([rt])));
  const names = ['webgpu', 'wasm'];
  const cells = summarize(results, names, unavailable);
  const table: Record<string, Record<string, string>> = {};
  for (const k of KERNELS) {
    table[k.id] = {};
    for (const n of names) table[k.id][n] = cells.get(k.id)?.get(n)?.status ?? (n in unavailable ? 'unavailable' : 'not run');
  }
  const unsupported: Record<string, string> = {};
  for (const r of results) if (r.status === 'unsupported') unsupported[`${r.runtime} ${r.kernel}`] = r.error ?? '';
  const failures = results.filter((r) => r.status === 'fail').map((r) => `${r.kernel} [${r.case}] on ${r.runtime}: ${r.error ?? JSON.stringify(r.outputs)}`);
  const exempt = results.reduce((s, r) => s + r.outputs.reduce((t, o) => t + o.exempt, 0), 0);
  const ambiguousByRuntime: Record<string, number> = {};
  for (const r of results) ambiguousByRuntime[r.runtime] = (ambiguousByRuntime[r.runtime] ?? 0) + r.outputs.reduce((t, o) => t + o.exempt, 0);
  const ambiguousByKernel: Record<string, number> = {};
  for (const r of results) {
    const d = r.outputs.reduce((t, o) => t + o.exempt, 0);
    if (d > 0) ambiguousByKernel[`${r.runtime} ${r.kernel}`] = (ambiguousByKernel[`${r.runtime} ${r.kernel}`] ?? 0) + d;
  }
  const adapter = webgpu ? webgpu.info().description : `none (${unavailable.webgpu})`;
  for (const rt of runtimes) rt.dispose();
  return { adapter, table, exempt, ambiguousByRuntime, ambiguousByKernel, failures, unsupported };
}

function render(r: PageResult): void {
  const status = document.getElementById('status')!;
  status.textContent = r.error ? `error: ${r.error}` : `adapter: ${r.adapter}; ambiguous elements that differed: ${r.exempt}; failures: ${r.failures.length}`;
  const rows = Object.entries(r.table).map(
    ([k, cells]) => `<tr><td>${k}</td>${Object.values(cells).map((s) => `<td class="${s}">${s}</td>`).join('')}</tr>`,
  );
  document.getElementById('table')!.innerHTML = `<tr><th>kernel</th><th>webgpu</th><th>wasm</th></tr>${rows.join('')}`;
}

main().then(
  (r) => {
    (window as unknown as { __kvantResult: PageResult }).__kvantResult = r;
    render(r);
  },
  (e: unknown) => {
    const r: PageResult = { adapter: '', table: {}, exempt: 0, ambiguousByRuntime: {}, ambiguousByKernel: {}, failures: [], unsupported: {}, error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) };
    (window as unknown as { __kvantResult: PageResult }).__kvantResult = r;
    render(r);
  },
);
