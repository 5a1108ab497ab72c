/**
 * The Functions host of the benchmark, in a process of its own (forked by hostClient.ts), so its
 * memory is measured alone and it does not share an event loop with the load generator.
 *
 * It starts the local host (tools/host) on the compiled app, writes the host log to a file,
 * counts invocations from the log lines, samples its own RSS every 50 ms, and answers the
 * parent's requests (hostProtocol.ts).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { startFunctionsHost, type FunctionsHost } from '../host';
import { ExecutionTally, fromHost, toHost, type FromHost } from './hostProtocol';

const MAX_ERROR_LINES = 20;

let host: FunctionsHost | undefined;
let logStream: WriteStream | undefined;
const tally = new ExecutionTally();
let errorLines = 0;
let peakRss = process.memoryUsage.rss();

const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
}, 50);

function send(message: FromHost): void {
  // Validate what we send as well: a malformed reply is a bug here, better found at once.
  process.send?.(fromHost.parse(message));
}

function hostLog(line: string): void {
  logStream?.write(`${line}\n`);
  const seen = tally.see(line);
  if ((seen === 'failed' || / \[Error\] /.test(line)) && errorLines < MAX_ERROR_LINES) {
    errorLines += 1;
    send({ type: 'hostError', line: line.slice(0, 2000) });
  }
}

async function stop(): Promise<void> {
  clearInterval(sampler);
  if (host) await host.stop();
  host = undefined;
  await new Promise<void>((resolve) => (logStream ? logStream.end(resolve) : resolve()));
}

process.on('message', (raw: unknown) => {
  const parsed = toHost.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`bench host: ignored a malformed request: ${parsed.error.message}\n`);
    return;
  }
  const message = parsed.data;
  switch (message.type) {
    case 'start':
      logStream = createWriteStream(message.logFile, { flags: 'a' });
      startFunctionsHost({ appEntry: message.appEntry, settings: message.settings, httpPort: 0, httpHost: '127.0.0.1', log: hostLog }).then(
        (started) => {
          host = started;
          send({ type: 'ready', baseUrl: started.baseUrl, functions: started.functions.map((f) => f.name) });
        },
        (error: unknown) => send({ type: 'startFailed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
      break;
    case 'mark': {
      const rss = process.memoryUsage.rss();
      const peak = Math.max(peakRss, rss);
      peakRss = rss;
      send({ type: 'mark', id: message.id, peakRss: peak, rss, maxRss: process.resourceUsage().maxRSS * 1024 });
      break;
    }
    case 'stats': {
      const cpu = process.cpuUsage();
      send({ type: 'stats', id: message.id, executions: tally.counts, inFlight: tally.inFlight(), cpuMicros: cpu.user + cpu.system });
      break;
    }
    case 'stop':
      stop().then(
        () => {
          send({ type: 'stopped', id: message.id });
          process.disconnect?.();
        },
        (error: unknown) => {
          process.stderr.write(`bench host: stop failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
      break;
  }
});

// The parent went away (crash, Ctrl-C): do not linger.
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});
