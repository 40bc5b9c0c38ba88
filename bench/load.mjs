// A closed-loop HTTP load generator, run in its own process so that it does not
// share an event loop with what it measures; used when wrk is not installed.
// Prints one JSON line: requests per second and latency percentiles in µs.
// Arguments: port host path concurrency seconds [close]
import http from 'node:http';

const [port, host, path, concurrency, seconds, mode] = process.argv.slice(2);
const close = mode === 'close';
const agent = new http.Agent({ keepAlive: !close, maxSockets: Number(concurrency) });
const deadline = Date.now() + Number(seconds) * 1000;
const latencies = [];
let ok = 0;
let failed = 0;

function one() {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, agent, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok += 1;
        else failed += 1;
        latencies.push(Number(process.hrtime.bigint() - started) / 1000);
        resolve();
      });
    });
    req.on('error', () => { failed += 1; resolve(); });
    req.end();
  });
}

async function loop() {
  while (Date.now() < deadline) await one();
}

const started = Date.now();
await Promise.all(Array.from({ length: Number(concurrency) }, loop));
const elapsed = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
process.stdout.write(`${JSON.stringify({ ok, failed, rps: ok / elapsed, p50: at(0.5), p99: at(0.99) })}\n`);
agent.destroy();
