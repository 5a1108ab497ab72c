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
  const args = [azuriteScript(services), '--disableTelemetry', '--silent', '--skipApiVersionCheck', '--tableHost', '127.0.0.1', '--tablePort', String(tablePort)];
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
