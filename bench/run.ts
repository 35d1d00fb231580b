/** `pnpm bench`: see bench/src/main.ts. */
import { benchMain } from './src/main';

process.exitCode = await benchMain(process.argv.slice(2));
