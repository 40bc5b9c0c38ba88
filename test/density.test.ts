// Many tenants on one machine: starts in bounded turns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeApp, startService } from './helpers/service.ts';

test('many tenants boot in turns of workers.startConcurrency, the start timeout counted from each own start: no timeout, no restart', { timeout: 60_000 }, async (t) => {
  const count = 12;
  const tenants = Array.from({ length: count }, (_, i) => `  - schema: t${i}\n    hosts: [t${i}.test]\n    settings: { startDelayMs: 250 }\n`).join('');
  // Queued behind 11 others of 250 ms each, the last worker waits ~3 s: more than its start timeout.
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  startConcurrency: 1\n  startTimeout: 1500ms\ntenants:\n${tenants}`);
  const status = s.service.status();
  assert.equal(status.length, count);
  assert.ok(status.every((site) => site.state === 'ready'), status.map((x) => `${x.schema}:${x.state}`).join(' '));
  assert.equal(status.reduce((n, site) => n + site.workers.reduce((m, w) => m + w.restarts, 0), 0), 0, 'no restart');
  // One at a time: no two workers' application loads overlap.
  const windows = await Promise.all(status.map(async (site) => {
    const who = (await s.get(`${site.schema}.test`, '/whoami')).json() as { began: number; loaded: number };
    return [who.began, who.loaded] as const;
  }));
  windows.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < windows.length; i++) assert.ok(windows[i]![0] >= windows[i - 1]![1], `start ${i} began before start ${i - 1} was done`);
});
