import type { CompositionRoot } from '../shared/compositionRoot';
import { IMPORT_FROM_STAGING } from '../shared/finance/import/importFromStaging';
import { timerFunction } from '../shared/triggers/timer';

/** Most index entries one run takes on (oldest first), so a run fits well within functionTimeout; the rest go next run. */
const MAX_ROWS_PER_RUN = 50_000;

/** Timer `%ImportFromStagingSchedule%`: F&O "Import from staging" (project transactions, proposal lines). */
export function registerImportFromStaging(root: CompositionRoot): void {
  timerFunction(IMPORT_FROM_STAGING, {
    schedule: '%ImportFromStagingSchedule%',
    handler: async (log) => {
      await root.finance.runImport({ now: new Date(), maxRows: MAX_ROWS_PER_RUN, log });
    },
  });
}
