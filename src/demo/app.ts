// The bundled demo: a task list per tenant (tenant schema) beside announcements
// shared by all (public schema). Plain node:http, no framework.
import type { IncomingMessage, ServerResponse, RequestListener } from 'node:http';
import type { Kysely, Selectable } from 'kysely';
import type { AppContext } from '../index.ts';
import { DatabaseUnavailableError } from '../index.ts';

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
  const text = await readBody(req);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(422, 'expected a JSON object');
  return value as Record<string, unknown>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBody) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A form post (application/x-www-form-urlencoded). */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'expected a form (application/x-www-form-urlencoded)');
  return new URLSearchParams(await readBody(req));
}

/**
 * A form post from another site's page is refused (403): browsers send Origin
 * with every POST, and it must name this tenant's own host.
 */
function sameOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new HttpError(403, 'cross-origin form post refused');
  }
  if (host !== req.headers.host) throw new HttpError(403, 'cross-origin form post refused');
}

/** The tenant's colour (settings.theme): a CSS colour name or #hex, else steelblue. */
function themeOf(settings: Readonly<Record<string, unknown>>): string {
  const theme = settings.theme;
  return typeof theme === 'string' && /^(#[0-9a-f]{3,8}|[a-z]{3,20})$/i.test(theme) ? theme : 'steelblue';
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
    const theme = html(themeOf(tenant.settings));
    const row = (t: TaskRow) => `<li data-id="${t.id}" class="${t.done ? 'done' : ''}"><span class="id">#${t.id}</span> <span class="title">${html(t.title)}</span>
<form method="post" action="/tasks/${t.id}/${t.done ? 'undo' : 'done'}"><button>${t.done ? 'Reopen' : 'Done'}</button></form>
<form method="post" action="/tasks/${t.id}/delete"><button class="delete">Delete</button></form></li>`;
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(tenant.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{--theme:${theme}}
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;border-top:.5rem solid var(--theme)}
h1{color:var(--theme)}
button{background:var(--theme);color:#fff;border:0;border-radius:.25rem;padding:.25rem .75rem;cursor:pointer}
button.delete{background:#666}
li{display:flex;gap:.5rem;align-items:center;margin:.25rem 0}
li form{margin:0}
.id{color:#888;font-variant-numeric:tabular-nums}
.done .title{text-decoration:line-through;color:#888}
input[name=title]{flex:1;padding:.25rem}
#add{display:flex;gap:.5rem}
</style></head>
<body><h1>${html(tenant.name)}</h1>
${hasTasks ? `<h2>Tasks</h2>
<form id="add" method="post" action="/tasks"><input name="title" required maxlength="${maxTitle}" placeholder="A new task" aria-label="New task"><button>Add</button></form>
<ul id="tasks">${tasks.map(row).join('\n')}</ul>${tasks.length === 0 ? '<p id="empty">No tasks yet.</p>' : ''}` : ''}
<h2>Announcements</h2>
<ul id="announcements">${notes.map((n) => `<li>${html(n.text)}</li>`).join('')}</ul>
</body></html>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** The page's forms: add, complete, reopen and delete a task, then back to the page (303). */
  async function form(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    sameOrigin(req);
    const fields = await readForm(req);
    if (rest === '') {
      await db.insertInto('tasks').values({ title: title(fields.get('title') ?? undefined, true)! }).execute();
    } else {
      const match = /^\/([^/]+)\/(done|undo|delete)$/.exec(rest);
      if (!match) throw new HttpError(404, 'not found');
      const id = taskId(match[1]!);
      const result = match[2] === 'delete'
        ? await db.deleteFrom('tasks').where('id', '=', id).executeTakeFirst()
        : await db.updateTable('tasks').set({ done: match[2] === 'done' }).where('id', '=', id).executeTakeFirst();
      const count = 'numDeletedRows' in result ? result.numDeletedRows : result.numUpdatedRows;
      if (count === 0n) throw new HttpError(404, 'no such task');
    }
    res.writeHead(303, { location: '/', 'content-length': 0 });
    res.end();
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://tenant');
    // HEAD is GET without a body (Node drops the body).
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    if (pathname === '/' && method === 'GET') return page(res);
    if (pathname === '/tasks' || pathname.startsWith('/tasks/')) {
      if (!hasTasks) throw new HttpError(404, 'the public site has no tasks');
      if (method !== 'POST') throw new HttpError(405, 'method not allowed', 'POST');
      return form(req, res, pathname.slice('/tasks'.length));
    }
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
