// Keeps requests flowing to some hosts while a test changes things, and counts
// every answer that is not 200.
import http from 'node:http';

export interface Hammer {
  /** Resolves once `more` further requests have succeeded (bounded by 10 s). */
  after(more: number): Promise<void>;
  /** Stops, waits for requests in flight, and returns the counts. */
  stop(): Promise<{ ok: number; failures: string[] }>;
}

/** `oneShot`: each request on its own connection, with `Connection: close` (no agent). */
export function hammer(port: number, hosts: string[], path = '/whoami', lanes = 4, oneShot = false): Hammer {
  const agent = oneShot ? false : new http.Agent({ keepAlive: true, maxSockets: lanes * hosts.length });
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const one = (host: string) => new Promise<void>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok += 1;
        else failures.push(`${host}: ${res.statusCode}`);
        resolve();
      });
    });
    req.on('error', (error) => { failures.push(`${host}: ${error.message}`); resolve(); });
    req.end();
  });
  const loops = hosts.flatMap((host) => Array.from({ length: lanes }, async () => {
    while (running) await one(host);
  }));
  return {
    async after(more) {
      const target = ok + more;
      const deadline = Date.now() + 10_000;
      while (ok < target) {
        if (Date.now() > deadline) throw new Error(`only ${ok} of ${target} requests succeeded`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      if (agent) agent.destroy();
      return { ok, failures };
    },
  };
}
