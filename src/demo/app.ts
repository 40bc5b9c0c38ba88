// The bundled demo: a task list per tenant (tenant schema) beside announcements
// shared by all (public schema). Plain node:http, no framework.
import type { IncomingMessage, ServerResponse, RequestListener } from 'node:http';
import type { Kysely, Selectable } from 'kysely';
import type { AppContext } from '../worker/app-context.ts';
import { DatabaseUnavailableError } from '../errors.ts';

interface Database {
  tasks: { id: number | undefined; title: string; done: boolean | undefined; created_at: Date | undefined };
  /** Shared, in public: the tenant's search_path holds only its own schema, so the name is qualified. */
  'public.announcements': { id: number; text: string; created_at: Date };
}

type TaskRow = Selectable<Database['tasks']>;

const maxBody = 64 * 1024;
const maxTitle = 500;

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly allow?: string) {
    super(message);
  }
}

function task(row: TaskRow) {
  return { id: row.id, title: row.title, done: row.done, createdAt: row.created_at };
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBody) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(422, 'expected a JSON object');
  return value as Record<string, unknown>;
}

function title(value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(422, 'title: expected a non-empty string');
  if (value.length > maxTitle) throw new HttpError(422, `title: at most ${maxTitle} characters`);
  return value.trim();
}

function taskId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id < 1 || id > 2_147_483_647) throw new HttpError(404, 'no such task');
  return id;
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const html = (text: string) => text.replace(/[&<>"']/g, (c) => escapes[c]!);

export default function demoApp(ctx: AppContext<Database>): RequestListener {
  const db: Kysely<Database> = ctx.db;
  const { tenant } = ctx;
  const hasTasks = tenant.schema !== 'public';

  const announcements = () => db.selectFrom('public.announcements').selectAll().orderBy('id', 'desc').limit(50).execute();
  const findTask = async (id: number) => {
    const row = await db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new HttpError(404, 'no such task');
    return row;
  };

  async function page(res: ServerResponse): Promise<void> {
    const [tasks, notes] = await Promise.all([
      hasTasks ? db.selectFrom('tasks').selectAll().orderBy('id').execute() : Promise.resolve([]),
      announcements(),
    ]);
    const theme = typeof tenant.settings.theme === 'string' ? tenant.settings.theme : 'steelblue';
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(tenant.name)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}h1{color:${html(theme)}}.done{text-decoration:line-through}</style></head>
<body><h1>${html(tenant.name)}</h1>
${hasTasks ? `<h2>Tasks</h2>\n<ul id="tasks">${tasks.map((t) => `<li class="${t.done ? 'done' : ''}">${html(t.title)}</li>`).join('')}</ul>${tasks.length === 0 ? '<p>No tasks yet: <code>POST /api/tasks {"title": "..."}</code></p>' : ''}` : ''}
<h2>Announcements</h2>
<ul id="announcements">${notes.map((n) => `<li>${html(n.text)}</li>`).join('')}</ul>
</body></html>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://tenant');
    // HEAD is GET without a body (Node drops the body).
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    if (pathname === '/' && method === 'GET') return page(res);
    if (pathname === '/api/tenant' && method === 'GET') {
      return send(res, 200, { schema: tenant.schema, name: tenant.name, settings: tenant.settings, pid: process.pid });
    }
    if (pathname === '/api/announcements' && method === 'GET') {
      return send(res, 200, (await announcements()).map((n) => ({ id: n.id, text: n.text, createdAt: n.created_at })));
    }
    if (pathname === '/api/tasks' || pathname.startsWith('/api/tasks/')) {
      if (!hasTasks) throw new HttpError(404, 'the public site has no tasks');
      const rest = pathname.slice('/api/tasks'.length);
      if (rest === '' && method === 'GET') {
        return send(res, 200, (await db.selectFrom('tasks').selectAll().orderBy('id').execute()).map(task));
      }
      if (rest === '' && method === 'POST') {
        const body = await readJson(req);
        const row = await db.insertInto('tasks').values({ title: title(body.title, true)! }).returningAll().executeTakeFirstOrThrow();
        return send(res, 201, task(row));
      }
      if (rest === '') throw new HttpError(405, 'method not allowed', 'GET, POST');
      const match = /^\/([^/]+)$/.exec(rest);
      if (match) {
        const id = taskId(match[1]!);
        if (method === 'GET') return send(res, 200, task(await findTask(id)));
        if (method === 'PATCH') {
          const body = await readJson(req);
          const changes: { title?: string; done?: boolean } = {};
          const newTitle = title(body.title, false);
          if (newTitle !== undefined) changes.title = newTitle;
          if (body.done !== undefined) {
            if (typeof body.done !== 'boolean') throw new HttpError(422, 'done: expected true or false');
            changes.done = body.done;
          }
          if (Object.keys(changes).length === 0) {
            await findTask(id);
            throw new HttpError(422, 'expected title or done');
          }
          const row = await db.updateTable('tasks').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
          if (!row) throw new HttpError(404, 'no such task');
          return send(res, 200, task(row));
        }
        if (method === 'DELETE') {
          const result = await db.deleteFrom('tasks').where('id', '=', id).executeTakeFirst();
          if (result.numDeletedRows === 0n) throw new HttpError(404, 'no such task');
          return send(res, 204);
        }
        throw new HttpError(405, 'method not allowed', 'GET, PATCH, DELETE');
      }
    }
    throw new HttpError(404, 'not found');
  }

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) {
        if (error.allow) res.setHeader('allow', error.allow);
        send(res, error.status, { error: error.message });
        return;
      }
      // The database is away (restarting, say): the client should come back shortly.
      if (error instanceof DatabaseUnavailableError && !res.headersSent) {
        res.setHeader('retry-after', String(error.retryAfter));
        send(res, 503, { error: 'the database is unavailable; try again shortly' });
        return;
      }
      ctx.log.error({ err: error, method: req.method, path: req.url }, 'request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
}
