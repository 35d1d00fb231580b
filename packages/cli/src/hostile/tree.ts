/**
 * Test support for the hostile-input suite: a fingerprint of a folder tree (to prove an input was
 * left byte-for-byte unchanged), and `kvant` run in-process with its output captured.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../main';

/** Every entry under `path` with its type and content hash (links by target, FIFOs and devices by kind). */
export function fingerprint(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string, rel: string) => {
    let s: ReturnType<typeof lstatSync>;
    try {
      s = lstatSync(p);
    } catch {
      h.update(`${rel}:missing\n`);
      return;
    }
    if (s.isSymbolicLink()) h.update(`${rel}:link:${readlinkSync(p)}\n`);
    else if (s.isDirectory()) {
      h.update(`${rel}:dir:${s.mode}\n`);
      for (const e of readdirSync(p).sort()) walk(join(p, e), `${rel}/${e}`);
    } else if (s.isFile()) h.update(`${rel}:file:${s.mode}:${createHash('sha256').update(readFileSync(p)).digest('hex')}\n`);
    else h.update(`${rel}:special:${s.mode}\n`);
  };
  walk(path, '.');
  return h.digest('hex');
}

/** Run `kvant <argv>` in this process; stdout and stderr are captured, not printed. */
export async function kvantInProcess(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    err += s;
    return true;
  }) as typeof process.stderr.write;
  try {
    let code: number;
    try {
      code = await main(argv);
    } catch (e) {
      // What bin.ts would print: an internal error (the suite fails on it).
      err += `kvant: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`;
      code = 70;
    }
    return { code, out, err };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}
