// The demo page in a real headless browser (the system's Chromium, driven by
// puppeteer-core): add, complete and delete tasks with the page's own forms, each
// tenant in its own colour, and a task added on one tenant's page never shows on
// the other's. The form endpoints' refusals are checked over plain HTTP.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { makeCa } from './helpers/certificates.ts';
import { startService, tempDir, type RunningService } from './helpers/service.ts';

/** Debian's chromium package; TENANTD_CHROMIUM names another. */
const chromium = process.env.TENANTD_CHROMIUM ?? '/usr/bin/chromium';
/** CI installs the browser and sets this: there, a missing browser fails the test instead of skipping it. */
const required = process.env.TENANTD_REQUIRE_BROWSER === '1';
const noBrowser = existsSync(chromium) ? false : `no browser at ${chromium} (apt-get install chromium, or set TENANTD_CHROMIUM)`;

const demoTenants = `tenants:
  - schema: acme
    name: Acme Corporation
    hosts: [acme.test]
    settings: { theme: crimson }
  - schema: globex
    name: Globex
    hosts: [globex.test]
    settings: { theme: seagreen }
`;

async function launch(t: TestContext, port: number): Promise<Browser> {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // Every test host resolves to the service on loopback.
    args: ['--no-sandbox', `--host-resolver-rules=MAP *.test 127.0.0.1:${port}`],
  });
  t.after(() => browser.close());
  return browser;
}

/** The task titles on the page, in order, with whether each is done. */
function tasksOn(page: Page): Promise<{ id: string; title: string; done: boolean }[]> {
  return page.$$eval('#tasks li', (items) => items.map((li) => ({
    id: li.getAttribute('data-id') ?? '',
    title: li.querySelector('.title')?.textContent ?? '',
    done: li.classList.contains('done'),
  })));
}

/** Submits a form and waits for the page it redirects to. */
async function submit(page: Page, selector: string): Promise<void> {
  // A page in a background tab may not be given its load event: bring it forward.
  await page.bringToFront();
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click(selector)]);
}

test('the demo page in a browser: add, complete and delete tasks; each tenant its own list and colour', { skip: required ? false : noBrowser }, async (t) => {
  if (noBrowser) throw new Error(noBrowser);
  const s = await startService(t, demoTenants);
  const browser = await launch(t, s.port);
  const acme = await browser.newPage();
  const globex = await browser.newPage();
  await acme.goto('http://acme.test/');
  await globex.goto('http://globex.test/');
  assert.equal(await acme.$eval('h1', (h) => h.textContent), 'Acme Corporation');
  // Each tenant in its own colour (crimson, seagreen).
  assert.equal(await acme.$eval('h1', (h) => getComputedStyle(h).color), 'rgb(220, 20, 60)');
  assert.equal(await globex.$eval('h1', (h) => getComputedStyle(h).color), 'rgb(46, 139, 87)');
  assert.deepEqual(await tasksOn(acme), []);

  await acme.type('#add input[name=title]', 'Ship the <b>router</b>');
  await submit(acme, '#add button');
  await acme.type('#add input[name=title]', 'Write the docs');
  await submit(acme, '#add button');
  const added = await tasksOn(acme);
  assert.deepEqual(added.map((x) => [x.title, x.done]), [['Ship the <b>router</b>', false], ['Write the docs', false]]);
  assert.match(added[0]!.id, /^\d+$/);
  // Shown as text, with its id.
  assert.equal(await acme.$eval(`#tasks li[data-id="${added[0]!.id}"] .id`, (e) => e.textContent), `#${added[0]!.id}`);

  // The other tenant's page does not have it, and its API agrees.
  await globex.reload();
  assert.deepEqual(await tasksOn(globex), []);
  assert.deepEqual((await s.get('globex.test', '/api/tasks')).json(), []);

  await submit(acme, `#tasks li[data-id="${added[0]!.id}"] form[action$="/done"] button`);
  assert.deepEqual((await tasksOn(acme)).map((x) => [x.title, x.done]), [['Ship the <b>router</b>', true], ['Write the docs', false]]);
  await submit(acme, `#tasks li[data-id="${added[0]!.id}"] form[action$="/undo"] button`);
  assert.equal((await tasksOn(acme))[0]!.done, false);
  await submit(acme, `#tasks li[data-id="${added[1]!.id}"] form[action$="/delete"] button`);
  assert.deepEqual((await tasksOn(acme)).map((x) => x.title), ['Ship the <b>router</b>']);
  const api = (await s.get('acme.test', '/api/tasks')).json() as { title: string }[];
  assert.deepEqual(api.map((x) => x.title), ['Ship the <b>router</b>']);

  // globex adds its own; acme's list is unchanged.
  await globex.type('#add input[name=title]', 'Globex only');
  await submit(globex, '#add button');
  assert.deepEqual((await tasksOn(globex)).map((x) => x.title), ['Globex only']);
  await acme.reload();
  assert.deepEqual((await tasksOn(acme)).map((x) => x.title), ['Ship the <b>router</b>']);
});

/** A form post as a browser sends it. */
function post(s: RunningService, host: string, path: string, body: string, headers: Record<string, string> = {}) {
  return s.send(host, 'POST', path, body, { headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
}

test('the demo forms refuse another site\'s post, an unknown task, and a body that is not a form', async (t) => {
  const s = await startService(t, demoTenants);
  const added = await post(s, 'acme.test', '/tasks', 'title=One', { origin: 'http://acme.test' });
  assert.equal(added.status, 303);
  assert.equal(added.headers.location, '/');
  const [task] = (await s.get('acme.test', '/api/tasks')).json() as { id: number }[];
  // A page on another origin (another tenant included) cannot post to this one.
  assert.equal((await post(s, 'acme.test', `/tasks/${task!.id}/delete`, '', { origin: 'http://globex.test' })).status, 403);
  assert.equal((await post(s, 'acme.test', `/tasks/${task!.id}/delete`, '', { origin: 'null' })).status, 403);
  assert.equal((await post(s, 'acme.test', '/tasks/99999/done', '')).status, 404);
  assert.equal((await post(s, 'acme.test', '/tasks', 'title=')).status, 422);
  assert.equal((await s.send('acme.test', 'POST', '/tasks', { title: 'json' })).status, 415);
  assert.equal((await s.get('acme.test', '/tasks')).status, 405);
  assert.equal(((await s.get('acme.test', '/api/tasks')).json() as unknown[]).length, 1);
  assert.equal((await post(s, 'acme.test', `/tasks/${task!.id}/delete`, '', { origin: 'http://acme.test' })).status, 303);
  assert.deepEqual((await s.get('acme.test', '/api/tasks')).json(), []);
});

test('the demo page over HTTPS in a browser: TLS ends in the tenant\'s worker with its certificate (its key pinned), a secure context, and the forms work', { skip: required ? false : noBrowser }, async (t) => {
  if (noBrowser) throw new Error(noBrowser);
  const ca = makeCa(tempDir(t));
  const acme = ca.issue('acme', ['acme.test']);
  const files: Record<string, string> = {};
  for (const file of [acme.cert, acme.key]) files[`certs/${file}`] = readFileSync(path.join(ca.folder, file), 'utf8');
  const s = await startService(t, `tls:\n  listen: 127.0.0.1:0\n  certificates:\n    - cert: certs/acme.pem\n      key: certs/acme.key\n${demoTenants}`, { files });
  const tlsPort = s.service.tlsAddress.port;
  // The test CA is no system root: Chromium accepts a served chain holding this key (the sha256 of acme's certificate's SubjectPublicKeyInfo).
  const spki = createHash('sha256').update(new X509Certificate(files[`certs/${acme.cert}`]!).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', `--host-resolver-rules=MAP *.test 127.0.0.1:${tlsPort}`, `--ignore-certificate-errors-spki-list=${spki}`],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const response = await page.goto('https://acme.test/');
  assert.equal(response?.status(), 200);
  assert.equal(response?.securityDetails()?.subjectName(), 'acme.test');
  assert.equal(await page.evaluate(() => window.isSecureContext && location.protocol), 'https:');
  assert.equal(await page.$eval('h1', (h) => h.textContent), 'Acme Corporation');
  await page.type('#add input[name=title]', 'Served over TLS');
  await submit(page, '#add button');
  assert.deepEqual((await tasksOn(page)).map((x) => x.title), ['Served over TLS']);
  assert.equal(await page.evaluate(() => location.protocol), 'https:', 'the form\'s redirect stayed on HTTPS');
});
