// defineApp: the identity function that gives an application module its types,
// in TypeScript and in plain JavaScript (through the editor's inference).
import type { RequestListener } from 'node:http';
import type { AppContext } from './app-context.ts';

/**
 * `export default defineApp((ctx) => (req, res) => { … })`: tenantd calls the
 * function once per worker with the tenant's context; it returns Node's request
 * listener (or a promise of one).
 */
export function defineApp<DB = any>(factory: (ctx: AppContext<DB>) => RequestListener | Promise<RequestListener>): (ctx: AppContext<DB>) => RequestListener | Promise<RequestListener> {
  return factory;
}
