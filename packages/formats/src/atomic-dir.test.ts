import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@kvant/abi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutputPath, writeDirAtomic, writeFileAtomic } from './atomic-dir';
import { OutputExistsError } from './errors';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kvant-atomic-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeDirAtomic', () => {
  it('builds the folder under a temporary sibling and renames it into place', async () => {
    const target = join(root, 'a', 'out');
    let seenTmp = '';
    const result = await writeDirAtomic(target, async (tmp) => {
      seenTmp = tmp;
      expect(tmp.startsWith(join(root, 'a', '.out.tmp-'))).toBe(true);
      await writeFile(join(tmp, 'x.txt'), 'x');
      // while building, the target does not exist yet
      await expect(readdir(target)).rejects.toThrow(/ENOENT/);
      return 42;
    });
    expect(result).toBe(42);
    expect(await readFile(join(target, 'x.txt'), 'utf8')).toBe('x');
    expect(await readdir(join(root, 'a'))).toEqual(['out']);
    expect(seenTmp).not.toBe(target);
  });

  it('refuses an existing target with a typed error before building anything', async () => {
    const target = join(root, 'exists');
    await mkdir(target);
    let built = false;
    const err = await writeDirAtomic(target, async () => {
      built = true;
    }).catch((e) => e);
    expect(err).toBeInstanceOf(OutputExistsError);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(target);
    expect(err.message).toContain('force');
    expect(built).toBe(false);
    await expect(checkOutputPath(target)).rejects.toBeInstanceOf(OutputExistsError);
    await expect(checkOutputPath(target, { force: true })).resolves.toBeUndefined();
  });

  it('replaces an existing target with force, leaving no old or temporary folder', async () => {
    const target = join(root, 'replace', 'out');
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'old.txt'), 'old');
    await writeDirAtomic(target, async (tmp) => writeFile(join(tmp, 'new.txt'), 'new'), { force: true });
    expect(await readdir(target)).toEqual(['new.txt']);
    expect(await readdir(join(root, 'replace'))).toEqual(['out']);
  });

  it('leaves nothing behind, and an existing target untouched, when the build fails', async () => {
    const parent = join(root, 'fail');
    const target = join(parent, 'out');
    await mkdir(target, { recursive: true });
    await writeFile(join(target, 'keep.txt'), 'keep');
    const failing = writeDirAtomic(
      target,
      async (tmp) => {
        await writeFile(join(tmp, 'half.txt'), 'half');
        throw new Error('simulated failure halfway');
      },
      { force: true },
    );
    await expect(failing).rejects.toThrow('simulated failure halfway');
    expect(await readdir(parent)).toEqual(['out']);
    expect(await readdir(target)).toEqual(['keep.txt']);

    const fresh = join(parent, 'fresh');
    await expect(
      writeDirAtomic(fresh, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readdir(parent)).toEqual(['out']);
  });

  it('refuses when someone else created the target while it was being built', async () => {
    const target = join(root, 'race', 'out');
    const err = await writeDirAtomic(target, async (tmp) => {
      await writeFile(join(tmp, 'mine.txt'), 'mine');
      await mkdir(target, { recursive: true });
      await writeFile(join(target, 'theirs.txt'), 'theirs');
    }).catch((e) => e);
    expect(err).toBeInstanceOf(OutputExistsError);
    expect(await readdir(target)).toEqual(['theirs.txt']);
    expect(await readdir(join(root, 'race'))).toEqual(['out']);
  });
});

describe('writeFileAtomic', () => {
  it('writes bytes, text, or through a handle, and replaces an existing file', async () => {
    const path = join(root, 'f.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(new Uint8Array(await readFile(path))).toEqual(new Uint8Array([1, 2, 3]));
    await writeFileAtomic(path, 'text');
    expect(await readFile(path, 'utf8')).toBe('text');
    await writeFileAtomic(path, async (h) => {
      await h.write('via handle');
    });
    expect(await readFile(path, 'utf8')).toBe('via handle');
  });

  it('keeps the old file and removes the temporary one when writing fails', async () => {
    const sub = join(root, 'ff');
    await mkdir(sub);
    const path = join(sub, 'f.txt');
    await writeFile(path, 'old');
    await expect(
      writeFileAtomic(path, async (h) => {
        await h.write('partial');
        throw new Error('disk full (simulated)');
      }),
    ).rejects.toThrow('disk full');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(sub)).toEqual(['f.txt']);
  });
});
