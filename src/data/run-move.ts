// The steps of a move in order, around what the caller does with requests
// (the service holds them; a command run with no service has none): preflight,
// the target prepared, online the replication started and waited for, then the
// pause: the source fenced, the target caught up (online) or loaded (offline),
// the sequences carried, the registry switched. Anything that fails before the
// switch is undone (TenantMove.abort) and the tenant stays where it was.
import { errors, TenantdError } from '../base/errors.ts';
import type { MovePhase, Placement } from '../db/placement.ts';
import type { TenantMove } from './move-tenant.ts';

export interface MoveHooks {
  /** Records the move's phase (null: none under way any more). */
  phase(phase: MovePhase | null): Promise<void>;
  /** Once the target is prepared, while the rows copy (awaited before the pause): the target's workers started, say. */
  ready?(): Promise<void>;
  /** Holds the tenant's requests and stops its own use of the source, runs `inside`, then lets them go on (to the target once switched). */
  pause(inside: () => Promise<void>): Promise<void>;
  /** Records that the tenant lives on the target (inside the pause). */
  switchTo(): Promise<void>;
  /** A line of progress. */
  progress?(message: string): void;
}

export interface MoveTimes {
  /** ms the target may take to copy the rows and catch up (online). */
  copyTimeout: number;
  /** ms the target may take to confirm the source's last changes once fenced. */
  catchUpTimeout: number;
  /** Aborts the move (tenants move --abort) at its next step or wait, before the switch. */
  signal?: AbortSignal;
}

export interface MoveOutcome {
  mode: 'online' | 'offline';
  /** ms from the start of the copy to the target caught up (online), or of the offline copy. */
  copyMs: number;
  /** ms the tenant's requests were held. */
  pauseMs: number;
  /** ms the target's workers took to start (before the pause). */
  startMs: number;
  /** Rows copied (offline; online: the rows on the target after the switch). */
  rows: number;
}

/**
 * tenants move --abort: the recorded move of the tenant undone; with none
 * recorded, what an interrupted one may have left towards any other of
 * `servers` (the fenced copy a finished move left on `placed.leftOn` kept).
 * `moveTo` gives the move from the tenant's server to a target.
 */
export async function undoMove(placed: Placement | undefined, from: string, servers: readonly string[], moveTo: (target: string) => TenantMove): Promise<void> {
  const recorded = placed?.move?.to;
  for (const target of recorded ? [recorded] : servers.filter((name) => name !== from)) {
    const move = moveTo(target);
    try {
      if (recorded) await move.abort();
      else await move.removeLeftovers(placed?.leftOn === target);
    } finally {
      await move.close();
    }
  }
}

export async function runMove(move: TenantMove, online: boolean, hooks: MoveHooks, times: MoveTimes): Promise<MoveOutcome> {
  let phase: string = 'checking what the move needs';
  let switched = false;
  let copyMs = 0;
  let pauseMs = 0;
  let rows = 0;
  let startMs = 0;
  const checkpoint = () => {
    if (times.signal?.aborted) throw new Error('aborted (tenants move --abort)');
  };
  try {
    await move.preflight(online);
    checkpoint();
    phase = 'preparing the target';
    await hooks.phase('preparing');
    await move.prepareTarget();
    checkpoint();
    // The target's workers start while the rows copy: their start (a process,
    // the application loaded, the database checked) overlaps the copy instead
    // of coming after it. Awaited before the pause.
    phase = 'starting the target\'s workers';
    const starting = performance.now();
    const started = (hooks.ready?.() ?? Promise.resolve()).then(() => { startMs = performance.now() - starting; });
    started.catch(() => {});
    if (online) {
      phase = 'copying';
      await hooks.phase('copying');
      const began = performance.now();
      await move.startReplication();
      await move.waitSynced(times.copyTimeout, (ready, tables) => hooks.progress?.(`copying: ${ready} of ${tables} tables`), times.signal);
      copyMs = performance.now() - began;
    }
    phase = 'starting the target\'s workers';
    await started;
    checkpoint();
    phase = 'cutting over';
    await hooks.phase('cutover');
    await hooks.pause(async () => {
      const began = performance.now();
      await move.fence();
      if (online) {
        await move.waitCaughtUp(times.catchUpTimeout, times.signal);
        await move.copySequences();
      } else {
        rows = await move.copyOffline();
        copyMs = performance.now() - began;
      }
      await hooks.switchTo();
      switched = true;
      pauseMs = performance.now() - began;
    });
  } catch (error) {
    if (switched) throw error;
    if (error instanceof errors.MoveRefused) throw error;
    await move.abort().catch(() => {});
    await hooks.phase(null).catch(() => {});
    if (error instanceof TenantdError && error.code !== 'TENANTD_DATABASE_UNREACHABLE') throw new errors.MoveFailed(move.schema, phase, error.message);
    throw new errors.MoveFailed(move.schema, phase, (error as Error).message);
  }
  await move.finish().catch((error: unknown) => hooks.progress?.(`the move's replication objects could not all be dropped (${(error as Error).message}); tenants move ${move.schema} --abort drops them`));
  if (online) rows = (await move.compare().catch(() => [])).reduce((n, t) => n + t.target.rows, 0);
  return { mode: online ? 'online' : 'offline', copyMs, pauseMs, startMs, rows };
}
