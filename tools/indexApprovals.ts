/**
 * `npm run index-approvals`: writes the approval index (dvApprovalIndex) for every actual stored
 * before the approvals wrote it, so that an entry approved then is found when it is sent again
 * (docs/decisions/proforma-invoices.md, "Approvals"). Run it once after upgrading a deployment that
 * holds actuals; it is safe to run again and beside running approvals (rows are created if absent).
 *
 *   npm run index-approvals
 *
 * - Connection: DataverseTables, from the environment, else local.settings.json, else
 *   local.settings.sample.json (as `npm run check-invariants` reads it).
 * - Prints a line per 10 pages of 1,000 actuals, and the totals.
 * - Exit code: 0 done, 2 it could not run (a setting missing, storage unreachable), with one line
 *   saying why.
 */
import { DataverseStore } from '../shared/dataverse/dataverseStore';
import { CannotCheck, pingTables, resolveConnections } from './checkInvariants';

const HELP = `npm run index-approvals
  Writes the approval index (dvApprovalIndex) for every actual in dvActuals that has no index row.
  Connection: DataverseTables (environment, local.settings.json, or the sample). Exit code: 0 done, 2 it could not run.`;

export async function indexApprovals(log: (line: string) => void = (l) => console.log(l)): Promise<{ listed: number; created: number; skipped: number }> {
  const connections = resolveConnections({ deadLetters: false });
  await pingTables(connections);
  const dataverse = new DataverseStore(connections.tables.DataverseTables);
  let pages = 0;
  const started = Date.now();
  const n = (x: number) => x.toLocaleString('en-US');
  const result = await dataverse.indexStoredActuals(({ listed, created }) => {
    if (++pages % 10 === 0) log(`  ${n(listed)} actuals read, ${n(created)} index rows written (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  });
  log(
    `${n(result.listed)} actuals read; ${n(result.created)} index rows written, ${n(result.listed - result.created - result.skipped)} were there already` +
      (result.skipped ? `; ${n(result.skipped)} skipped (their contract or id is not a GUID, so no approval made them)` : '') +
      '.',
  );
  return result;
}

if (require.main === module) {
  (async () => {
    const args = process.argv.slice(2);
    if (args.includes('--help') || args.includes('-h')) {
      console.log(HELP);
      return 0;
    }
    if (args.length) {
      console.error(`index-approvals takes no arguments, got "${args.join(' ')}"\n${HELP}`);
      return 2;
    }
    try {
      await indexApprovals();
      return 0;
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      console.error(error instanceof CannotCheck ? text : `index-approvals failed: ${text.split('\n')[0]}`);
      return 2;
    }
  })().then((code) => process.exit(code));
}
