// A bare Node HTTPS server for the fronts bench's baseline: one process, the
// certificate tenantd serves, and the same answer as the demo's
// GET /api/tenant (the JSON of the tenant's schema, name, settings and pid,
// after parsing the URL as the demo does), with nothing of tenantd between.
// Usage: node bench/https-direct.mjs <cert> <key> <port>
import https from 'node:https';
import { readFileSync } from 'node:fs';

const [cert, key, port] = process.argv.slice(2);
const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] }, (req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  const body = JSON.stringify(pathname === '/api/tenant' ? { schema: 'acme', name: 'acme', settings: {}, pid: process.pid } : { error: 'not found' });
  res.writeHead(pathname === '/api/tenant' ? 200 : 404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 75_000;
server.listen(Number(port), '127.0.0.1');
