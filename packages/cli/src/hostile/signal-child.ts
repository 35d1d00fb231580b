/**
 * Child process of the signal tests: starts an atomic output folder at argv[2], writes a partial
 * file into it, prints "ready" and waits to be killed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '@kvant/formats';

const target = process.argv[2];
await writeDirAtomic(target, async (dir) => {
  writeFileSync(join(dir, 'model.safetensors'), new Uint8Array(1 << 16));
  process.stdout.write(`ready ${process.pid}\n`);
  await new Promise(() => setInterval(() => {}, 1000));
});
