#!/usr/bin/env node
// Entry point: TypeScript sources run through tsx, so a checkout needs no build.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
await run(process.argv.slice(2));
