// Generated requests, from a fixed seed: heads and bodies valid and broken in
// every way a client can break them (framing, header bytes, line ends, versions,
// targets, lengths), sent whole, in pieces, pipelined or cut by a reset, through
// the hand-off and one-request paths (router.handoff: true) and the proxy path
// (false). Whatever they get back, no worker and no primary ever exits, and
// both tenants still serve. TENANTD_FUZZ_SEED picks another seed; a failure
// prints the seed and the requests of the connection that preceded it. Seed 3
// caught a primary that died of a reset after an upgrade request (proxy path).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from './helpers/http.ts';
import { RawConnection } from './helpers/raw-http.ts';
import { startServe, type ServeProcess } from './helpers/serve-process.ts';
import { probeApp } from './helpers/service.ts';

const seed = Number(process.env.TENANTD_FUZZ_SEED ?? 3);
/** Connections per service; each carries one to three requests. */
const connections = 3000;
/** Connections open at once. */
const lanes = 16;

/** mulberry32: a small seeded generator, the same sequence for the same seed. */
function generator(start: number): () => number {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Draw {
  constructor(readonly random: () => number) {}
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }
}

const methods = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE', 'CONNECT', 'PATCH', 'G ET', 'get', 'BREW', ''];
const targets = ['/whoami', '/whoami', '/sized', '/echo-body', '/ignore-body', '/capped-body?max=40', '/big?kb=96', '/slow?ms=30', '/empty', '/early',
  '/unframed', '/hop', '/nothing', '*', 'http://acme.test/whoami', 'http://globex.test/sized', 'acme.test:80', '//x', '/%00', '/a b', '/\u00e9', ''];
const versions = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1 ', ''];
const hosts = ['acme.test', 'acme.test', 'globex.test', 'ACME.TEST.', 'acme.test:80', 'nobody.test', '', 'acme..test', '[::1]', 'acme.test:99999', 'a'.repeat(300), 'acme.test\u0000'];
const lineEnds = ['\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r'];

/** One generated request: its bytes, and a short label for the failure message. */
function generate(d: Draw): { bytes: Buffer; label: string } {
  const end = d.chance(0.9) ? '\r\n' : d.pick(lineEnds);
  const method = d.pick(methods);
  const target = d.pick(targets);
  const lines: (string | Buffer)[] = [`${method} ${target} ${d.pick(versions)}`];
  const hostCount = d.chance(0.85) ? 1 : d.pick([0, 2]);
  for (let i = 0; i < hostCount; i++) lines.push(`${d.pick(['Host', 'host', 'HOST', 'Host ', ' Host'])}: ${d.pick(hosts)}`);
  let body: Buffer = Buffer.alloc(0);
  const framing = d.pick(['none', 'none', 'length', 'chunked', 'both', 'bad-length', 'bad-chunked']);
  const size = d.pick([0, 1, 10, 100, 700, 1500, 5000]);
  if (framing === 'length' || framing === 'both') lines.push(`Content-Length: ${size}`);
  if (framing === 'bad-length') lines.push(`Content-Length: ${d.pick(['-1', '1e3', ' 12', '0x10', '99999999999999999999', '5, 6', ''])}`);
  if (framing === 'chunked' || framing === 'both' || framing === 'bad-chunked') lines.push(`Transfer-Encoding: ${d.pick(['chunked', 'chunked', 'Chunked', 'gzip, chunked', 'chunked, chunked', 'identity'])}`);
  if (framing === 'length' || framing === 'both' || framing === 'bad-length') body = Buffer.alloc(d.chance(0.8) ? size : d.int(size + 10), 'b');
  if (framing === 'chunked' || framing === 'both') {
    const parts: string[] = [];
    let left = size;
    while (left > 0) {
      const n = Math.min(left, 1 + d.int(800));
      parts.push(`${n.toString(16)}${d.chance(0.1) ? ';ext=1' : ''}\r\n${'c'.repeat(n)}\r\n`);
      left -= n;
    }
    parts.push(d.chance(0.1) ? '0\r\nX-Trailer: t\r\n\r\n' : '0\r\n\r\n');
    body = Buffer.from(parts.join(''));
  }
  if (framing === 'bad-chunked') body = Buffer.from(d.pick(['zz\r\nxx\r\n0\r\n\r\n', '5\r\nabc\r\n0\r\n\r\n', `${'f'.repeat(17)}\r\n`, '3\r\nabcXX', '0\r\n', '-1\r\n\r\n']));
  if (d.chance(0.08)) lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
  const extras = d.int(4);
  for (let i = 0; i < extras; i++) {
    lines.push(d.pick<string | Buffer>([
      'Connection: close', 'Connection: keep-alive', 'Connection: upgrade', 'Connection: x-drop, close', 'Upgrade: websocket', 'Expect: 100-continue',
      'X-Forwarded-For: 203.0.113.7', 'X-Request-Id: fuzz-1', 'X-Request-Id: \u00ff\u00fe', `X-Long: ${'l'.repeat(d.pick([100, 5000, 9000, 20000]))}`,
      ' folded continuation', 'No-Colon-Here', ':empty-name', 'Bad Name: x', 'X-Tab:\tvalue', 'Content-Type: application/json',
      Buffer.concat([Buffer.from('X-Bytes: '), d.bytes(1 + d.int(12))]),
    ]));
  }
  const head = Buffer.concat(lines.flatMap((line) => [typeof line === 'string' ? Buffer.from(line, 'latin1') : line, Buffer.from(end)]));
  const bytes = Buffer.concat([head, Buffer.from(end), body]);
  return { bytes, label: `${method} ${target} ${framing}/${size} hosts=${hostCount} extras=${extras}${end === '\r\n' ? '' : ' odd-line-ends'}` };
}

/** One connection: one to three requests, sent whole or in pieces, maybe cut by a reset; then closed. */
async function connection(port: number, d: Draw): Promise<string[]> {
  const requests = Array.from({ length: d.chance(0.7) ? 1 : 2 + d.int(2) }, () => generate(d));
  const labels = requests.map((r) => r.label);
  const c = new RawConnection(port);
  try {
    const all = Buffer.concat(requests.map((r) => r.bytes));
    const pieces: Buffer[] = [];
    if (d.chance(0.6)) pieces.push(all);
    else {
      for (let at = 0; at < all.length;) {
        const n = 1 + d.int(d.chance(0.2) ? 8 : 600);
        pieces.push(all.subarray(at, at + n));
        at += n;
      }
    }
    const cutAt = d.chance(0.15) ? d.int(pieces.length) : -1;
    const gap = d.chance(0.3) ? 1 + d.int(3) : 0;
    await c.ready();
    for (let i = 0; i < pieces.length && !c.closed; i++) {
      if (i === cutAt) {
        c.reset();
        return labels;
      }
      c.socket.write(pieces[i]!);
      if (gap) await new Promise((r) => setTimeout(r, gap));
    }
    // Whatever comes back within a moment; then the client goes (as most do).
    await c.until(() => c.responses().length >= requests.length, d.chance(0.5) ? 300 : 60).catch(() => {});
    if (d.chance(0.3)) c.reset();
    return labels;
  } finally {
    c.close();
  }
}

interface Pids { primary: number; workers: Map<string, number[]>; restarts: number }

async function pidsOf(s: ServeProcess): Promise<Pids> {
  const status = (await request(s.adminPort, { host: '127.0.0.1', path: '/status' })).json() as { tenants: { schema: string; workers: { pid: number; restarts: number }[] }[] };
  return {
    primary: s.child.pid!,
    workers: new Map(status.tenants.map((x) => [x.schema, x.workers.map((w) => w.pid)])),
    restarts: status.tenants.reduce((n, x) => n + x.workers.reduce((m, w) => m + w.restarts, 0), 0),
  };
}

for (const handoff of [true, false]) {
  test(`${connections} connections of generated requests end no worker and no primary (seed ${seed}, router.handoff: ${handoff})`, { timeout: 120_000 }, async (t) => {
    const s = await startServe(t, {
      yaml: `app: ${probeApp}
log:
  access: false
router:
  handoff: ${handoff}
  bodyLimit: 1k
  maxHeaderSize: 8k
  headersTimeout: 1s
  upstreamTimeout: 2s
tenants:
  - schema: acme
    hosts: [acme.test]
  - schema: globex
    hosts: [globex.test]
`,
    });
    const before = await pidsOf(s);
    assert.equal(before.restarts, 0);
    const d = new Draw(generator(seed + (handoff ? 0 : 1)));
    const draws = Array.from({ length: connections }, () => d.int(2 ** 31));
    let next = 0;
    let last: string[] = [];
    const lane = async () => {
      while (next < draws.length) {
        const i = next++;
        last = await connection(s.port, new Draw(generator(draws[i]!)));
        if (s.child.exitCode !== null) throw new Error(`the primary exited (${s.child.exitCode}) after connection ${i}: ${last.join(' | ')}`);
      }
    };
    t.after(() => {
      // What the service printed, for a failure's cause (a stack trace, an exit).
      if (s.child.exitCode !== null || /"level":"(error|fatal)"|TypeError|RangeError/.test(s.output())) console.error(s.output().split('\n').filter((l) => !/"level":"(info|debug)"/.test(l)).slice(-40).join('\n'));
    });
    await Promise.all(Array.from({ length: lanes }, lane));
    for (const host of ['acme.test', 'globex.test']) {
      const reply = await request(s.port, { host, path: '/whoami' });
      assert.equal(reply.status, 200, `${host} serves after the fuzz`);
    }
    const after = await pidsOf(s);
    assert.equal(s.child.exitCode, null, 'the primary runs');
    assert.deepEqual(after, before, `seed ${seed}: no worker exited or was replaced; last connection: ${last.join(' | ')}`);
  });
}
