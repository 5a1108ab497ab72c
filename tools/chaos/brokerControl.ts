/**
 * The harness's side of its broker process (broker.ts): start it on a fixed port, count what it
 * reports (messages kept, copies, dead letters), restart it without losing messages, release the
 * late copies, ask what is still pending, stop it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fromBroker, type DuplicationSettings, type FromBroker, type ToBroker } from './brokerProtocol';
import { childEnv } from './processes';

export interface DeadLetterEvent {
  queue: string;
  messageId?: string;
  reason?: string;
  description?: string;
  deliveryCount: number;
  enqueuedAt: string;
  at: string;
}

export interface BrokerCounters {
  /** Messages clients sent that the broker kept, per queue. */
  accepted: Record<string, number>;
  copies: { early: { kept: number; dropped: number }; late: { kept: number; dropped: number } };
  deadLettered: DeadLetterEvent[];
  restarts: number;
  /** Messages carried over restarts (loaded from the snapshot). */
  restored: number;
}

export interface BrokerStatus {
  pendingCopies: number;
  lateHeld: number;
  queues: Record<string, { messages: number; locked: number; scheduled: number; deadLetters: number }>;
}

export interface ChaosBrokerOptions {
  /** The compiled broker.js. */
  script: string;
  port: number;
  duplicateWindowMs: number;
  duplicates: DuplicationSettings | null;
  /** Folder for restart snapshots. */
  workDir: string;
  log: (line: string) => void;
}

type Reply<T extends FromBroker['type']> = Extract<FromBroker, { type: T }>;

export class ChaosBroker {
  readonly counters: BrokerCounters = { accepted: {}, copies: { early: { kept: 0, dropped: 0 }, late: { kept: 0, dropped: 0 } }, deadLettered: [], restarts: 0, restored: 0 };
  #child: ChildProcess | undefined;
  #exit: Promise<void> = Promise.resolve();
  #connectionString = '';
  #pending = new Map<number, (reply: FromBroker) => void>();
  #nextId = 1;
  #stderr = '';

  private constructor(private readonly options: ChaosBrokerOptions) {}

  static async start(options: ChaosBrokerOptions): Promise<ChaosBroker> {
    const broker = new ChaosBroker(options);
    await broker.#spawn(undefined);
    return broker;
  }

  get connectionString(): string {
    return this.#connectionString;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async #spawn(restoreFile: string | undefined): Promise<number> {
    this.#stderr = '';
    const child = fork(this.options.script, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [], env: childEnv() });
    this.#child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    let onReady: ((m: FromBroker | { type: 'exited'; detail: string }) => void) | undefined;
    this.#exit = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        onReady?.({ type: 'exited', detail: `code ${String(code)}, signal ${String(signal)}` });
        for (const r of this.#pending.values()) r({ type: 'startFailed', error: 'the broker process exited' });
        this.#pending.clear();
        resolve();
      }),
    );
    child.on('message', (raw: unknown) => {
      const parsed = fromBroker.safeParse(raw);
      if (!parsed.success) return;
      const m = parsed.data;
      switch (m.type) {
        case 'ready':
        case 'startFailed':
          onReady?.(m);
          return;
        case 'accepted':
          this.counters.accepted[m.queue] = (this.counters.accepted[m.queue] ?? 0) + 1;
          return;
        case 'copy': {
          const c = this.counters.copies[m.kind];
          if (m.kept) c.kept += 1;
          else c.dropped += 1;
          return;
        }
        case 'deadLettered': {
          const event: DeadLetterEvent = { queue: m.queue, deliveryCount: m.deliveryCount, enqueuedAt: m.enqueuedAt, at: new Date().toISOString() };
          if (m.messageId !== undefined) event.messageId = m.messageId;
          if (m.reason !== undefined) event.reason = m.reason;
          if (m.description !== undefined) event.description = m.description;
          this.counters.deadLettered.push(event);
          this.options.log(`  broker: ${m.queue} message ${m.messageId ?? '?'} dead-lettered (${m.reason ?? 'no reason'}, ${m.deliveryCount} deliveries)`);
          return;
        }
        case 'released':
        case 'status': {
          const r = this.#pending.get(m.id);
          this.#pending.delete(m.id);
          r?.(m);
          return;
        }
      }
    });
    const ready = await new Promise<FromBroker | { type: 'exited'; detail: string }>((resolve) => {
      onReady = resolve;
      const start: ToBroker = { type: 'start', port: this.options.port, duplicateWindowMs: this.options.duplicateWindowMs, duplicates: this.options.duplicates };
      if (restoreFile) start.restoreFile = restoreFile;
      child.send(start);
    });
    onReady = undefined;
    if (ready.type !== 'ready') {
      child.kill('SIGKILL');
      const why = ready.type === 'startFailed' ? ready.error : ready.type === 'exited' ? `it exited (${ready.detail}): ${this.#stderr.trim()}` : ready.type;
      throw new Error(`The chaos broker did not start on port ${this.options.port}: ${why}`);
    }
    this.#connectionString = ready.connectionString;
    return ready.restored;
  }

  #request<T extends 'released' | 'status'>(message: ToBroker, replyType: T): Promise<Reply<T>> {
    const child = this.#child;
    if (!child || !this.running) return Promise.reject(new Error('the broker process is not running'));
    const id = this.#nextId++;
    return new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the broker did not answer ${message.type} within 10 s`));
      }, 10_000);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.type === replyType) resolve(reply as Reply<T>);
        else reject(new Error(reply.type === 'startFailed' ? reply.error : `unexpected reply ${reply.type}`));
      });
      child.send({ ...message, id });
    });
  }

  /** Snapshot, die, stay down `downMs`, come back on the same port with every message. */
  async restart(downMs: number): Promise<{ restored: number }> {
    const child = this.#child;
    if (!child || !this.running) throw new Error('the broker is not running');
    const file = path.join(this.options.workDir, `broker-snapshot-${this.counters.restarts + 1}.json`);
    child.send({ type: 'snapshotAndExit', file } satisfies ToBroker);
    const died = await Promise.race([this.#exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
    if (!died) {
      child.kill('SIGKILL');
      await this.#exit;
      throw new Error('the broker did not write its snapshot within 15 s (killed; its messages are lost)');
    }
    await new Promise((r) => setTimeout(r, downMs));
    const restored = await this.#spawn(file);
    this.counters.restarts += 1;
    this.counters.restored += restored;
    return { restored };
  }

  async releaseLate(): Promise<number> {
    return (await this.#request({ type: 'releaseLate', id: 0 }, 'released')).count;
  }

  async status(): Promise<BrokerStatus> {
    const s = await this.#request({ type: 'status', id: 0 }, 'status');
    return { pendingCopies: s.pendingCopies, lateHeld: s.lateHeld, queues: s.queues };
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.disconnect?.();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.#exit;
    clearTimeout(timer);
  }

  /** Last resort (process exit): no waiting. */
  killNow(): void {
    if (this.running) this.#child?.kill('SIGKILL');
  }
}
