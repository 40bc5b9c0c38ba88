// Protocol edges, answered as nginx answers them (or more strictly), the same
// on a connection's first request (the router) and on a later one (the worker
// that holds a handed-off connection): bare-LF heads refused at once, the
// asterisk form, TRACE, one header line over the limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RawConnection, type RawResponse } from './helpers/raw-http.ts';
import { probeApp, routerModes, startService, type RunningService } from './helpers/service.ts';

const config = `app: ${probeApp}
router:
  maxHeaderLineSize: 8k
  maxHeaderSize: 32k
tenants:
  - schema: acme
    hosts: [acme.test]
  - schema: globex
    hosts: [globex.test]
    allowTrace: true
`;

const seen = async (s: RunningService) => (await s.get('acme.test', '/count')).json().seen as number;

/** Sends `head` as the first request of a connection, or after one request on it (`later`); its response, and whether the connection closed. */
async function send(s: RunningService, later: boolean, head: string): Promise<{ reply: RawResponse; closed: boolean }> {
  const c = new RawConnection(s.port);
  try {
    if (later) assert.equal((await c.get('acme.test', '/whoami')).status, 200);
    await c.write(head);
    const reply = await c.next();
    if (reply.headers.connection === 'close') await c.closedByServer();
    return { reply, closed: c.closed };
  } finally {
    c.close();
  }
}

for (const { handoff, label } of routerModes) {
  for (const later of [false, true]) {
    const where = `${later ? 'a later request' : 'the first request'}${label}`;

    test(`a head whose lines end in LF alone gets 400 at once, never held until headersTimeout (${where})`, async (t) => {
      const s = await startService(t, config, { handoff });
      for (const head of ['GET /whoami HTTP/1.1\nHost: acme.test\n\n', 'GET /whoami HTTP/1.1\r\nHost: acme.test\nX-A: b\r\n\r\n', 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\nX-A: b\rc\r\n\r\n']) {
        // headersTimeout is 60 s: a held connection fails the 10 s wait for the answer.
        const { reply, closed } = await send(s, later, head);
        assert.equal(reply.status, 400, JSON.stringify(head));
        assert.equal(closed, true);
      }
    });

    test(`OPTIONS * is answered by tenantd with Allow; another method with * gets 400; neither reaches the application (${where})`, async (t) => {
      const s = await startService(t, config, { handoff });
      const before = await seen(s);
      const options = await send(s, later, 'OPTIONS * HTTP/1.1\r\nHost: acme.test\r\n\r\n');
      assert.equal(options.reply.status, 200);
      assert.equal(options.reply.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
      assert.equal(options.reply.body.length, 0);
      const get = await send(s, later, 'GET * HTTP/1.1\r\nHost: acme.test\r\n\r\n');
      assert.equal(get.reply.status, 400);
      assert.equal(get.closed, true);
      // The count request itself, and the `later` requests: nothing else reached the app.
      assert.equal(await seen(s), before + 1 + (later ? 2 : 0));
    });

    test(`TRACE gets 405 with Allow unless the tenant allows it (${where})`, async (t) => {
      const s = await startService(t, config, { handoff });
      const before = await seen(s);
      const refused = await send(s, later, 'TRACE /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n');
      assert.equal(refused.reply.status, 405);
      assert.match(refused.reply.headers.allow ?? '', /GET/);
      assert.doesNotMatch(refused.reply.headers.allow ?? '', /TRACE/);
      assert.equal(await seen(s), before + 1 + (later ? 1 : 0), 'the refused TRACE never reached the application');
      // globex allows it: its application answers.
      const c = new RawConnection(s.port);
      t.after(() => c.close());
      if (later) assert.equal((await c.get('globex.test', '/whoami')).status, 200);
      await c.write('TRACE /whoami HTTP/1.1\r\nHost: globex.test\r\n\r\n');
      const allowed = await c.next();
      assert.equal(allowed.status, 200);
      assert.equal(JSON.parse(allowed.body.toString()).schema, 'globex');
    });

    test(`a header line over router.maxHeaderLineSize gets 431 and a request line over it 414, under it passes (${where})`, async (t) => {
      const s = await startService(t, config, { handoff });
      const long = await send(s, later, `GET /whoami HTTP/1.1\r\nHost: acme.test\r\nX-Long: ${'a'.repeat(10 * 1024)}\r\n\r\n`);
      assert.equal(long.reply.status, 431);
      assert.equal(long.closed, true);
      const target = await send(s, later, `GET /whoami?q=${'a'.repeat(9 * 1024)} HTTP/1.1\r\nHost: acme.test\r\n\r\n`);
      assert.equal(target.reply.status, 414);
      const under = await send(s, later, `GET /whoami HTTP/1.1\r\nHost: acme.test\r\nX-Long: ${'a'.repeat(7 * 1024)}\r\nX-More: ${'b'.repeat(7 * 1024)}\r\n\r\n`);
      assert.equal(under.reply.status, 200, 'two long lines under the per-line limit pass: the limit is per line');
    });
  }
}
