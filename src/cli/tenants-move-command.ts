// tenantd tenants move <schema> --to <server>: a tenant's data to another
// database server. With the service running, the service does it (POST /move):
// it holds the tenant's requests for the cutover and starts its workers on the
// new server. Without it, the command does the same steps (there are no
// requests to hold) and the next start serves the tenant from its new server.
import { errorClassOf, errors } from '../base/errors.ts';
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { MoveLock } from '../db/move-lock.ts';
import { TenantMove } from '../data/move-tenant.ts';
import { runMove, undoMove } from '../data/run-move.ts';
import { SiteCredentials } from '../service/site-credentials.ts';
import type { MoveResult } from '../admin/admin-types.ts';
import { adminRequest } from './admin-client.ts';
import type { Command } from './command.ts';
import { readAdminAddress, readConfig } from './command.ts';
import { withServers } from './with-database.ts';

function report(result: Extract<MoveResult, { ok: true }>, serving: boolean): string {
  if ('aborted' in result) return `aborted the move of ${result.schema}: it serves from ${result.server}\n`;
  return `moved ${result.schema} from ${result.from} to ${result.to} (${result.mode}, ${result.rows} rows): copy ${(result.copyMs / 1000).toFixed(2)} s, requests held ${result.pauseMs} ms${serving ? ` (${result.held} held, none failed)` : ''}; the copy on ${result.from} stays, fenced, until tenants drop ${result.schema} --from ${result.from}\n`;
}

export const tenantsMoveCommand: Command = {
  summary: "move a tenant's data to another database server (online by logical replication; --offline by a copy with the tenant paused); --abort undoes one under way",
  usage: '[-c FILE] <schema> --to SERVER [--offline] | <schema> --abort',
  options: { to: { type: 'string' }, offline: { type: 'boolean' }, abort: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length !== 1) throw new errors.Usage('tenants move takes exactly one schema');
    const schema = positionals[0]!;
    const to = values.to as string | undefined;
    const abort = values.abort === true;
    if (!abort && !to) throw new errors.Usage('name the server to move it to: --to SERVER (a name under databases, or default)');
    const query = new URLSearchParams([['tenant', schema], ...(to ? [['to', to]] : []), ...(values.offline ? [['offline', '1']] : []), ...(abort ? [['abort', '1']] : [])]);
    const served = await adminRequest(readAdminAddress(values), 'POST', `/move?${query}`, 24 * 3_600_000)
      .then((reply) => reply.body as MoveResult)
      // Only a service that is not there (nothing listens) lets the command move it itself: a service that
      // went away mid-move has left the move to its next start (which rolls it back).
      .catch((error: unknown) => (error instanceof errors.ServiceUnreachable && /ECONNREFUSED/.test(error.message) ? undefined : Promise.reject(error)));
    if (served) {
      if (!served.ok) throw errorClassOf(served.code)?.revive(served.error.replace(`${served.code}: `, '')) ?? new errors.MoveFailed(schema, 'moving', served.error);
      process.stdout.write(report(served, true));
      return 0;
    }
    // No service: the command moves it; the next start serves it from there.
    const config = readConfig(values);
    const spec = config.tenants.find((t) => t.schema === schema);
    if (!spec) throw new errors.TenantUnknown(schema);
    const result = await withServers(config, async (servers): Promise<Extract<MoveResult, { ok: true }>> => {
      const lock = await MoveLock.take(servers.default.database.adminUrl, schema);
      try {
        await servers.preparePlacement();
        const placed = (await servers.placement()).get(schema);
        const from = placed?.server ?? 'default';
        const credentials = new SiteCredentials(CredentialsSecret.read(config.database.secretFile, true), servers.default.provisioner);
        const moveTo = (target: string) => TenantMove.between(servers, spec, from, target, credentials.verifier(spec), config.migrations.tenant);
        if (abort) {
          await undoMove(placed, from, servers.names, moveTo);
          await lock.record(null);
          return { ok: true, schema, aborted: true, server: from };
        }
        const target = servers.get(to!).name;
        if (target === from) throw new errors.MoveRefused(schema, `it lives on ${from} already`);
        const move = moveTo(target);
        try {
          const record = { to: target, mode: values.offline ? 'offline' as const : 'online' as const, startedAt: new Date().toISOString() };
          const outcome = await runMove(move, !values.offline, {
            phase: (phase) => lock.record(phase === null ? null : { ...record, phase }),
            pause: (inside) => inside(),
            switchTo: () => lock.switchTo(target, from),
            progress: (message) => { if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${message}`); },
          }, { copyTimeout: 24 * 3_600_000, catchUpTimeout: 30_000 });
          if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
          return { ok: true, schema, from, to: target, mode: outcome.mode, copyMs: Math.round(outcome.copyMs), startMs: 0, pauseMs: Math.round(outcome.pauseMs), held: 0, rows: outcome.rows };
        } finally {
          await move.close();
        }
      } finally {
        await lock.release();
      }
    });
    process.stdout.write(report(result, false).replace(/\n$/, '; the service is not running: its next start serves it there\n'));
    return 0;
  },
};
