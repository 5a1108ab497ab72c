/**
 * `npm run check-invariants`: checks that the money is right on both sides (shared/operations/
 * invariants.ts) against the storage the settings name, and says where it is not.
 *
 *   npm run check-invariants [-- --json <file>] [-- --no-dead-letters]
 *
 * - Connections: DataverseTables, FinanceTables, IntegrationTables and ServiceBusConnection, from
 *   the environment, else local.settings.json, else local.settings.sample.json (as tools/start.ts
 *   reads them); "UseDevelopmentStorage=true" and the local Service Bus point at the local ports.
 * - Dead letters: every contract queue's dead-letter queue is peeked (nothing is received or
 *   removed); `--no-dead-letters` skips that invariant and needs no Service Bus.
 * - Prints one table of invariant, checked and violations, then each violated invariant's first 50
 *   violations with their keys; writes the whole report as JSON to `--json <file>` (default
 *   invariants-report.json in the current folder).
 * - Exit code: 0 no violation, 1 violations found, 2 the check could not run (a setting missing or
 *   not supported, a connection refused, a table that cannot be read), with one line saying why.
 * How to read a report: docs/invariants.md.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import Table from 'cli-table3';
import { DataverseStore } from '../shared/dataverse/dataverseStore';
import { FinanceStore } from '../shared/finance/financeStore';
import { Queues } from '../shared/messages';
import { checkInvariants, INVARIANTS, type DeadLetteredMessage, type InvariantName, type InvariantReport, type InvariantViolation } from '../shared/operations/invariants';
import { ErrorLog } from '../shared/operations/errorLogStore';
import { pingTableService } from '../shared/storage/tableStore';
import { azuriteConnectionString } from './azurite';
import { readLocalSettings, resolveLocalConnections } from './localSettings';
import { REPO_ROOT } from './paths';

export const DEFAULT_REPORT_FILE = 'invariants-report.json';
/** Violations printed per invariant (the JSON report holds them all). */
export const PRINTED_PER_INVARIANT = 50;
const PEEK_BATCH = 250;

const TABLE_SETTINGS = ['DataverseTables', 'FinanceTables', 'IntegrationTables'] as const;
type TableSetting = (typeof TABLE_SETTINGS)[number];

/** The check cannot run: one line for the operator, exit code 2. */
export class CannotCheck extends Error {
  override name = 'CannotCheck';
}

export interface CheckOptions {
  jsonFile: string;
  deadLetters: boolean;
  help: boolean;
}

export function parseArgs(argv: readonly string[]): CheckOptions {
  const options: CheckOptions = { jsonFile: DEFAULT_REPORT_FILE, deadLetters: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--no-dead-letters') options.deadLetters = false;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--json' || arg.startsWith('--json=')) {
      const value = arg === '--json' ? argv[++i] : arg.slice('--json='.length);
      if (!value || value.startsWith('--')) throw new CannotCheck('--json needs a file name, e.g. --json invariants-report.json');
      options.jsonFile = value;
    } else throw new CannotCheck(`unknown option ${arg} (options: --json <file>, --no-dead-letters, --help)`);
  }
  return options;
}

export interface Connections {
  tables: Record<TableSetting, string>;
  serviceBus?: string;
}

/** Where a connection string points, without its key (for messages). */
export function describeConnection(connection: string): string {
  const field = (name: string) => new RegExp(`(?:^|;)\\s*${name}=([^;]+)`, 'i').exec(connection)?.[1]?.trim();
  return field('TableEndpoint') ?? field('Endpoint') ?? (field('AccountName') ? `account ${field('AccountName')}` : 'the configured endpoint');
}

/** The connections, from the environment and the local settings file (see the header). */
export function resolveConnections(options: Pick<CheckOptions, 'deadLetters'>, env: NodeJS.ProcessEnv = process.env): Connections {
  let local;
  try {
    local = readLocalSettings(REPO_ROOT);
  } catch (error) {
    throw new CannotCheck(error instanceof Error ? error.message : String(error));
  }
  // The environment first (also for settings the file does not name), then the file.
  const merged: Record<string, string> = { ...local.values };
  for (const name of [...TABLE_SETTINGS, 'ServiceBusConnection']) {
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv.trim() !== '') merged[name] = fromEnv;
  }
  const values = resolveLocalConnections(merged, azuriteConnectionString(local.ports.azuriteTable, local.ports.azuriteBlob, local.ports.azuriteQueue), local.ports.serviceBus);
  const setting = (name: string) => (values[name] ?? '').trim();
  const identity = (name: string, suffixes: readonly string[]) => suffixes.map((s) => `${name}__${s}`).find((key) => (env[key] ?? values[key] ?? '').trim() !== '');

  const tables = {} as Record<TableSetting, string>;
  for (const name of TABLE_SETTINGS) {
    const value = setting(name);
    if (!value) {
      const viaIdentity = identity(name, ['tableServiceUri', 'accountName']);
      throw new CannotCheck(
        viaIdentity
          ? `Configuration error: ${viaIdentity} (managed identity) is not supported by the checker; set ${name} to a connection string`
          : `Configuration error: ${name} is missing (set it in the environment or in local.settings.json)`,
      );
    }
    if (!/(AccountName|TableEndpoint)=/i.test(value)) {
      throw new CannotCheck(`Configuration error: ${name} is not a storage connection string (expected UseDevelopmentStorage=true or AccountName=...;AccountKey=...)`);
    }
    tables[name] = value;
  }
  if (!options.deadLetters) return { tables };
  const serviceBus = setting('ServiceBusConnection');
  if (!serviceBus) {
    throw new CannotCheck(
      identity('ServiceBusConnection', ['fullyQualifiedNamespace'])
        ? 'Configuration error: ServiceBusConnection__fullyQualifiedNamespace (managed identity) is not supported by the checker; set ServiceBusConnection to a connection string, or pass --no-dead-letters'
        : 'Configuration error: ServiceBusConnection is missing (set it, or pass --no-dead-letters)',
    );
  }
  if (!/Endpoint=sb:\/\//i.test(serviceBus)) {
    throw new CannotCheck('Configuration error: ServiceBusConnection is not a Service Bus connection string (expected Endpoint=sb://...)');
  }
  return { tables, serviceBus };
}

function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const firstLine = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return firstLine.length > 300 ? `${firstLine.slice(0, 300)}…` : firstLine;
}

/** Every table service answers (one table listed at most each). */
export async function pingTables(connections: Connections): Promise<void> {
  for (const name of TABLE_SETTINGS) {
    const connection = connections.tables[name];
    try {
      await pingTableService(connection);
    } catch (error) {
      throw new CannotCheck(`Cannot reach ${name} (${describeConnection(connection)}): ${reason(error)}`);
    }
  }
}

function messageIdOf(m: ServiceBusReceivedMessage): string {
  const id = m.messageId;
  if (typeof id === 'string' && id !== '') return id;
  if (typeof id === 'number') return String(id);
  if (Buffer.isBuffer(id)) return id.toString('utf8');
  return `(no message id; sequence number ${m.sequenceNumber?.toString() ?? '?'})`;
}

/**
 * Every message in the dead-letter queue of every contract queue, peeked (nothing is received),
 * page by page until a page comes back empty. A client of its own, so every call starts at the
 * first message.
 */
export async function peekDeadLetters(connectionString: string, queues: readonly string[] = Object.values(Queues)): Promise<DeadLetteredMessage[]> {
  const client = new ServiceBusClient(connectionString, { retryOptions: { maxRetries: 1, timeoutInMs: 15_000 } });
  const out: DeadLetteredMessage[] = [];
  try {
    for (const queue of queues) {
      const receiver = client.createReceiver(queue, { subQueueType: 'deadLetter' });
      try {
        let last: bigint | undefined;
        for (;;) {
          const page = await receiver.peekMessages(PEEK_BATCH);
          if (!page.length) break;
          const first = page[0]!.sequenceNumber === undefined ? undefined : BigInt(page[0]!.sequenceNumber.toString());
          if (last !== undefined && first !== undefined && first <= last) break; // no progress: the broker started over
          for (const m of page) {
            const dead: DeadLetteredMessage = { queue, messageId: messageIdOf(m) };
            if (m.enqueuedTimeUtc) dead.enqueuedAt = m.enqueuedTimeUtc.toISOString();
            if (m.deadLetterReason) dead.reason = m.deadLetterReason;
            out.push(dead);
          }
          const end = page[page.length - 1]!.sequenceNumber;
          last = end === undefined ? last : BigInt(end.toString());
        }
      } finally {
        await receiver.close();
      }
    }
  } catch (error) {
    throw new CannotCheck(`Cannot peek the dead-letter queues through ServiceBusConnection (${describeConnection(connectionString)}): ${reason(error)}`);
  } finally {
    await client.close().catch(() => undefined);
  }
  return out;
}

function keysText(keys: Record<string, string>): string {
  return Object.entries(keys)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

/** The summary table and each violated invariant's first violations, as printed. */
export function formatReport(report: InvariantReport, options: { deadLetters: boolean }): string {
  const byInvariant = new Map<InvariantName, InvariantViolation[]>();
  for (const v of report.violations) byInvariant.set(v.invariant, [...(byInvariant.get(v.invariant) ?? []), v]);
  // No colours when the output goes to a file or a pipe.
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const summary = new Table({ head: ['invariant', 'checked', 'violations'], colAligns: ['left', 'right', 'right'], ...style });
  for (const name of INVARIANTS) {
    const skipped = name === 'deadLetterHasErrorRow' && !options.deadLetters;
    summary.push([name, skipped ? 'skipped' : String(report.checked[name]), skipped ? '-' : String(byInvariant.get(name)?.length ?? 0)]);
  }
  const parts = [`Invariants checked at ${report.checkedAt}`, summary.toString()];
  for (const name of INVARIANTS) {
    const list = byInvariant.get(name);
    if (!list?.length) continue;
    const shown = list.slice(0, PRINTED_PER_INVARIANT);
    const table = new Table({ head: ['keys', 'detail'], colWidths: [62, 90], wordWrap: true, ...style });
    for (const v of shown) table.push([keysText(v.keys), v.detail]);
    const more = list.length > shown.length ? ` (the first ${shown.length}; all are in the JSON report)` : '';
    parts.push('', `${name}: ${list.length} violation${list.length === 1 ? '' : 's'}${more}`, table.toString());
  }
  return parts.join('\n');
}

export async function runCheck(options: CheckOptions, log: (line: string) => void = (l) => console.log(l)): Promise<{ report: InvariantReport; file: string }> {
  const connections = resolveConnections(options);
  await pingTables(connections);
  const serviceBus = connections.serviceBus;
  let report: InvariantReport;
  try {
    report = await checkInvariants({
      dataverse: new DataverseStore(connections.tables.DataverseTables),
      finance: new FinanceStore(connections.tables.FinanceTables),
      errorLog: new ErrorLog(connections.tables.IntegrationTables),
      ...(serviceBus === undefined ? {} : { deadLetters: () => peekDeadLetters(serviceBus) }),
    });
  } catch (error) {
    if (error instanceof CannotCheck) throw error;
    throw new CannotCheck(`The check could not finish: ${reason(error)}`);
  }
  const file = path.resolve(options.jsonFile);
  try {
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  } catch (error) {
    throw new CannotCheck(`Cannot write the report to ${file}: ${reason(error)}`);
  }
  log(formatReport(report, options));
  log('');
  const shownFile = path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file);
  log(`${report.violations.length} violation${report.violations.length === 1 ? '' : 's'}; the full report is in ${shownFile}`);
  return { report, file };
}

const HELP = `npm run check-invariants [-- --json <file>] [-- --no-dead-letters]
  --json <file>       where to write the full report (default ${DEFAULT_REPORT_FILE})
  --no-dead-letters   do not peek the dead-letter queues (no Service Bus needed)
Exit code: 0 no violation, 1 violations, 2 the check could not run. See docs/invariants.md.`;

if (require.main === module) {
  (async () => {
    try {
      const options = parseArgs(process.argv.slice(2));
      if (options.help) {
        console.log(HELP);
        return 0;
      }
      const { report } = await runCheck(options);
      return report.violations.length ? 1 : 0;
    } catch (error) {
      console.error(error instanceof CannotCheck ? error.message : `check-invariants failed: ${reason(error)}`);
      return 2;
    }
  })().then((code) => process.exit(code));
}
