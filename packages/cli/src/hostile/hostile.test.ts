/**
 * The hostile-input suite (issue 8): every case of cases.ts runs `kvant quantize` or `kvant memory`
 * and must end in exit 0 with a correct result, exit 1 with a typed error naming the file, tensor or
 * field, or exit 2 for a usage error — never a stack trace, a hang or exit 70; the input tree must be
 * byte-for-byte unchanged, and nothing may be left beside --out when the command fails.
 * Most cases run in this process (main()); the ones that could hang or need limits run as children
 * with a timeout. The signal tests prove the temporary output folder goes away on SIGINT/SIGTERM,
 * and after SIGKILL at the next run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateExampleModel } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileCases } from './cases';
import { fingerprint, kvantInProcess } from './tree';

const repo = join(import.meta.dirname, '../../../..');
const tsx = join(repo, 'node_modules/.bin/tsx');
const bin = join(repo, 'packages/cli/src/bin.ts');
let work: string;
let base: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'kvant-hostile-'));
  base = join(work, 'base');
  await generateExampleModel(base, { size: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 128 }, shards: 1 });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Run kvant as a child (tsx), with a timeout that turns a hang into a failure. `@ulimit-f=N` sets a file-size limit. */
function kvantChild(argv: string[]): { code: number | null; out: string; err: string; signal: NodeJS.Signals | null } {
  const limit = argv[0]?.startsWith('@ulimit-f=') ? argv.shift()!.slice('@ulimit-f='.length) : undefined;
  const cmd = limit ? ['bash', ['-c', `ulimit -f ${limit}; exec "$0" "$@"`, tsx, bin, ...argv]] : [tsx, [bin, ...argv]];
  const r = spawnSync(cmd[0] as string, cmd[1] as string[], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

/** Entries of a folder (empty when it does not exist). */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

describe('hostile inputs: kvant quantize and kvant memory', () => {
  let n = 0;
  for (const c of hostileCases()) {
    it(`${c.item ? `[8.${c.item}] ` : ''}${c.name}: exit ${c.exit}`, { timeout: 90_000 }, async () => {
      const root = join(work, `case-${n++}`);
      mkdirSync(root);
      const argv = c.make(root, base);
      const outIndex = argv.indexOf('--out');
      const out = outIndex >= 0 ? argv[outIndex + 1] : undefined;
      const before = fingerprint(root);
      const beside = out && existsSync(dirname(out)) ? entries(dirname(out)) : [];
      const r = c.spawn ? kvantChild([...argv]) : await kvantInProcess(argv);
      const said = `exit ${r.code}\nstdout: ${r.out.slice(0, 2000)}\nstderr: ${r.err}`;
      expect(r.code, said).toBe(c.exit);
      expect(r.err, 'a stack trace').not.toMatch(/\n\s+at |internal error/);
      if (c.says) expect(r.err, said).toMatch(c.says);
      if (c.exit !== 0) {
        const errorLines = r.err.split('\n').filter((l) => /^kvant (quantize|memory): \w+Error: /.test(l));
        expect(errorLines, `one line naming the problem\n${said}`).toHaveLength(1);
        // The input is unchanged, and nothing was left beside --out.
        expect(fingerprint(root), 'the input tree changed').toBe(before);
        if (out && existsSync(dirname(out))) expect(entries(dirname(out))).toEqual(beside);
      } else if (out) {
        expect(entries(dirname(out))).toEqual([...new Set([...beside, 'out'])].sort());
        expect(entries(out)).toContain('config.json');
        c.check?.(out);
        rmSync(out, { recursive: true });
        expect(fingerprint(root), 'the input tree changed').toBe(before);
      }
    });
  }
});

/** Start the signal child; resolves once it has printed "ready" (its temporary folder exists). */
function startChild(target: string) {
  const child = spawn(tsx, [join(import.meta.dirname, 'signal-child.ts'), target], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const m = /ready (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, ready, exited };
}

const temporaries = (parent: string) => entries(parent).filter((e) => /^\.out\.(tmp|old)-\d+-[0-9a-f]{8}$/.test(e));

describe('[8.6] temporary output folders never outlive a run', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`removes the temporary folder on ${signal} and dies of the signal`, async () => {
      const parent = join(work, `signal-${signal}`);
      mkdirSync(parent);
      const { child, ready, exited } = startChild(join(parent, 'out'));
      await ready;
      expect(temporaries(parent)).toHaveLength(1);
      child.kill(signal); // tsx passes it on to the node process it runs
      expect([signal, 128 + (signal === 'SIGINT' ? 2 : 15)]).toContain(await exited);
      expect(entries(parent)).toEqual([]);
    });
  }

  it('after SIGKILL, the next run into the same folder removes the stale temporary (kvant\'s own, dead pid)', async () => {
    const parent = join(work, 'signal-KILL');
    mkdirSync(parent);
    const { ready, exited } = startChild(join(parent, 'out'));
    const pid = await ready; // the node process itself (tsx is a wrapper around it)
    process.kill(pid, 'SIGKILL');
    await exited;
    expect(temporaries(parent)).toHaveLength(1);
    // A look-alike that is not kvant's (no marker) is left alone.
    mkdirSync(join(parent, '.out.tmp-999999-0123abcd'));
    const r = await kvantInProcess(['quantize', base, '--out', join(parent, 'out')]);
    expect(r.code, r.err).toBe(0);
    expect(entries(parent)).toEqual(['.out.tmp-999999-0123abcd', 'out']);
  });
});

describe('[8.8] the text report is linear in the number of tensors', () => {
  it('formats 200,000 tensors in well under a second', async () => {
    const { reportRows } = await import('../commands/quantize');
    const { table } = await import('../command');
    const tensors = Array.from({ length: 200_000 }, (_, i) => ({ name: `model.layers.${i}.mlp.up_proj.weight`, shape: [4, 4], storedDtype: 'F32', quantized: i % 2 === 0, bytesBefore: 64, bytesAfter: 10, bitsPerParameter: 5 }));
    const started = performance.now();
    const text = table(reportRows({ tensors } as never));
    expect(performance.now() - started).toBeLessThan(1500);
    expect(text).toMatch(/up_proj\s+100000\s+1,600,000/);
  });
});

describe('[8.8] pnpm bench: usage errors exit 2 without a stack trace', () => {
  for (const args of [['--n', 'abc'], ['--n', '0'], ['--bogus'], ['--time', '-5'], ['--only', 'copy'], ['--suite', 'model', '--only', 'tiny'], ['--suite', 'nn', '--only', ' ']]) {
    it(`pnpm bench ${args.join(' ')}`, async () => {
      const { benchMain } = await import('@kvant/bench');
      let err = '';
      const w = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((s: string) => {
        err += s;
        return true;
      }) as typeof process.stderr.write;
      try {
        expect(await benchMain(args, () => {})).toBe(2);
      } finally {
        process.stderr.write = w;
      }
      expect(err).toMatch(/^pnpm bench: /);
      expect(err).not.toMatch(/\n\s+at /);
    });
  }
});

describe('[8.5] a path that is neither a file nor a preset', () => {
  it('kvant memory names it (exit 1)', async () => {
    const r = await kvantInProcess(['memory', join(work, 'no', 'such', 'config.json')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no such file or directory/);
  });
});
