import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeRuntime } from '@kvant/runtimes';
import { buildKit } from './build-kit';

/** With a GPU the kit must run cuda and agree; without one it must say why cuda is missing. */
const gpu = (await probeRuntime('cuda')).status === 'available';

const work = mkdtempSync(join(tmpdir(), 'kvant-kit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('portable conformance kit', () => {
  it('builds one tar.xz under 60 MiB that runs from a clean directory with no Node on the PATH', async () => {
    const archive = await buildKit(join(work, 'kvant-kit-linux-x64.tar.xz'), () => {});
    expect(statSync(archive).size).toBeLessThan(60 * 2 ** 20);

    const clean = join(work, 'clean');
    execFileSync('mkdir', ['-p', clean]);
    execFileSync('tar', ['-C', clean, '-xJf', archive]);
    // An environment with nothing of this machine's Node: an empty PATH except core utilities.
    const env = { PATH: '/nonexistent', HOME: clean, XDG_RUNTIME_DIR: clean };
    const r = spawnSync('/bin/sh', [join(clean, 'kvant-kit', 'run.sh'), '--out', join(clean, 'results'), '--n', '65536', '--bench-suite', 'quant'], {
      cwd: clean,
      env,
      encoding: 'utf8',
      timeout: 600_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const machine = JSON.parse(readFileSync(join(clean, 'results', 'machine.json'), 'utf8'));
    if (gpu) {
      expect(machine.runtimesAvailable).toContain('cuda');
    } else {
      // No GPU here: cuda reports why, and the rest runs.
      expect(r.stdout).toMatch(/cuda: not available: .*(no CUDA|driver|device)/i);
      expect(machine.runtimesMissing.cuda).toBeTruthy();
    }
    expect(machine.runtimesCrashed).toEqual({});
    expect(machine.runtimesAvailable).toContain('wasm');
    expect(machine.runtimesAvailable).toContain('webgpu');
    const conf = JSON.parse(readFileSync(join(clean, 'results', 'conformance.json'), 'utf8'));
    expect(conf.results.length).toBeGreaterThan(100);
    expect(conf.results.filter((x: { status: string }) => x.status !== 'pass')).toEqual([]);
    if (gpu) expect(conf.results.some((x: { runtime: string; against: string }) => x.runtime === 'cuda' && x.against === 'reference')).toBe(true);
    expect(existsSync(join(clean, 'results', 'support.md'))).toBe(true);
    const bench = JSON.parse(readFileSync(join(clean, 'results', 'bench.json'), 'utf8'));
    expect(bench.results.some((x: { runtime: string; name: string }) => x.runtime === 'wasm' && x.name === 'nf4 dequantize bs64')).toBe(true);

    // --require cuda fails on a machine without a GPU, with the reason, and passes on one with a GPU.
    const strict = spawnSync('/bin/sh', [join(clean, 'kvant-kit', 'run.sh'), '--require', 'cuda', '--runtime', 'wasm', '--no-bench', '--out', join(clean, 'r2')], {
      cwd: clean,
      env,
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (gpu) {
      expect(strict.status, strict.stdout).toBe(0);
    } else {
      expect(strict.status).toBe(1);
      expect(strict.stdout).toMatch(/FAIL: cuda is required/);
    }
  }, 900_000);
});
