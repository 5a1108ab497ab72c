/**
 * `npm start`: the whole system on this machine with the embedded local defaults.
 *   1. Azurite (blob, queue, table; data kept in .azurite/) on 127.0.0.1, telemetry off;
 *   2. the local Service Bus as its own process, entities from tools/servicebus/config.json;
 *   3. demo data seeded into an empty store;
 *   4. the local Functions host loading the compiled app (dist/functions/index.js), the same
 *      registrations as in Azure, HTTP on http://localhost:7071.
 * Ctrl-C (SIGINT) or SIGTERM stops all of it; no process is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseSettings } from '../shared/config';
import { DataverseStore } from '../shared/dataverse/dataverseStore';
import { FinanceStore } from '../shared/finance/financeStore';
import { startAzurite, type LocalAzurite } from './azurite';
import { seedDemoData } from './demoData';
import { startFunctionsHost, type FunctionsHost } from './host';
import { readLocalSettings, resolveLocalConnections } from './localSettings';
import { APP_BUILD_ENTRY, REPO_ROOT } from './paths';
import { waitForPort } from './ports';

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const local = readLocalSettings(REPO_ROOT);
  const { ports } = local;
  log(`settings from ${path.relative(REPO_ROOT, local.file)}`);
  // Refuse bad settings before anything starts (the app checks them again when it loads).
  parseSettings(local.values);

  for (const [name, port, env] of [
    ['Azurite table', ports.azuriteTable, 'AZURITE_TABLE_PORT'],
    ['Azurite blob', ports.azuriteBlob, 'AZURITE_BLOB_PORT'],
    ['Azurite queue', ports.azuriteQueue, 'AZURITE_QUEUE_PORT'],
    ['Service Bus', ports.serviceBus, 'SERVICEBUS_PORT'],
    ['Functions HTTP', ports.http, 'FUNCTIONS_HTTP_PORT'],
  ] as const) {
    if (await portInUse(port)) {
      throw new Error(`Port ${port} (${name}) is already in use: stop what holds it (another npm start?) or set ${env} to another port`);
    }
  }

  let azurite: LocalAzurite | undefined;
  let broker: ChildProcess | undefined;
  let host: FunctionsHost | undefined;
  let stopping = false;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping...');
    await host?.stop().catch((e: unknown) => log(`host stop: ${String(e)}`));
    if (broker && broker.exitCode === null) {
      const exited = new Promise((r) => broker!.once('exit', r));
      broker.kill('SIGTERM');
      const t = setTimeout(() => broker!.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    await azurite?.stop().catch((e: unknown) => log(`azurite stop: ${String(e)}`));
    log('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    const location = path.join(REPO_ROOT, '.azurite');
    mkdirSync(location, { recursive: true });
    azurite = await startAzurite({
      services: 'all',
      tablePort: ports.azuriteTable,
      blobPort: ports.azuriteBlob,
      queuePort: ports.azuriteQueue,
      location,
    });
    log(`Azurite on 127.0.0.1 (table ${ports.azuriteTable}, blob ${ports.azuriteBlob}, queue ${ports.azuriteQueue}), data in .azurite/`);

    broker = spawn(process.execPath, [path.join(__dirname, 'servicebus', 'main.js')], {
      env: { ...process.env, SERVICEBUS_PORT: String(ports.serviceBus) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    broker.once('exit', (code) => {
      if (!stopping) {
        log(`the local Service Bus exited unexpectedly (code ${code})`);
        void stop(1);
      }
    });
    await waitForPort(ports.serviceBus);
    log(`local Service Bus on 127.0.0.1:${ports.serviceBus}`);

    const settings = resolveLocalConnections(local.values, azurite.connectionString, ports.serviceBus);

    // Demo data into an empty store (an existing store is left as it is).
    await seedDemoData(new DataverseStore(settings.DataverseTables ?? ''), new FinanceStore(settings.FinanceTables ?? ''), log);

    host = await startFunctionsHost({
      appEntry: APP_BUILD_ENTRY,
      settings,
      httpPort: ports.http,
      httpHost: 'localhost',
      hostJsonPath: path.join(REPO_ROOT, 'host.json'),
      functionKeys: local.functionKeys,
      log,
    });
    log(`${host.functions.length} functions loaded: ${host.functions.map((f) => f.name).join(', ')}`);
    const key = Object.values(local.functionKeys)[0];
    if (key !== undefined) log(`function key: ${key} (send it as the x-functions-key header or ?code=; npm run demo uses it)`);
    log(`ready: ${host.baseUrl}/api/health   (Ctrl-C to stop)`);
    log(`console: ${host.baseUrl}/api/console   (pages for people; with function keys on, add ?code=<key>; the API: ${host.baseUrl}/api/openapi.json)`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    await stop(1);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
