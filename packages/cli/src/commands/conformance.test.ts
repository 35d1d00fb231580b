import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceRuntime } from '@kvant/reference';
import { probeRuntime } from '@kvant/runtimes';
import { kvantInProcess } from '../hostile/tree';

const dir = mkdtempSync(join(tmpdir(), 'kvant-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const capture = kvantInProcess;

describe('kvant conformance', () => {
  it('prints the table, writes JSON and the Markdown support table, exits 0 when all pass', async () => {
    const json = join(dir, 'r.json');
    const table = join(dir, 'support.md');
    const r = await capture(['conformance', '--runtime', 'wasm', '--runtime', 'reference', '--kernel', 'quant.nf4_quantize', '--json-out', json, '--table', table, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/quant\.nf4_quantize\s+pass \(\d+\)\s+pass/);
    expect(r.out).toMatch(/\d+ passed, 0 failed/);
    const data = JSON.parse(readFileSync(json, 'utf8'));
    expect(data.runtimes).toEqual(['wasm', 'reference']);
    expect(data.results.every((x: { kernel: string }) => x.kernel === 'quant.nf4_quantize')).toBe(true);
    expect(readFileSync(table, 'utf8')).toMatch(/\| `quant.nf4_quantize` \| pass/);
  });

  it('on cuda: with a GPU the kernels run and agree; without one it exits 1 and says why', async () => {
    const probe = await probeRuntime('cuda');
    const r = await capture(['conformance', '--runtime', 'cuda', '--runtime', 'wasm', '--kernel', 'mem.copy', '--kernel', 'quant.nf4_quantize']);
    if (probe.status === 'available') {
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/quant\.nf4_quantize\s+pass \(\d+\)\s+pass/);
    } else {
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/FAIL runtime cuda: not available: .*(CUDA|driver|device)/);
    }
  });

  it('--threads sets the wasm runtime\'s threads; a bad count is a usage error', async () => {
    const one = await capture(['conformance', '--runtime', 'wasm', '--threads', '1', '--kernel', 'mem.copy', '--quiet']);
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/runtime wasm: WebAssembly \(SIMD, single thread\)/);
    const two = await capture(['conformance', '--runtime', 'wasm', '--threads', '2', '--kernel', 'mem.copy', '--quiet']);
    expect(two.out).toMatch(/runtime wasm: WebAssembly \(SIMD, 2 threads\)/);
    expect((await capture(['conformance', '--runtime', 'wasm', '--threads', '0'])).code).toBe(2);
  });

  it('rejects an unknown runtime with a typed error', async () => {
    const r = await capture(['conformance', '--runtime', 'tpu']);
    expect(r.code).toBe(1);
  });

  it('an unknown kernel, or a filter that matches nothing, is a usage error (exit 2), not an empty pass', async () => {
    expect((await capture(['conformance', '--runtime', 'reference', '--kernel', 'quant.nope'])).code).toBe(2);
    expect((await capture(['conformance', '--runtime', 'reference', '--filter', 'no such case'])).code).toBe(2);
  });

  it('an unsupported kernel fails the run unless --allow-unsupported', async () => {
    const original = ReferenceRuntime.prototype.supports;
    ReferenceRuntime.prototype.supports = (id: string) => (id === 'mem.copy' ? 'not here (test)' : true);
    try {
      const failing = await capture(['conformance', '--runtime', 'reference', '--kernel', 'mem.copy', '--quiet']);
      expect(failing.code).toBe(1);
      expect(failing.out).toMatch(/FAIL mem\.copy .*unsupported: not here/);
      const allowed = await capture(['conformance', '--runtime', 'reference', '--kernel', 'mem.copy', '--quiet', '--allow-unsupported']);
      expect(allowed.code).toBe(0);
    } finally {
      ReferenceRuntime.prototype.supports = original;
    }
  });
});
