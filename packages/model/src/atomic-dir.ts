/**
 * Atomic outputs: a file or a whole folder is built under a temporary sibling name and renamed
 * into place at the end, so a reader (or a crash) never sees it half-written. A rename within one
 * directory is atomic on POSIX file systems.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, type FileHandle, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { OutputExistsError } from './errors';

/** A temporary sibling of `path`: same directory (so the final rename is atomic), hidden, unique. */
export function temporarySibling(path: string, tag: 'tmp' | 'old'): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** True when something exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throw OutputExistsError when `path` exists and `force` is not set (call it before long work). */
export async function checkOutputPath(path: string, options: { force?: boolean } = {}): Promise<void> {
  if (!options.force && (await pathExists(path))) throw new OutputExistsError(path);
}

export interface AtomicFileOptions {
  /** fsync the file before the rename, so a crash leaves either the old or the new file (default true). */
  readonly fsync?: boolean;
}

/**
 * Write a file atomically: `content` (bytes, text, or a function that writes through the handle) goes
 * to a temporary sibling, which is renamed over `path` only when everything was written. On any
 * error the temporary file is removed and `path` is untouched.
 */
export async function writeFileAtomic(
  path: string,
  content: Uint8Array | string | ((handle: FileHandle) => Promise<void>),
  options: AtomicFileOptions = {},
): Promise<void> {
  const tmp = temporarySibling(path, 'tmp');
  const handle = await open(tmp, 'wx');
  try {
    if (typeof content === 'function') await content(handle);
    else await handle.writeFile(content);
    if (options.fsync ?? true) await handle.datasync();
    await handle.close();
    await rename(tmp, path);
  } catch (e) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

export interface AtomicDirOptions {
  /** Replace an existing `target` (atomically: the old one is renamed away, then deleted). */
  readonly force?: boolean;
}

/**
 * Build a folder atomically: `build` fills a temporary sibling directory, which is renamed to
 * `target` when `build` resolves. An existing `target` is refused with OutputExistsError (checked
 * before `build` runs and again before the rename) unless `force`. On any error the temporary
 * directory is removed and `target` is as it was. Returns what `build` returns.
 */
export async function writeDirAtomic<T>(target: string, build: (tmpDir: string) => Promise<T>, options: AtomicDirOptions = {}): Promise<T> {
  const path = resolve(target);
  await checkOutputPath(path, options);
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path, 'tmp');
  await mkdir(tmp);
  let result: T;
  try {
    result = await build(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  try {
    if (await pathExists(path)) {
      if (!options.force) throw new OutputExistsError(path);
      const old = temporarySibling(path, 'old');
      await rename(path, old);
      try {
        await rename(tmp, path);
      } catch (e) {
        await rename(old, path);
        throw e;
      }
      await rm(old, { recursive: true, force: true });
    } else {
      try {
        await rename(tmp, path);
      } catch (e) {
        // Someone created `path` between the check and the rename.
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'EISDIR') throw new OutputExistsError(path);
        throw e;
      }
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return result;
}
