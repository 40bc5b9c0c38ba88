// The checkout's root folder. A bundle built by src/build/bundle.ts (workers,
// the config thread) is told it at build time, since it runs from elsewhere;
// the sources and the compiled primary (dist/tenantd.mjs) sit one level below it.
import { fileURLToPath } from 'node:url';

declare const __TENANTD_ROOT__: string | undefined;

export const projectRoot: string = typeof __TENANTD_ROOT__ === 'string' ? __TENANTD_ROOT__ : fileURLToPath(new URL('..', import.meta.url));
