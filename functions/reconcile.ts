import type { CompositionRoot } from '../shared/compositionRoot';
import { RECONCILE } from '../shared/operations/reconcile';
import { timerFunction } from '../shared/triggers/timer';

/** Timer `%ReconcileSchedule%` (default every 15 minutes): the repair sweep (docs/decisions/repair.md). */
export function registerReconcile(root: CompositionRoot): void {
  timerFunction(RECONCILE, {
    schedule: root.repair.reconcileSchedule,
    handler: async (log) => {
      const result = await root.repair.reconcile({ now: new Date(), log });
      // The summary line is logged; items that failed on storage or the broker make the invocation
      // fail too (they are retried by the next run), so monitoring sees it.
      if (result.failures > 0) throw new Error(`reconcile: ${result.failures} item(s) failed and are retried next run; the first: ${result.firstFailure ?? '(unknown)'}`);
    },
  });
}
