/**
 * Starts Azurite as a child process on 127.0.0.1 (always with --disableTelemetry), for
 * `npm start`, the benchmark and the tests. Tests use the table service only, in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort, waitForPort } from './ports';

const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface LocalAzurite {
  readonly tablePort: number;
  readonly blobPort?: number;
  /** Account connection string with explicit loopback endpoints. */
  readonly connectionString: string;
  stop(): Promise<void>;
}

export function azuriteConnectionString(tablePort: number, blobPort?: number, queuePort?: number): string {
  const parts = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${ACCOUNT}`,
    `AccountKey=${KEY}`,
    `TableEndpoint=http://127.0.0.1:${tablePort}/${ACCOUNT}`,
  ];
  if (blobPort) parts.push(`BlobEndpoint=http://127.0.0.1:${blobPort}/${ACCOUNT}`);
  if (queuePort) parts.push(`QueueEndpoint=http://127.0.0.1:${queuePort}/${ACCOUNT}`);
  return `${parts.join(';')};`;
}

/**
 * An emulator-only speed fix, preloaded into the Azurite process. Azurite (LokiJS) looks an
 * entity up by PartitionKey first and then scans that partition, so each point read or write
 * costs time proportional to the partition's size (about 9 ms at 30,000 rows): a 10,000-line
 * invoice, whose actuals share one contract partition, took minutes. Asking for RowKey first
 * uses the RowKey index and narrows to one row; the query is the same conjunction, so results
 * are unchanged. Azure Table storage itself indexes PartitionKey+RowKey.
 */
function indexedLookupPreload(): string {
  const lokiPath = require.resolve('lokijs', { paths: [path.dirname(require.resolve('azurite/package.json'))] });
  const source = [
    `import { createRequire } from 'node:module';`,
    `const Loki = createRequire(${JSON.stringify(lokiPath)})(${JSON.stringify(lokiPath)});`,
    `const proto = Loki.Collection.prototype; const findOne = proto.findOne;`,
    `proto.findOne = function (q) {`,
    `  if (q && typeof q === 'object' && Object.keys(q).length === 2 && 'PartitionKey' in q && 'RowKey' in q) return findOne.call(this, { RowKey: q.RowKey, PartitionKey: q.PartitionKey });`,
    `  return findOne.call(this, q);`,
    `};`,
  ].join('\n');
  return `--import=data:text/javascript,${encodeURIComponent(source)}`;
}

function azuriteScript(which: 'all' | 'table'): string {
  const root = path.dirname(require.resolve('azurite/package.json'));
  return which === 'table' ? path.join(root, 'dist/src/table/main.js') : path.join(root, 'dist/src/azurite.js');
}

export async function startAzurite(options: {
  /** 'table' starts only the table service (tests); 'all' starts blob, queue and table. */
  services?: 'all' | 'table';
  tablePort?: number;
  blobPort?: number;
  queuePort?: number;
  /** Folder for persistent data; in memory when absent. */
  location?: string;
  log?: (line: string) => void;
} = {}): Promise<LocalAzurite> {
  const services = options.services ?? 'table';
  const tablePort = options.tablePort || (await freePort());
  const args = [indexedLookupPreload(), azuriteScript(services), '--disableTelemetry', '--silent', '--skipApiVersionCheck', '--tableHost', '127.0.0.1', '--tablePort', String(tablePort)];
  let blobPort: number | undefined;
  let queuePort: number | undefined;
  if (services === 'all') {
    blobPort = options.blobPort || (await freePort());
    queuePort = options.queuePort || (await freePort());
    args.push('--blobHost', '127.0.0.1', '--blobPort', String(blobPort), '--queueHost', '127.0.0.1', '--queuePort', String(queuePort));
  }
  if (options.location) args.push('--location', options.location);
  else args.push('--inMemoryPersistence');

  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => options.log?.(`[azurite] ${d.toString().trimEnd()}`));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  try {
    await Promise.race([
      waitForPort(tablePort),
      exited.then((code) => {
        throw new Error(`Azurite exited (code ${code}) before it was ready: ${stderr.trim() || 'no output'}`);
      }),
    ]);
    if (blobPort) await waitForPort(blobPort);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    tablePort,
    blobPort,
    connectionString: azuriteConnectionString(tablePort, blobPort, queuePort),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
