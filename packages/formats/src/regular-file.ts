/**
 * Reading input files safely: a path is refused unless it is a regular file after following
 * links, checked before it is opened (a FIFO would block `open` forever, and neither Ctrl-C nor
 * `timeout` could stop it), and again on the open handle (in case it was swapped in between).
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { describeErrno, FileSystemError, isErrnoError } from './fs-errors';

/** What a non-regular file is, in words. */
export function fileKind(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'something that is not a regular file';
}

/**
 * Check that `path` is a readable regular file (links followed); returns its stats.
 * Throws FileSystemError naming the path: missing, a dangling link, a folder, a FIFO, a device.
 */
export async function statRegularFile(path: string, what = 'a regular file'): Promise<Stats> {
  let s: Stats;
  try {
    s = await stat(path);
  } catch (e) {
    if (isErrnoError(e) && e.code === 'ENOENT') {
      const link = await lstat(path).then(
        (l) => l.isSymbolicLink(),
        () => false,
      );
      throw new FileSystemError(path, what, link ? 'a symbolic link to nothing (dangling)' : describeErrno('ENOENT'), 'ENOENT', { cause: e });
    }
    throw isErrnoError(e) ? new FileSystemError(path, what, describeErrno(e.code!), e.code!, { cause: e }) : e;
  }
  if (!s.isFile()) throw new FileSystemError(path, what, fileKind(s), 'ENOTFILE');
  return s;
}

/** Open a regular file for reading (never blocking on a FIFO); the caller closes the handle. */
export async function openRegularFile(path: string, what = 'a regular file'): Promise<FileHandle> {
  await statRegularFile(path, what);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: if a FIFO was swapped in after the stat, open returns at once instead of waiting for a writer.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw isErrnoError(e) ? new FileSystemError(path, `${what} that kvant may read`, describeErrno(e.code!), e.code!, { cause: e }) : e;
  }
  const s = await handle.stat();
  if (!s.isFile()) {
    await handle.close();
    throw new FileSystemError(path, what, fileKind(s), 'ENOTFILE');
  }
  return handle;
}

/** Read a whole regular file (see openRegularFile). */
export async function readRegularFile(path: string, what = 'a regular file'): Promise<Buffer> {
  const handle = await openRegularFile(path, what);
  try {
    return await handle.readFile();
  } catch (e) {
    throw isErrnoError(e) ? new FileSystemError(path, `${what} that kvant can read`, describeErrno(e.code!), e.code!, { cause: e }) : e;
  } finally {
    await handle.close();
  }
}
