#!/usr/bin/env node
// The `keyflow` command. The sources are TypeScript: tsx (a runtime dependency) is registered as
// an ESM loader in this process, so signals and exit codes reach src/cli/main.ts directly.
import { register } from 'tsx/esm/api';

// Under npm (`npx keyflow …`, `npm start`) this process runs below npm and a shell, and a SIGTERM
// sent to npm does not reach it: the shell dies without passing it on, and the node would keep
// running, orphaned. So when the process that started it goes away, stop as if signalled (the
// graceful shutdown runs once; a second SIGTERM would kill it mid-way, hence clearInterval).
if (process.env.npm_command !== undefined) {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 500);
  watch.unref();
}

register();
await import('../src/cli/main.ts');
