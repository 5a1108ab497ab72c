import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { IMPORT_FROM_STAGING, runImportFromStaging } from '../shared/finance/import/importFromStaging';

/** Most index entries one run takes on (oldest first), so a run fits well within functionTimeout; the rest go next run. */
const MAX_ROWS_PER_RUN = 50_000;

/** Timer `%ImportFromStagingSchedule%`: F&O "Import from staging" (project transactions, proposal lines). */
export function registerImportFromStaging(container: Container): void {
  const deps = {
    finance: container.finance,
    work: container.work,
    leases: container.leases,
    publisher: container.publisher,
    accountingCurrency: container.settings.AccountingCurrency,
  };
  app.timer(IMPORT_FROM_STAGING, {
    schedule: '%ImportFromStagingSchedule%',
    runOnStartup: false,
    handler: async (_timer, context) => {
      await runImportFromStaging(deps, { now: new Date(), maxRows: MAX_ROWS_PER_RUN, log: (line) => context.log(`${line} invocation=${context.invocationId}`) });
    },
  });
}
