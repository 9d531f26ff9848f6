#!/usr/bin/env node
// The `keyflow` command. The sources are TypeScript: tsx (a runtime dependency) is registered as
// an ESM loader in this process, so signals and exit codes reach src/cli/main.ts directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
