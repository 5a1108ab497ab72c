/**
 * The faults of a chaos run, each one function over the running system. Each records what it did
 * (and when) in a FaultRecord; while it is active its name is in `system.activeFaults`, so 5xx
 * answers in that window are told apart from the others.
 */
import type { ChaosHost } from './host';
import { sleep } from './processes';
import type { ChaosSystem } from './system';

export interface FaultRecord {
  name: string;
  startedAt: string;
  endedAt?: string;
  seconds?: number;
  /** What exactly happened (what was in flight at a kill, what was restored, ...). */
  detail: string;
  /** True when the fault could not be injected as asked (for example nothing was in flight). */
  skipped?: boolean;
  error?: string;
}

export type FaultName =
  | 'storage-down-short'
  | 'storage-down-long'
  | 'storage-hang'
  | 'host-kill-confirmation'
  | 'host-kill-import'
  | 'host-kill-posting'
  | 'broker-restart'
  | 'skewed-import-runners';

export const ALL_FAULTS: readonly FaultName[] = [
  'host-kill-confirmation',
  'storage-hang',
  'host-kill-import',
  'storage-down-short',
  'skewed-import-runners',
  'broker-restart',
  'host-kill-posting',
  'storage-down-long',
];

export interface FaultDurations {
  storageShortMs: number;
  storageLongMs: number;
  hangMs: number;
  brokerDownMs: number;
  hostDownMs: number;
  /** How long a kill waits for its function to be in flight. */
  armMs: number;
  clockOffsetMs: number;
}

export async function inject(sys: ChaosSystem, name: FaultName, d: FaultDurations, log: (line: string) => void): Promise<FaultRecord> {
  const rec: FaultRecord = { name, startedAt: new Date().toISOString(), detail: '' };
  const started = Date.now();
  sys.faultStarted(name);
  try {
    switch (name) {
      case 'storage-down-short':
      case 'storage-down-long': {
        const ms = name === 'storage-down-short' ? d.storageShortMs : d.storageLongMs;
        const note = await sys.storage.stop();
        await sleep(ms);
        await sys.storage.startAgain();
        rec.detail = `Azurite stopped (SIGINT, its data saved in ${sys.storage.location}), down ${Math.round(ms / 1000)} s, started again on port ${sys.storage.tablePort}${note ? `; ${note}` : ''}`;
        break;
      }
      case 'storage-hang': {
        sys.storage.pause();
        await sleep(d.hangMs);
        sys.storage.resume();
        rec.detail = `Azurite (pid ${sys.storage.pid ?? '?'}) stopped with SIGSTOP for ${Math.round(d.hangMs / 1000)} s (connections open, nothing answered), then SIGCONT`;
        break;
      }
      case 'host-kill-confirmation':
        Object.assign(rec, await killDuring(sys, 'confirmProformaInvoice', d, log));
        break;
      case 'host-kill-posting':
        Object.assign(rec, await killDuring(sys, 'postInvoiceProposal', d, log));
        break;
      case 'host-kill-import':
        Object.assign(rec, await killDuring(sys, 'importFromStaging', d, log, async () => void (await sys.adminRun('importFromStaging'))));
        break;
      case 'broker-restart': {
        // Armed like the kills: the restart waits (up to armMs) for messages to be in the queues.
        const until = Date.now() + d.armMs;
        let held = 0;
        while (Date.now() < until) {
          const status = await sys.broker.status().catch(() => undefined);
          held = Object.values(status?.queues ?? {}).reduce((n, q) => n + q.messages, 0);
          if (held > 0) break;
          await sleep(20);
        }
        await sys.dropServiceBusClient();
        const { restored } = await sys.broker.restart(d.brokerDownMs);
        rec.detail = `broker snapshot written with ${held} message(s) in the queues and the process killed (SIGKILL), down ${Math.round(d.brokerDownMs / 1000)} s, restarted on the same port with ${restored} message(s) (active, locked and scheduled; the dead letters too) loaded from the snapshot`;
        rec.skipped = held === 0;
        break;
      }
      case 'skewed-import-runners':
        rec.detail = await skewedImports(sys, d.clockOffsetMs);
        break;
    }
  } catch (error) {
    rec.error = error instanceof Error ? error.message : String(error);
    log(`  fault ${name} failed: ${rec.error}`);
  } finally {
    sys.faultEnded(name);
    rec.endedAt = new Date().toISOString();
    rec.seconds = Math.round((Date.now() - started) / 100) / 10;
  }
  return rec;
}

/**
 * SIGKILL the host while `fn` runs: poll the host's invocation counts every 5 ms (up to armMs,
 * `trigger` starting one when given); when one is in flight, wait 0-15 ms more (so the kill lands
 * somewhere inside it), check it still runs (else wait for the next), kill, and start a new host
 * after hostDownMs.
 */
async function killDuring(sys: ChaosSystem, fn: string, d: FaultDurations, log: (line: string) => void, trigger?: () => Promise<void>): Promise<Partial<FaultRecord>> {
  const host: ChaosHost = await sys.currentHost();
  if (trigger) await trigger();
  const deadline = Date.now() + d.armMs;
  const running = async (): Promise<{ target: number; all: string[] }> => {
    const stats = await host.stats().catch(() => undefined);
    const all = Object.entries(stats?.executions ?? {})
      .map(([name, c]) => [name, c.started - c.succeeded - c.failed] as const)
      .filter(([, n]) => n > 0);
    return { target: all.find(([name]) => name === fn)?.[1] ?? 0, all: all.map(([name, n]) => `${name} x${n}`) };
  };
  let atKill: { target: number; all: string[] } = { target: 0, all: [] };
  while (Date.now() < deadline) {
    if ((await running()).target > 0) {
      await sleep(Math.floor(Math.random() * 15));
      atKill = await running();
      if (atKill.target > 0) break;
    }
    await sleep(5);
  }
  if (atKill.target === 0) {
    atKill = await running();
    log(`  no ${fn} invocation in flight within ${Math.round(d.armMs / 1000)} s: killing the host anyway`);
  }
  sys.killHost();
  await host.exited;
  await sleep(d.hostDownMs);
  const next = await sys.startHost();
  return {
    detail: `${host.label} (pid ${host.pid}) killed with SIGKILL ${atKill.target > 0 ? `while ${fn} ran` : `(no ${fn} in flight within the wait)`}; in flight at the kill: ${atKill.all.join(', ') || 'nothing'}; ${next.label} started after ${Math.round(d.hostDownMs / 1000)} s`,
    skipped: atKill.target === 0,
  };
}

/**
 * Two import runners at once with skewed clocks: a second host whose clock runs `offsetMs` ahead
 * (clockSkew.js), and the import fired on both hosts at the same moment, three times. With the
 * default offset (over the import lease's 60 s) the skewed runner sees the other's lease as
 * expired and takes it over while the first still runs.
 */
async function skewedImports(sys: ChaosSystem, offsetMs: number): Promise<string> {
  const second = await sys.startSecondHost(offsetMs);
  try {
    const fired: string[] = [];
    for (let i = 0; i < 3; i++) {
      const primary = await sys.currentHost();
      const [a, b] = await Promise.all([sys.adminRun('importFromStaging', primary), sys.adminRun('importFromStaging', second)]);
      fired.push(`${a}/${b}`);
      // Wait for both runs to end (or 60 s).
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        const [sa, sb] = await Promise.all([primary.stats().catch(() => undefined), second.stats().catch(() => undefined)]);
        const busy = (s: typeof sa) => {
          const c = s?.executions.importFromStaging;
          return c ? c.started - c.succeeded - c.failed : 0;
        };
        if (busy(sa) === 0 && busy(sb) === 0) break;
        await sleep(100);
      }
      await sleep(1_000);
    }
    const s2 = await second.stats().catch(() => undefined);
    const c2 = s2?.executions.importFromStaging;
    return `second host ${second.label} (pid ${second.pid}) with its clock ${Math.round(offsetMs / 1000)} s ahead; importFromStaging fired on both at once 3 times (admin answers ${fired.join(', ')}); the skewed host ran it ${c2 ? `${c2.succeeded} time(s) ok, ${c2.failed} failed` : 'not at all'}, besides its own schedule`;
  } finally {
    await sys.stopSecondHost();
  }
}
