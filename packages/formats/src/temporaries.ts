/**
 * kvant's temporary outputs: every output is built under a hidden sibling name
 * `.<name>.tmp-<pid>-<8 hex>` (and an output being replaced is parked as `.<name>.old-<pid>-<8 hex>`),
 * so the final rename is atomic. This module
 * - removes those temporaries when the process gets SIGINT, SIGTERM or SIGHUP, then dies of the signal
 *   (unless the program handles that signal itself: then its writes are left to finish);
 * - removes stale ones at the next run: only names of that pattern, owned by this user, whose process
 *   is gone (and, for folders, that carry kvant's marker file from this host). An `.old-` folder whose
 *   output is missing (killed between the two renames of a replacement) is renamed back instead.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The marker file inside a temporary output folder: JSON `{pid, host, started}`. */
export const PARTIAL_MARKER = '.kvant-partial';

const PATTERN = /^\.(.+)\.(tmp|old)-(\d+)-([0-9a-f]{8})$/;

/** A temporary sibling of `path`: same folder (so the final rename is atomic), hidden, unique. */
export function temporarySibling(path: string, tag: 'tmp' | 'old'): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write kvant's marker into a temporary output folder (so a later run knows it may remove it). */
export async function writePartialMarker(dir: string): Promise<void> {
  await writeFile(join(dir, PARTIAL_MARKER), `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() })}\n`);
}

const live = new Set<string>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onSignal(signal: NodeJS.Signals): void {
  // Another listener handles this signal (kvant train's Ctrl-C finishes its step and its writes, then
  // exits): leave the writes in progress alone. Temporaries left by a later death are removed by the
  // next run (removeStaleTemporaries).
  if (process.listenerCount(signal) > 1) return;
  for (const p of live) rmSync(p, { recursive: true, force: true });
  live.clear();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  // Die of the same signal, as the default action would have (exit status 128 + n for the shell).
  process.kill(process.pid, signal);
}

/**
 * Track a temporary path: removed if the process gets SIGINT/SIGTERM/SIGHUP before `untrack()`.
 * Returns `untrack`.
 */
export function trackTemporary(path: string): () => void {
  if (live.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  live.add(path);
  return () => {
    live.delete(path);
    if (live.size === 0) for (const s of SIGNALS) process.removeListener(s, onSignal);
  };
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

function markerIsOurs(dir: string): boolean {
  try {
    const m = JSON.parse(readFileSync(join(dir, PARTIAL_MARKER), 'utf8')) as { pid?: unknown; host?: unknown };
    return typeof m.pid === 'number' && m.host === hostname();
  } catch {
    return false;
  }
}

/**
 * Remove kvant's stale temporaries in `folder` (see the module comment); returns what was removed
 * or restored. Never throws: a temporary it cannot inspect is left alone.
 */
export function removeStaleTemporaries(folder: string): string[] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const done: string[] = [];
  for (const name of names) {
    const m = PATTERN.exec(name);
    if (!m) continue;
    const path = join(folder, name);
    try {
      const s = lstatSync(path);
      if (uid !== undefined && s.uid !== uid) continue;
      if (processAlive(Number(m[3]))) continue;
      if (s.isDirectory() && m[2] === 'tmp' && !markerIsOurs(path)) continue;
      if (!s.isDirectory() && !s.isFile()) continue;
      const original = join(folder, m[1]);
      if (m[2] === 'old' && !exists(original)) {
        renameSync(path, original);
        done.push(`restored ${original}`);
      } else {
        rmSync(path, { recursive: true, force: true });
        done.push(`removed ${path}`);
      }
    } catch {
      // Leave what cannot be inspected or removed.
    }
  }
  return done;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
