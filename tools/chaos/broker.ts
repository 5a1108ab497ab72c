/**
 * The chaos harness's Service Bus broker, a process of its own (forked by brokerControl.ts): the
 * local broker of tools/servicebus, unchanged on the wire, with three additions the faults need.
 *
 * - Every message is delivered twice. Each message a client sends that the broker keeps is
 *   enqueued once more by the broker itself (the same bytes, the same message id) `afterMs` later,
 *   after the queue's duplicate-detection window (the harness shortens it), so the copy is not
 *   dropped: the consumer sees the message a second time, as after a lost settlement. Every
 *   `lateEvery`-th message gets a third, "late" copy, held until the harness releases it (after
 *   the invoices are Posted). The harness's fuzz messages are not copied, and a message that is
 *   dead-lettered loses its pending copies (they would replay it silently).
 * - A restart that loses nothing. The local broker keeps messages in memory; Azure Service Bus
 *   does not lose them when a node restarts. On `snapshotAndExit` the process writes every
 *   message (active, locked, scheduled), every dead letter, the duplicate-detection history and
 *   the pending copies to a file and kills itself in the same turn of the event loop, so nothing
 *   is accepted or settled after the snapshot. The next process loads the file: locked messages
 *   come back unlocked with their delivery count + 1 (dead-lettered when that reaches the
 *   queue's max delivery count), as when a lock is lost. Sequence numbers are new.
 * - Events: the harness is told of every message kept, every copy and every dead letter.
 *
 * It stops when the harness goes away (IPC disconnect).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { serviceBusConnectionString } from '../servicebus';
import { decodeMessage, encodeMessage, type MessageParts, type MessageState } from '../servicebus/codec';
import { defaultConfigFile, loadEmulatorConfig, type QueueDefinition } from '../servicebus/config';
import { Entity, Namespace, type StoredMessage } from '../servicebus/queue';
import { BrokerServer } from '../servicebus/server';
import { fromBroker, toBroker, type DuplicationSettings, type FromBroker } from './brokerProtocol';

/** What this file uses of an entity beyond its public surface. */
interface EntityInternals {
  readonly name: string;
  readonly isDeadLetterQueue: boolean;
  readonly deadLetterQueue: Entity | undefined;
  readonly definition: QueueDefinition;
  messages: Map<number, StoredMessage>;
  recentMessageIds: Map<string, number>;
  store(parts: MessageParts, state: MessageState, now: number): StoredMessage;
  storeScheduled(parts: MessageParts, at: number): StoredMessage;
  activate(m: StoredMessage, now: number): void;
  deadLetter(m: StoredMessage, reason: string | undefined, description: string | undefined, properties?: Record<string, unknown>): void;
  enqueue(batch: MessageParts[], now?: number): number;
  pump(): void;
}

const internals = (e: Entity): EntityInternals => e as unknown as EntityInternals;

interface SavedMessage {
  parts: string;
  state: MessageState;
  deliveryCount: number;
  locked: boolean;
  enqueuedAt: number;
  scheduledAt?: number;
}

interface Snapshot {
  savedAt: string;
  queues: { name: string; messages: SavedMessage[]; deadLetters: SavedMessage[]; recent: [string, number][] }[];
  copies: { queue: string; at: number; parts: string }[];
  late: { queue: string; parts: string }[];
  seen: number;
}

interface PendingCopy {
  queue: string;
  at: number;
  parts: MessageParts;
  timer: NodeJS.Timeout;
}

let namespace: Namespace | undefined;
let server: BrokerServer | undefined;
let duplicates: DuplicationSettings | null = null;
/** True while the broker itself stores messages (restore, copies): not reported as sent by a client. */
let quiet = false;
let seen = 0;
const pending = new Set<PendingCopy>();
let late: { queue: string; parts: MessageParts }[] = [];

function send(message: FromBroker): void {
  if (process.connected) process.send?.(fromBroker.parse(message));
}

function entityOf(name: string): Entity | undefined {
  return namespace?.resolve(name);
}

/** A message's parts as bytes that decodeMessage gives back (the broker's own annotations are dropped on decode). */
function saveParts(parts: MessageParts): string {
  return encodeMessage(parts, { sequenceNumber: 0, enqueuedTime: 0, enqueueSequenceNumber: 0, deliveryCount: 0, state: 'active' }).toString('base64');
}

function loadParts(saved: string): MessageParts {
  return decodeMessage(Buffer.from(saved, 'base64'));
}

function inject(kind: 'early' | 'late', queue: string, parts: MessageParts): void {
  const entity = entityOf(queue);
  if (!entity) return;
  quiet = true;
  let kept = 0;
  try {
    kept = entity.enqueue([parts]);
  } finally {
    quiet = false;
  }
  send({ type: 'copy', kind, queue, messageId: parts.messageId, kept: kept > 0 });
}

function scheduleCopy(queue: string, parts: MessageParts, at: number): void {
  const copy: PendingCopy = {
    queue,
    at,
    parts,
    timer: setTimeout(() => {
      pending.delete(copy);
      inject('early', queue, parts);
    }, Math.max(0, at - Date.now())),
  };
  pending.add(copy);
}

function dropCopies(queue: string, messageId: string): void {
  for (const c of [...pending]) {
    if (c.queue === queue && c.parts.messageId === messageId) {
      clearTimeout(c.timer);
      pending.delete(c);
    }
  }
  late = late.filter((l) => !(l.queue === queue && l.parts.messageId === messageId));
}

function accepted(entity: EntityInternals, parts: MessageParts): void {
  send({ type: 'accepted', queue: entity.name, messageId: parts.messageId, size: parts.size });
  if (!duplicates || (parts.messageId ?? '').startsWith(duplicates.skipPrefix)) return;
  seen += 1;
  scheduleCopy(entity.name, parts, Date.now() + duplicates.afterMs + Math.floor(Math.random() * (duplicates.jitterMs + 1)));
  if (duplicates.lateEvery > 0 && seen % duplicates.lateEvery === 0) late.push({ queue: entity.name, parts });
}

function patchEntities(): void {
  const proto = Entity.prototype as unknown as EntityInternals;
  const store = proto.store;
  proto.store = function (this: EntityInternals, parts: MessageParts, state: MessageState, now: number): StoredMessage {
    const m = store.call(this, parts, state, now);
    if (!quiet && !this.isDeadLetterQueue) accepted(this, m.parts);
    return m;
  };
  const deadLetter = proto.deadLetter;
  proto.deadLetter = function (this: EntityInternals, m: StoredMessage, reason: string | undefined, description: string | undefined, properties?: Record<string, unknown>): void {
    const deliveryCount = m.deliveryCount;
    const enqueuedAt = new Date(m.enqueuedAt).toISOString();
    deadLetter.call(this, m, reason, description, properties);
    // A dead-lettered message is not delivered again (only an operator's replay would): its pending
    // copies are dropped, so they cannot hide the loss.
    if (m.parts.messageId !== undefined) dropCopies(this.name, m.parts.messageId);
    send({ type: 'deadLettered', queue: this.name, messageId: m.parts.messageId, reason, description, deliveryCount, enqueuedAt });
  };
}

function queuesOf(ns: Namespace): Entity[] {
  return [...(ns as unknown as { queues: Map<string, Entity> }).queues.values()];
}

function saveMessage(m: StoredMessage): SavedMessage {
  const saved: SavedMessage = { parts: saveParts(m.parts), state: m.state, deliveryCount: m.deliveryCount, locked: m.lock !== undefined, enqueuedAt: m.enqueuedAt };
  if (m.scheduledAt !== undefined) saved.scheduledAt = m.scheduledAt;
  return saved;
}

function snapshotAndExit(file: string): void {
  const ns = namespace;
  const snapshot: Snapshot = { savedAt: new Date().toISOString(), queues: [], copies: [], late: [], seen };
  if (ns) {
    for (const entity of queuesOf(ns)) {
      const e = internals(entity);
      const dlq = e.deadLetterQueue ? internals(e.deadLetterQueue) : undefined;
      const ordered = (map: Map<number, StoredMessage>) => [...map.values()].sort((a, b) => a.sequenceNumber - b.sequenceNumber);
      snapshot.queues.push({
        name: e.name,
        messages: ordered(e.messages).map(saveMessage),
        deadLetters: dlq ? ordered(dlq.messages).map(saveMessage) : [],
        recent: [...e.recentMessageIds.entries()],
      });
    }
  }
  for (const c of pending) snapshot.copies.push({ queue: c.queue, at: c.at, parts: saveParts(c.parts) });
  for (const l of late) snapshot.late.push({ queue: l.queue, parts: saveParts(l.parts) });
  writeFileSync(file, JSON.stringify(snapshot));
  // Die in this same turn: nothing may be accepted or settled after the snapshot.
  process.kill(process.pid, 'SIGKILL');
}

function restore(file: string): number {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const now = Date.now();
  let restored = 0;
  quiet = true;
  try {
    for (const q of snapshot.queues) {
      const entity = entityOf(q.name);
      if (!entity) continue;
      const e = internals(entity);
      for (const saved of q.messages) {
        const parts = loadParts(saved.parts);
        restored += 1;
        if (saved.state === 'scheduled' && saved.scheduledAt !== undefined) {
          e.storeScheduled(parts, saved.scheduledAt);
          continue;
        }
        const m = e.store(parts, 'active', now);
        e.activate(m, now);
        m.enqueuedAt = saved.enqueuedAt;
        // A lock does not survive the restart: counted as a delivery, as when a lock is lost.
        m.deliveryCount = saved.deliveryCount + (saved.locked ? 1 : 0);
        if (m.deliveryCount >= e.definition.maxDeliveryCount) {
          e.deadLetter(m, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${e.definition.maxDeliveryCount} delivery attempts.`);
        }
      }
      const dlq = e.deadLetterQueue ? internals(e.deadLetterQueue) : undefined;
      if (dlq) {
        for (const saved of q.deadLetters) {
          const m = dlq.store(loadParts(saved.parts), 'active', now);
          dlq.activate(m, now);
          m.enqueuedAt = saved.enqueuedAt;
          m.deliveryCount = saved.deliveryCount;
        }
      }
      e.recentMessageIds = new Map(q.recent);
    }
  } finally {
    quiet = false;
  }
  seen = snapshot.seen;
  for (const c of snapshot.copies) scheduleCopy(c.queue, loadParts(c.parts), c.at);
  late = snapshot.late.map((l) => ({ queue: l.queue, parts: loadParts(l.parts) }));
  return restored;
}

async function start(options: { port: number; duplicateWindowMs: number; duplicates: DuplicationSettings | null; restoreFile?: string }): Promise<void> {
  duplicates = options.duplicates;
  const queues = loadEmulatorConfig(defaultConfigFile()).map((q) => ({ ...q, duplicateDetectionHistoryTimeWindowMs: options.duplicateWindowMs }));
  const ns = new Namespace(queues, { log: () => undefined });
  namespace = ns;
  const restored = options.restoreFile ? restore(options.restoreFile) : 0;
  server = new BrokerServer({ host: '127.0.0.1', port: options.port, namespace: ns, log: () => undefined });
  const port = await server.listen();
  send({ type: 'ready', port, connectionString: serviceBusConnectionString('127.0.0.1', port), restored });
}

function status(id: number): void {
  const queues: Record<string, { messages: number; locked: number; scheduled: number; deadLetters: number }> = {};
  for (const entity of namespace ? queuesOf(namespace) : []) {
    const e = internals(entity);
    const all = [...e.messages.values()];
    queues[e.name] = {
      messages: all.length,
      locked: all.filter((m) => m.lock !== undefined).length,
      scheduled: all.filter((m) => m.state === 'scheduled').length,
      deadLetters: e.deadLetterQueue ? internals(e.deadLetterQueue).messages.size : 0,
    };
  }
  send({ type: 'status', id, pendingCopies: pending.size, lateHeld: late.length, queues });
}

patchEntities();

process.on('message', (raw: unknown) => {
  const parsed = toBroker.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`chaos broker: ignored a malformed request: ${parsed.error.message}\n`);
    return;
  }
  const message = parsed.data;
  switch (message.type) {
    case 'start':
      start(message).catch((error: unknown) => send({ type: 'startFailed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
      break;
    case 'snapshotAndExit':
      snapshotAndExit(message.file);
      break;
    case 'releaseLate': {
      const now = late;
      late = [];
      // From now on no message is held back for a late copy: the run is settling.
      if (duplicates) duplicates = { ...duplicates, lateEvery: 0 };
      for (const l of now) inject('late', l.queue, l.parts);
      send({ type: 'released', id: message.id, count: now.length });
      break;
    }
    case 'status':
      status(message.id);
      break;
  }
});

process.on('disconnect', () => {
  for (const c of pending) clearTimeout(c.timer);
  void (server?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
