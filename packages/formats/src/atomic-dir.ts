/**
 * Atomic outputs, the one way kvant writes: a file or a whole folder is built under a temporary
 * sibling name and renamed into place at the end, so a reader (or a crash) never sees it
 * half-written. A rename within one folder is atomic on POSIX file systems.
 *
 * Every command that writes (quantized models today; checkpoints, adapters, merged models and GGUF
 * files later) goes through writeDirAtomic or writeFileAtomic, which together keep the guarantees of
 * docs/guarantees.md:
 * - the output never overlaps an input (`inputs`), with or without `force` (checkOutputOutsideInputs);
 * - an existing output is replaced only with `force`, and only at the final rename;
 * - the output location is created and proven writable before any work (`build` runs after);
 * - on an error, SIGINT, SIGTERM or SIGHUP the temporary is removed; after a SIGKILL, the next run
 *   into the same folder removes it (removeStaleTemporaries);
 * - file-system failures are FileSystemErrors naming the final path, not the temporary one.
 */
import { constants } from 'node:fs';
import { access, type FileHandle, lstat, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OutputExistsError } from './errors';
import { FileSystemError, fsError, isErrnoError } from './fs-errors';
import { checkOutputOutsideInputs } from './output-safety';
import { PARTIAL_MARKER, removeStaleTemporaries, temporarySibling, trackTemporary, writePartialMarker } from './temporaries';

export { temporarySibling } from './temporaries';

/** True when something (even a dangling link) exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    try {
      await access(path, constants.F_OK);
      return true;
    } catch {
      return false;
    }
  }
}

/** Options shared by the atomic writers. */
export interface AtomicOutputOptions {
  /** Replace an existing output (atomically: the old one is renamed away, then deleted). */
  readonly force?: boolean;
  /** Input paths (folders and files) the output must not overlap; see checkOutputOutsideInputs. */
  readonly inputs?: readonly string[];
}

/**
 * Check an output path before long work: it must not overlap `inputs`, and must not exist unless
 * `force`. Throws OutputOverlapsInputError or OutputExistsError.
 */
export async function checkOutputPath(path: string, options: AtomicOutputOptions = {}): Promise<void> {
  await checkOutputOutsideInputs(path, options.inputs ?? []);
  if (!options.force && (await pathExists(path))) throw new OutputExistsError(path);
}

/**
 * Create `folder` and its missing parents one at a time (Node's recursive mkdir can loop forever
 * on a file system that refuses creation with ENOENT, such as /proc).
 */
async function makeFolders(folder: string): Promise<void> {
  const missing: string[] = [];
  let p = folder;
  while (!(await pathExists(p))) {
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const m of missing) await mkdir(m);
}

/** Create the parent folder of an output (mapping failures to FileSystemError) and clear kvant's stale temporaries there. */
async function prepareParent(path: string): Promise<void> {
  const parent = dirname(path);
  try {
    await makeFolders(parent);
  } catch (e) {
    throw fsError(e, parent, 'a folder kvant can create the output in');
  }
  removeStaleTemporaries(parent);
}

/** Report an fs error under the final path when it happened inside the temporary one. */
function underFinalName(e: unknown, tmp: string, path: string, expected: string): unknown {
  if (e instanceof FileSystemError && e.path.includes(tmp)) return new FileSystemError(e.path.replace(tmp, path), e.expected, e.found, e.errno, { cause: e });
  if (!isErrnoError(e)) return e;
  const where = typeof e.path === 'string' ? e.path.replace(tmp, path) : path;
  return fsError(e, where, expected);
}

export interface AtomicFileOptions extends AtomicOutputOptions {
  /** fsync the file before the rename, so a crash leaves either the old or the new file (default true). */
  readonly fsync?: boolean;
  /** Check `force`/`inputs` and existence (default false: the file is replaced, as inside a folder being built). */
  readonly checkOutput?: boolean;
}

/**
 * Write a file atomically: `content` (bytes, text, or a function that writes through the handle) goes
 * to a temporary sibling, which is renamed over `path` only when everything was written. On any
 * error or signal the temporary file is removed and `path` is untouched.
 */
export async function writeFileAtomic(
  path: string,
  content: Uint8Array | string | ((handle: FileHandle) => Promise<void>),
  options: AtomicFileOptions = {},
): Promise<void> {
  if (options.checkOutput) {
    await checkOutputPath(path, options);
    await prepareParent(resolve(path));
  }
  const tmp = temporarySibling(path, 'tmp');
  let handle: FileHandle;
  try {
    handle = await open(tmp, 'wx');
  } catch (e) {
    throw fsError(e, path, 'a location where kvant can write a file');
  }
  const untrack = trackTemporary(tmp);
  try {
    if (typeof content === 'function') await content(handle);
    else await handle.writeFile(content);
    if (options.fsync ?? true) await handle.datasync();
    await handle.close();
    await rename(tmp, path);
  } catch (e) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw underFinalName(e, tmp, path, 'a file kvant can write');
  } finally {
    untrack();
  }
}

/** Options of writeDirAtomic. */
export type AtomicDirOptions = AtomicOutputOptions;

/**
 * Build a folder atomically: `build` fills a temporary sibling folder, which is renamed to
 * `target` when `build` resolves. Before `build` runs: the target is checked against `inputs`
 * and for existence (OutputExistsError unless `force`), its parent is created, and the temporary
 * folder is created (so an unwritable location fails before any work). An existing `target` is
 * replaced only at the end. On any error or signal the temporary folder is removed and `target`
 * is as it was. Returns what `build` returns.
 */
export async function writeDirAtomic<T>(target: string, build: (tmpDir: string) => Promise<T>, options: AtomicOutputOptions = {}): Promise<T> {
  const path = resolve(target);
  await checkOutputPath(path, options);
  await prepareParent(path);
  const tmp = temporarySibling(path, 'tmp');
  try {
    await mkdir(tmp);
  } catch (e) {
    throw fsError(e, target, 'a location where kvant can create the output folder');
  }
  const untrack = trackTemporary(tmp);
  try {
    await writePartialMarker(tmp);
    const result = await build(tmp);
    await rm(`${tmp}/${PARTIAL_MARKER}`, { force: true });
    await commit(tmp, path, options);
    return result;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw underFinalName(e, tmp, path, 'a location where kvant can write the output');
  } finally {
    untrack();
  }
}

/** Rename the finished temporary folder to `path`, replacing an existing one only with `force`. */
async function commit(tmp: string, path: string, options: AtomicOutputOptions): Promise<void> {
  if (await pathExists(path)) {
    if (!options.force) throw new OutputExistsError(path);
    await checkOutputOutsideInputs(path, options.inputs ?? []); // again: the path may have changed during the work
    // The old output is parked, not tracked for signal cleanup: if the process dies between the two
    // renames, the next run renames it back (removeStaleTemporaries) rather than losing it.
    const old = temporarySibling(path, 'old');
    await rename(path, old);
    try {
      await rename(tmp, path);
    } catch (e) {
      await rename(old, path);
      throw e;
    }
    await rm(old, { recursive: true, force: true });
    return;
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    // Someone created `path` between the check and the rename.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'EISDIR') throw new OutputExistsError(path);
    throw e;
  }
}
