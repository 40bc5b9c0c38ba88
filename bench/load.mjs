// A closed-loop HTTP load generator, run in its own process so that it does not
// share an event loop with what it measures. Prints one JSON line.
import http from 'node:http';

const [port, host, path, concurrency, seconds] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const deadline = Date.now() + Number(seconds) * 1000;
let ok = 0;
let failed = 0;

function one() {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, agent, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok += 1;
        else failed += 1;
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
process.stdout.write(`${JSON.stringify({ ok, failed, rps: ok / elapsed })}\n`);
agent.destroy();
