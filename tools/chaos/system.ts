/**
 * The system under chaos, every part a process of its own: Azurite (storage.ts, data in a
 * folder), the broker (broker.ts through brokerControl.ts) and the Functions host (host.ts), and a
 * second host with a skewed clock when a fault asks for one. Around them, what the harness
 * needs as an outside program: HTTP to the current host (waiting while it restarts), the Service
 * Bus SDK for sending and peeking, and a record of every 5xx answer with the faults active then.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
import { Queues } from '../../shared/messages';
import { DataverseStore } from '../../shared/dataverse/dataverseStore';
import { FinanceStore } from '../../shared/finance/financeStore';
import { ErrorLog } from '../../shared/operations/errorLogStore';
import { freePort } from '../ports';
import { ChaosBroker } from './brokerControl';
import type { DuplicationSettings } from './brokerProtocol';
import { startChaosHost, type ChaosHost, type HostArtifacts } from './host';
import { sleep } from './processes';
import { ChaosStorage } from './storage';

export interface Artifacts extends HostArtifacts {
  /** tools/chaos/broker.js of a build. */
  broker: string;
}

export type Purpose = 'workload' | 'fuzz' | 'probe' | 'harness';

export interface Answer5xx {
  at: string;
  host: string;
  purpose: Purpose;
  method: string;
  route: string;
  status: number;
  detail: string;
  /** Faults whose window overlapped the request (empty: none). */
  faults: string[];
  request?: string;
}

export interface Reply {
  status: number;
  headers: Headers;
  // Replies are read field by field; each caller checks the shape it expects.
  body: any;
  text: string;
}

/** The host did not answer (killed, restarting, or the connection dropped). */
export class Unreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unreachable';
  }
}

export interface ChaosSystemOptions {
  artifacts: Artifacts;
  /** Run folder: Azurite's data, host logs, broker snapshots. */
  workDir: string;
  importEverySeconds: number;
  duplicateWindowMs: number;
  duplicates: DuplicationSettings | null;
  log: (line: string) => void;
}

export class ChaosSystem {
  readonly answers = { total: 0, byClass: {} as Record<string, number>, fiveXx: [] as Answer5xx[] };
  /** Faults active now (names). */
  readonly activeFaults = new Set<string>();
  /** When each fault ran; a request overlapping one (or the 10 s after it) is attributed to it. */
  readonly faultWindows: { name: string; start: number; end?: number }[] = [];
  readonly hostLogs: string[] = [];
  readonly dataverse: DataverseStore;
  readonly finance: FinanceStore;
  readonly errorLog: ErrorLog;
  #host: ChaosHost | undefined;
  #hostUp: Promise<ChaosHost>;
  #hostUpResolve: ((h: ChaosHost) => void) | undefined;
  #hostStarts = 0;
  #secondHost: ChaosHost | undefined;
  #client: ServiceBusClient | undefined;
  #stopped = false;
  readonly #exitHandler = (): void => this.killNow();

  private constructor(
    readonly options: ChaosSystemOptions,
    readonly storage: ChaosStorage,
    readonly broker: ChaosBroker,
    readonly settings: Record<string, string>,
  ) {
    this.dataverse = new DataverseStore(storage.connectionString);
    this.finance = new FinanceStore(storage.connectionString);
    this.errorLog = new ErrorLog(storage.connectionString);
    this.#hostUp = new Promise((resolve) => (this.#hostUpResolve = resolve));
  }

  static async start(options: ChaosSystemOptions): Promise<ChaosSystem> {
    mkdirSync(options.workDir, { recursive: true });
    const storage = await ChaosStorage.start(path.join(options.workDir, 'azurite'));
    let broker: ChaosBroker | undefined;
    try {
      broker = await ChaosBroker.start({
        script: options.artifacts.broker,
        port: await freePort(),
        duplicateWindowMs: options.duplicateWindowMs,
        duplicates: options.duplicates,
        workDir: options.workDir,
        log: options.log,
      });
      const settings: Record<string, string> = {
        AzureWebJobsStorage: storage.connectionString,
        ServiceBusConnection: broker.connectionString,
        DataverseTables: storage.connectionString,
        FinanceTables: storage.connectionString,
        IntegrationTables: storage.connectionString,
        ImportFromStagingSchedule: `*/${options.importEverySeconds} * * * * *`,
        AccountingCurrency: 'USD',
      };
      const system = new ChaosSystem(options, storage, broker, settings);
      process.once('exit', system.#exitHandler);
      await system.startHost();
      return system;
    } catch (error) {
      broker?.killNow();
      storage.killNow();
      throw error;
    }
  }

  get host(): ChaosHost | undefined {
    return this.#host;
  }

  get hostStarts(): number {
    return this.#hostStarts;
  }

  /** Start the (primary) host; callers waiting in http() go on once it is up. */
  async startHost(): Promise<ChaosHost> {
    this.#hostStarts += 1;
    const logFile = path.join(this.options.workDir, `host-${this.#hostStarts}.log`);
    this.hostLogs.push(logFile);
    const host = await startChaosHost({ label: `host#${this.#hostStarts}`, artifacts: this.options.artifacts, settings: this.settings, logFile });
    this.#host = host;
    this.#hostUpResolve?.(host);
    this.#hostUpResolve = undefined;
    return host;
  }

  /** SIGKILL the primary host; http() waits until startHost() brings one back. */
  killHost(): ChaosHost | undefined {
    const host = this.#host;
    if (!host) return undefined;
    this.#hostUp = new Promise((resolve) => (this.#hostUpResolve = resolve));
    this.#host = undefined;
    host.kill('SIGKILL');
    return host;
  }

  /** A second host on the same storage and broker, its clock `offsetMs` off. */
  async startSecondHost(offsetMs: number): Promise<ChaosHost> {
    const logFile = path.join(this.options.workDir, `host-skewed.log`);
    this.hostLogs.push(logFile);
    this.#secondHost = await startChaosHost({ label: 'host-skewed', artifacts: this.options.artifacts, settings: this.settings, logFile, clockOffsetMs: offsetMs });
    return this.#secondHost;
  }

  async stopSecondHost(): Promise<void> {
    await this.#secondHost?.stop();
    this.#secondHost = undefined;
  }

  /** The current host, waiting (up to `timeoutMs`) while it restarts. */
  async currentHost(timeoutMs = 120_000): Promise<ChaosHost> {
    if (this.#host?.running()) return this.#host;
    const timeout = sleep(timeoutMs).then(() => undefined);
    const host = await Promise.race([this.#hostUp, timeout]);
    if (!host) throw new Unreachable(`no Functions host came up within ${timeoutMs / 1000} s`);
    return host;
  }

  /**
   * One HTTP call to the current host. Throws Unreachable when nothing answered. Every answer is
   * counted; 5xx answers are kept with the faults active at the time.
   */
  async http(
    method: string,
    route: string,
    body?: unknown,
    options: { purpose?: Purpose; timeoutMs?: number; headers?: Record<string, string>; host?: ChaosHost; rawPath?: boolean } = {},
  ): Promise<Reply> {
    const host = options.host ?? (await this.currentHost());
    const url = options.rawPath ? `${host.baseUrl}${route}` : `${host.baseUrl}/api/${route}`;
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const sentAt = Date.now();
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        body: payload,
        signal: AbortSignal.timeout(options.timeoutMs ?? 90_000),
      });
    } catch (error) {
      const cause = error instanceof Error ? ((error as { cause?: { code?: string; message?: string } }).cause?.code ?? error.message) : String(error);
      throw new Unreachable(`${method} /api/${route} on ${host.label}: ${cause}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new Unreachable(`${method} /api/${route} on ${host.label}: the answer broke off (${error instanceof Error ? error.message : String(error)})`);
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    this.answers.total += 1;
    const cls = `${Math.floor(response.status / 100)}xx`;
    this.answers.byClass[cls] = (this.answers.byClass[cls] ?? 0) + 1;
    if (response.status >= 500) {
      const detail = typeof parsed === 'object' && parsed !== null && typeof (parsed as { detail?: unknown }).detail === 'string' ? (parsed as { detail: string }).detail : text;
      const record: Answer5xx = {
        at: new Date().toISOString(),
        host: host.label,
        purpose: options.purpose ?? 'workload',
        method,
        route: route.length > 300 ? `${route.slice(0, 300)}...(${route.length} chars)` : route,
        status: response.status,
        detail: detail.slice(0, 600),
        faults: this.faultsBetween(sentAt, Date.now()),
      };
      if (payload !== undefined) {
        const p = typeof payload === 'string' ? payload : payload.toString('utf8');
        record.request = p.length > 600 ? `${p.slice(0, 600)}...(${p.length} chars)` : p;
      }
      this.answers.fiveXx.push(record);
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  /** Mark a fault active (until faultEnded). */
  faultStarted(name: string): void {
    this.activeFaults.add(name);
    this.faultWindows.push({ name, start: Date.now() });
  }

  faultEnded(name: string): void {
    this.activeFaults.delete(name);
    for (const w of this.faultWindows) if (w.name === name && w.end === undefined) w.end = Date.now();
  }

  /** Faults whose window (plus a 10 s grace after it: requests sent during it finish later) overlaps [from, to]. */
  faultsBetween(from: number, to: number): string[] {
    return [...new Set(this.faultWindows.filter((w) => w.start <= to && (w.end === undefined || w.end + 10_000 >= from)).map((w) => w.name))];
  }

  /** Fire a timer or queue function now through the admin API of `host` (default: the current one). */
  async adminRun(functionName: string, host?: ChaosHost): Promise<number> {
    const h = host ?? (await this.currentHost());
    const response = await fetch(`${h.baseUrl}/admin/functions/${functionName}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(30_000) });
    await response.arrayBuffer();
    return response.status;
  }

  #serviceBus(): ServiceBusClient {
    this.#client ??= new ServiceBusClient(this.broker.connectionString, { retryOptions: { maxRetries: 5, retryDelayInMs: 500, maxRetryDelayInMs: 5_000, timeoutInMs: 30_000 } });
    return this.#client;
  }

  /** One message as an outside program sends it (a string body goes as text, anything else as JSON). */
  async send(queue: string, body: unknown, extra: Partial<ServiceBusMessage> = {}): Promise<void> {
    const sender = this.#serviceBus().createSender(queue);
    try {
      await sender.sendMessages({ body, contentType: typeof body === 'string' ? 'text/plain' : 'application/json', messageId: randomUUID(), ...extra });
    } finally {
      await sender.close().catch(() => undefined);
    }
  }

  /** Messages (waiting or locked) per contract queue, by peeking with a fresh client. */
  async queueDepths(): Promise<Record<string, number>> {
    const client = new ServiceBusClient(this.broker.connectionString, { retryOptions: { maxRetries: 2, timeoutInMs: 15_000 } });
    const out: Record<string, number> = {};
    try {
      for (const queue of Object.values(Queues)) {
        const receiver = client.createReceiver(queue);
        try {
          let n = 0;
          for (;;) {
            const page = await receiver.peekMessages(250);
            n += page.length;
            if (page.length < 250) break;
          }
          out[queue] = n;
        } finally {
          await receiver.close();
        }
      }
      return out;
    } finally {
      await client.close();
    }
  }

  /** Every message in the contract queues' dead-letter queues (peeked through the SDK, as an operator would). */
  async deadLetters(): Promise<{ queue: string; messageId: string; enqueuedAt?: string; reason?: string; description?: string; deliveryCount?: number }[]> {
    const client = new ServiceBusClient(this.broker.connectionString, { retryOptions: { maxRetries: 2, timeoutInMs: 15_000 } });
    const out: { queue: string; messageId: string; enqueuedAt?: string; reason?: string; description?: string; deliveryCount?: number }[] = [];
    try {
      for (const queue of Object.values(Queues)) {
        const receiver = client.createReceiver(queue, { subQueueType: 'deadLetter' });
        try {
          for (;;) {
            const page = await receiver.peekMessages(250);
            for (const m of page) {
              const entry: (typeof out)[number] = { queue, messageId: String(m.messageId ?? '') };
              if (m.enqueuedTimeUtc) entry.enqueuedAt = m.enqueuedTimeUtc.toISOString();
              if (m.deadLetterReason) entry.reason = m.deadLetterReason;
              if (m.deadLetterErrorDescription) entry.description = m.deadLetterErrorDescription;
              if (m.deliveryCount !== undefined) entry.deliveryCount = m.deliveryCount;
              out.push(entry);
            }
            if (page.length < 250) break;
          }
        } finally {
          await receiver.close();
        }
      }
      return out;
    } finally {
      await client.close();
    }
  }

  /** Before a broker restart: the SDK client of the harness reconnects by itself, but a fresh one is quicker. */
  async dropServiceBusClient(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await c?.close().catch(() => undefined);
  }

  async stop(): Promise<string[]> {
    const notes: string[] = [];
    if (this.#stopped) return notes;
    this.#stopped = true;
    await this.dropServiceBusClient();
    await this.#secondHost?.stop().catch(() => undefined);
    await this.#host?.stop().catch(() => undefined);
    await this.broker.stop().catch(() => undefined);
    const note = await this.storage.stop().catch((e: unknown) => `stopping Azurite failed: ${e instanceof Error ? e.message : String(e)}`);
    if (note) notes.push(note);
    process.removeListener('exit', this.#exitHandler);
    return notes;
  }

  /** Synchronous last resort (process exit, Ctrl-C): every child killed. */
  killNow(): void {
    this.#secondHost?.kill('SIGKILL');
    this.#host?.kill('SIGKILL');
    this.broker.killNow();
    this.storage.killNow();
  }
}
