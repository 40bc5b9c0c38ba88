// A notes service, one notebook per tenant, with categories shared by all
// tenants. Plain JavaScript and node:http: copy this folder to start your own
// application (see README.md).
import { defineApp, DatabaseUnavailableError } from 'tenantd';

const maxBody = 16 * 1024;

/** Sends `body` as JSON with `status`. */
function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An answer for the client: thrown by a route, sent by the listener. */
class HttpError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @param {import('node:http').IncomingMessage} req */
async function readJson(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > maxBody) throw new HttpError(413, 'body too large');
  }
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {}
  throw new HttpError(400, 'expected a JSON object');
}

export default defineApp((ctx) => {
  // Connections are pinned to the tenant's schema and log in as its own role:
  // `notes` is this tenant's table; shared tables are named with their schema.
  const { db, tenant, log } = ctx;

  const categories = () => db.selectFrom('public.categories').select(['name']).orderBy('name').execute();

  async function route(req, res) {
    const { pathname } = new URL(req.url ?? '/', 'http://tenant');
    if (pathname === '/' && req.method === 'GET') {
      return json(res, 200, { tenant: tenant.name, notes: '/api/notes', categories: '/api/categories' });
    }
    if (pathname === '/api/categories' && req.method === 'GET') {
      return json(res, 200, (await categories()).map((c) => c.name));
    }
    if (pathname === '/api/notes' && req.method === 'GET') {
      return json(res, 200, await db.selectFrom('notes').select(['id', 'text', 'category']).orderBy('id').execute());
    }
    if (pathname === '/api/notes' && req.method === 'POST') {
      const { text, category = 'general' } = await readJson(req);
      if (typeof text !== 'string' || text.trim() === '') throw new HttpError(422, 'text: expected a non-empty string');
      const known = (await categories()).map((c) => c.name);
      if (!known.includes(category)) throw new HttpError(422, `category: expected one of ${known.join(', ')}`);
      const note = await db.insertInto('notes').values({ text: text.trim(), category }).returning(['id', 'text', 'category']).executeTakeFirstOrThrow();
      return json(res, 201, note);
    }
    throw new HttpError(404, 'not found');
  }

  return (req, res) => {
    route(req, res).catch((error) => {
      if (error instanceof HttpError) return json(res, error.status, { error: error.message });
      // The database is restarting, say: tell the client to come back.
      if (error instanceof DatabaseUnavailableError) {
        res.setHeader('retry-after', String(error.retryAfter));
        return json(res, 503, { error: 'try again shortly' });
      }
      log.error({ err: error }, 'request failed');
      json(res, 500, { error: 'internal error' });
    });
  };
});
