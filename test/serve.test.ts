import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startService } from './helpers/service.ts';

const demo = `tenants:
  - schema: acme
    name: Acme Corporation
    hosts: [acme.localhost]
    settings: { theme: crimson }
  - schema: globex
    name: Globex
    hosts: [globex.localhost, "*.globex.localhost"]
`;

test('two tenants through the router keep their own tasks and share the announcements', async (t) => {
  const s = await startService(t, demo);

  const created = await s.send('acme.localhost', 'POST', '/api/tasks', { title: 'ship the anvils' });
  assert.equal(created.status, 201);
  assert.equal(created.json().title, 'ship the anvils');
  assert.equal(created.json().done, false);
  assert.match(created.json().createdAt, /^\d{4}-\d\d-\d\dT/);

  assert.deepEqual((await s.get('acme.localhost', '/api/tasks')).json().map((x: { title: string }) => x.title), ['ship the anvils']);
  assert.deepEqual((await s.get('globex.localhost', '/api/tasks')).json(), []);
  // The same id in the other tenant does not exist.
  assert.equal((await s.get('globex.localhost', `/api/tasks/${created.json().id}`)).status, 404);

  const acmeNotes = (await s.get('acme.localhost', '/api/announcements')).json();
  const globexNotes = (await s.get('ACME.localhost:8080', '/api/announcements')).json();
  assert.ok(acmeNotes.length >= 1);
  assert.deepEqual(globexNotes, acmeNotes);
  assert.deepEqual((await s.get('globex.localhost', '/api/announcements')).json(), acmeNotes);

  const acme = (await s.get('acme.localhost', '/api/tenant')).json();
  const globex = (await s.get('www.globex.localhost.', '/api/tenant')).json();
  assert.deepEqual({ schema: acme.schema, name: acme.name, settings: acme.settings }, { schema: 'acme', name: 'Acme Corporation', settings: { theme: 'crimson' } });
  assert.equal(globex.schema, 'globex');
  assert.notEqual(acme.pid, globex.pid);
  assert.notEqual(acme.pid, process.pid);
});

test('each tenant gets its own HTML page with its name, tasks and the announcements', async (t) => {
  const s = await startService(t, demo);
  await s.send('acme.localhost', 'POST', '/api/tasks', { title: 'Order <rockets> & "glue"' });
  const acme = await s.get('acme.localhost', '/');
  const globex = await s.get('globex.localhost', '/');
  assert.equal(acme.status, 200);
  assert.match(String(acme.headers['content-type']), /^text\/html/);
  assert.match(acme.body, /<h1>Acme Corporation<\/h1>/);
  assert.match(acme.body, /Order &lt;rockets&gt; &amp; &quot;glue&quot;/);
  assert.match(acme.body, /Welcome to tenantd/);
  assert.match(globex.body, /<h1>Globex<\/h1>/);
  assert.doesNotMatch(globex.body, /rockets/);
  assert.match(globex.body, /Welcome to tenantd/);
});

test('the demo API answers 400, 422 and 404 for bad input and updates and deletes tasks', async (t) => {
  const s = await startService(t, demo);
  const host = 'acme.localhost';
  assert.equal((await s.send(host, 'POST', '/api/tasks', '{not json')).status, 400);
  assert.equal((await s.send(host, 'POST', '/api/tasks', {})).status, 422);
  assert.equal((await s.send(host, 'POST', '/api/tasks', { title: '   ' })).status, 422);
  assert.equal((await s.send(host, 'POST', '/api/tasks', { title: 42 })).status, 422);
  assert.equal((await s.get(host, '/api/tasks/999')).status, 404);
  assert.equal((await s.get(host, '/api/tasks/abc')).status, 404);

  const { id } = (await s.send(host, 'POST', '/api/tasks', { title: 'first' })).json();
  assert.equal((await s.get(host, `/api/tasks/${id}`)).json().title, 'first');
  const patched = await s.send(host, 'PATCH', `/api/tasks/${id}`, { done: true, title: 'first, done' });
  assert.equal(patched.status, 200);
  assert.deepEqual([patched.json().done, patched.json().title], [true, 'first, done']);
  assert.equal((await s.send(host, 'PATCH', `/api/tasks/${id}`, { done: 'yes' })).status, 422);
  assert.equal((await s.send(host, 'PATCH', `/api/tasks/${id}`, { title: '' })).status, 422);
  assert.equal((await s.send(host, 'PATCH', '/api/tasks/999', { done: true })).status, 404);
  assert.equal((await s.send(host, 'PATCH', `/api/tasks/${id}`, 'nope')).status, 400);
  const put = await s.send(host, 'PUT', '/api/tasks', { title: 'x' });
  assert.deepEqual([put.status, put.headers.allow], [405, 'GET, POST']);
  const post = await s.send(host, 'POST', `/api/tasks/${id}`, { title: 'x' });
  assert.deepEqual([post.status, post.headers.allow], [405, 'GET, PATCH, DELETE']);
  const head = await s.send(host, 'HEAD', '/api/tasks');
  assert.deepEqual([head.status, head.body], [200, '']);
  assert.equal((await s.send(host, 'DELETE', `/api/tasks/${id}`)).status, 204);
  assert.equal((await s.send(host, 'DELETE', `/api/tasks/${id}`)).status, 404);
  assert.deepEqual((await s.get(host, '/api/tasks')).json(), []);
});

test('the public site is served with search_path=public and has no tasks', async (t) => {
  const s = await startService(t, `public:\n  hosts: [example.test, www.example.test]\n${demo}`);
  const page = await s.get('www.example.test', '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /Welcome to tenantd/);
  assert.equal((await s.get('example.test', '/api/tenant')).json().schema, 'public');
  assert.equal((await s.get('example.test', '/api/tasks')).status, 404);
});
