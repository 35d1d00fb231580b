/**
 * File-system failures as typed errors. Node's errors (`ENOENT: no such file or directory, open
 * '/x'`) become a FileSystemError that names the path, says what kvant expected there and what the
 * system reported, so a full disk or an unwritable folder is one clear line, never a stack trace.
 */
import { KvantError } from '@kvant/abi';

/** What each errno means for the user, in words. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a path component that is a file, not a folder',
  EISDIR: 'a folder',
  EACCES: 'permission denied',
  EPERM: 'an operation not permitted',
  EROFS: 'a read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota exceeded',
  EFBIG: 'a file larger than the size limit (ulimit -f or the file system maximum)',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'a file name that is too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'an input/output error of the device',
  EEXIST: 'something that already exists',
  ENOTEMPTY: 'a folder that is not empty',
  EXDEV: 'a different file system (a rename cannot cross it)',
  EBUSY: 'a busy resource',
  ENXIO: 'a device or pipe with nothing on the other end',
  ETXTBSY: 'a file in use',
};

/** A file-system operation failed; `errno` is Node's code (ENOSPC, EACCES, …). */
export class FileSystemError extends KvantError {
  constructor(
    /** The path, as the user knows it. */
    readonly path: string,
    readonly expected: string,
    readonly found: string,
    /** Node's error code, e.g. `ENOSPC`, or `ENOTFILE` for a path that is not a regular file. */
    readonly errno: string,
    options?: { cause?: unknown },
  ) {
    super('E_FILE_SYSTEM', `${path}: expected ${expected}, found ${found}`, options);
  }
}

/** True for an error thrown by Node's fs (it has a string `code` such as `ENOENT`). */
export function isErrnoError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!);
}

/** The words for an errno code (the code itself when unknown). */
export function describeErrno(code: string): string {
  return ERRNO_TEXT[code] ? `${ERRNO_TEXT[code]} (${code})` : code;
}

/**
 * Map an error of a file-system call on `path` to a FileSystemError saying what was `expected`
 * (e.g. "a writable folder"). Errors that are not Node fs errors, and kvant's own, are returned as they are.
 */
export function fsError(e: unknown, path: string, expected: string): unknown {
  if (e instanceof KvantError || !isErrnoError(e)) return e;
  return new FileSystemError(path, expected, describeErrno(e.code!), e.code!, { cause: e });
}

/** Run `fn` and rethrow a Node fs error as a FileSystemError naming `path`. */
export async function withFsErrors<T>(path: string, expected: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fsError(e, path, expected);
  }
}
