/**
 * Runs the local Service Bus broker as its own process.
 *   SERVICEBUS_PORT    port to listen on (default 5672)
 *   SERVICEBUS_HOST    interface to bind (default 127.0.0.1)
 *   SERVICEBUS_CONFIG  emulator Config.json (default tools/servicebus/config.json)
 *   SERVICEBUS_LOG=1   progress/debug lines on stderr
 * Prints one line with the connection string when ready; stops cleanly on SIGINT/SIGTERM.
 */
import { startServiceBus } from './index';

async function main(): Promise<void> {
  const rawPort = process.env['SERVICEBUS_PORT'] ?? '5672';
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`SERVICEBUS_PORT must be a TCP port number (got "${rawPort}")`);
  }
  const verbose = process.env['SERVICEBUS_LOG'] === '1';
  const broker = await startServiceBus({
    host: process.env['SERVICEBUS_HOST'] || undefined,
    port,
    configFile: process.env['SERVICEBUS_CONFIG'] || undefined,
    log: verbose ? (line) => process.stderr.write(`[servicebus] ${line}\n`) : undefined,
  });
  process.stdout.write(`Service Bus broker ready: ${broker.connectionString}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[servicebus] ${signal}: shutting down\n`);
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`[servicebus] shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`[servicebus] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
