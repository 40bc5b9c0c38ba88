// Every way a client can end a request early — a body over the limit (declared
// or chunked), a head too slow, too large or malformed, a reset mid-body or
// mid-response, an application too slow — as the first request of a connection
// and as a later one on a kept-alive connection: the tenant's worker answers or
// closes, and lives on (same pid, no restart), and the tenant still serves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RawConnection } from './helpers/raw-http.ts';
import { probeApp, routerModes, startService, type RunningService } from './helpers/service.ts';

const config = `app: ${probeApp}
router:
  bodyLimit: 1k
  maxHeaderSize: 4k
  headersTimeout: 600ms
  upstreamTimeout: 500ms
tenants:
  - schema: acme
    hosts: [acme.test]
`;

const chunk = (n: number) => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;

interface Case {
  name: string;
  /** Sends the request on `c` and waits for the outcome it expects. */
  run(c: RawConnection): Promise<void>;
}

const expectStatus = async (c: RawConnection, status: number) => {
  const reply = await c.next();
  assert.equal(reply.status, status, reply.head);
};

const cases: Case[] = [
  {
    name: '413, declared length',
    async run(c) {
      await c.write(`POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(100)}`);
      await expectStatus(c, 413);
      await c.closedByServer();
    },
  },
  {
    name: '413, chunked body past the limit',
    async run(c) {
      await c.write([`POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n`, chunk(600), chunk(600), chunk(600), '0\r\n\r\n']);
      await expectStatus(c, 413);
      await c.closedByServer();
    },
  },
  {
    name: 'a chunked body past the limit after the application answered',
    async run(c) {
      await c.write(`POST /ignore-body HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(100)}`);
      await expectStatus(c, 200);
      await c.write([chunk(600), chunk(600), chunk(600), '0\r\n\r\n']);
      // The connection is closed, or serves the next request.
      await c.write('GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n');
      await c.until(() => c.responses().length === 2);
    },
  },
  {
    name: 'a chunked body past the limit after the application refused it (413 of its own)',
    async run(c) {
      await c.write([`POST /capped-body?max=300 HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\n\r\n`, chunk(200), chunk(200)]);
      await c.write([chunk(600), chunk(600), chunk(600), '0\r\n\r\n']);
      await c.closedByServer();
    },
  },
  {
    name: '408, a head that never ends',
    async run(c) {
      await c.write('GET /whoami HTTP/1.1\r\nHost: acme.test\r\nX-Slow: ');
      await expectStatus(c, 408);
      await c.closedByServer();
    },
  },
  {
    name: '431, a head over maxHeaderSize',
    async run(c) {
      await c.write(`GET /whoami HTTP/1.1\r\nHost: acme.test\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`);
      await expectStatus(c, 431);
      await c.closedByServer();
    },
  },
  {
    name: '400, a malformed header line',
    async run(c) {
      await c.write('GET /whoami HTTP/1.1\r\nHost: acme.test\r\nBad Header\r\n\r\n');
      await expectStatus(c, 400);
      await c.closedByServer();
    },
  },
  {
    name: 'a reset mid-body',
    async run(c) {
      await c.write(`POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 900\r\n\r\n${'x'.repeat(100)}`);
      c.reset();
    },
  },
  {
    name: 'a reset mid-chunked-body',
    async run(c) {
      await c.write([`POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\n\r\n`, chunk(300)]);
      c.reset();
    },
  },
  {
    name: 'a reset mid-response',
    async run(c) {
      await c.write('GET /big?kb=8192 HTTP/1.1\r\nHost: acme.test\r\n\r\n');
      const before = c.bytes.length;
      await c.until(() => c.bytes.length > before + 64 * 1024);
      c.reset();
    },
  },
  {
    name: 'a reset right after a WebSocket upgrade request',
    async run(c) {
      await c.write('GET /ws HTTP/1.1\r\nHost: acme.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      c.reset();
    },
  },
  {
    name: 'a reset after bytes that are no WebSocket frame',
    async run(c) {
      await c.write('GET /ws HTTP/1.1\r\nHost: acme.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      await c.until(() => c.text.includes('\r\n\r\n'));
      await c.write('GET / HTTP/1.1\r\n\r\n');
      c.reset();
    },
  },
  {
    name: '504, an application past upstreamTimeout',
    async run(c) {
      await c.write('GET /slow?ms=1500 HTTP/1.1\r\nHost: acme.test\r\n\r\n');
      // The connection may stay open (the proxy path's worker answers nothing on it).
      await expectStatus(c, 504);
    },
  },
];

function acmeWorker(s: RunningService): { pid: number | null; restarts: number } {
  const site = s.service.status().find((x) => x.schema === 'acme')!;
  assert.equal(site.workers.length, 1);
  return site.workers[0]!;
}

for (const { handoff, label } of routerModes) {
  test(`no request a client ends early ends the tenant's worker, first or later on a connection${label}`, async (t) => {
    const s = await startService(t, config, { handoff });
    const { pid } = acmeWorker(s);
    assert.ok(pid);
    for (const c of cases) {
      for (const later of [false, true]) {
        for (let round = 0; round < 3; round++) {
          const connection = new RawConnection(s.port);
          t.after(() => connection.close());
          if (later) assert.equal((await connection.get('acme.test', '/whoami')).status, 200);
          await c.run(connection);
          connection.close();
          // A new connection: the tenant serves, from the same worker.
          const reply = await s.get('acme.test', '/whoami');
          assert.equal(reply.status, 200, `${c.name}${later ? ' (later request)' : ''}: ${reply.body}`);
          assert.equal(reply.json().pid, pid, `${c.name}${later ? ' (later request)' : ''}: the worker was replaced`);
        }
      }
    }
    // Whatever a close left to run has run by the time a request has been served after it.
    assert.equal((await s.get('acme.test', '/whoami')).json().pid, pid);
    assert.deepEqual(acmeWorker(s), { ...acmeWorker(s), pid, restarts: 0 });
  });
}
