#!/usr/bin/env -S npx tsx
/** The `kvant` executable: `kvant <command> [options]`; `kvant --help` lists the commands. */
import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`kvant: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
