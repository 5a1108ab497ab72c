/**
 * Queue state: messages, locks, dead-letter sub-queue, scheduling, deferral, TTL and duplicate
 * detection. No AMQP here: links and the management node talk to an `Entity` through
 * `Consumer`, lock tokens and settlement outcomes.
 *
 * Delivery count follows Service Bus: 0 on the first delivery; it goes up when a lock ends
 * without the message leaving the queue (abandon, defer, lock expiry, receiver gone). When it
 * reaches MaxDeliveryCount on abandon or lock loss, the message is dead-lettered.
 */
import { encodeMessage, newLockToken, withApplicationProperties, withMessageId, type LockToken, type MessageParts, type MessageState } from './codec';
import type { QueueDefinition } from './config';
import { DeadlineList, IndexedHeap, Timeline, type Deadline, type TimelineEntry } from './timeline';

export const DEAD_LETTER_SUFFIX = '/$deadletterqueue';

export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

/**
 * Who holds a lock, for releasing it when that party goes away. The server uses one holder per
 * AMQP connection: as on Azure, a lock outlives the receiver link that took it (it can still be
 * settled through `$management`) but not the connection.
 */
export type LockHolder = object;

/** A receiver link attached to an entity. */
export interface Consumer {
  readonly mode: ReceiveMode;
  readonly lockHolder: LockHolder;
  /** Messages this consumer can take right now (link credit not yet used by queued transfers). */
  availableCredit(): number;
  /** Transfers an encoded message; `lock` is set in peek-lock mode (its tag is the delivery tag). */
  transfer(payload: Buffer, lock: LockToken | undefined): void;
  /** Called after a run of transfers to this consumer (optional): a place to flush. */
  transferred?(): void;
}

export type Outcome =
  | { kind: 'complete' }
  | { kind: 'abandon'; properties?: Record<string, unknown> }
  | { kind: 'release' }
  | { kind: 'defer'; properties?: Record<string, unknown> }
  | { kind: 'deadletter'; reason?: string; description?: string; properties?: Record<string, unknown> };

export class BrokerError extends Error {
  constructor(
    readonly condition: string,
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

export const lockLostError = (entity: string): BrokerError =>
  new BrokerError(
    'com.microsoft:message-lock-lost',
    `The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue. Reference: ${entity}`,
    410,
  );

interface Lock extends LockToken {
  until: number;
  holder: LockHolder;
  timer: Deadline<StoredMessage>;
}

export interface StoredMessage {
  parts: MessageParts;
  readonly sequenceNumber: number;
  enqueueSequenceNumber: number;
  enqueuedAt: number;
  expiresAt: number;
  state: MessageState;
  scheduledAt?: number;
  deliveryCount: number;
  lock?: Lock;
  /** Position in the entity's ready heap, -1 when not ready. */
  readyPos: number;
  expiryTimer?: Deadline<StoredMessage>;
  scheduleTimer?: TimelineEntry;
}

export interface PeekedMessage {
  sequenceNumber: number;
  payload: Buffer;
}

export interface ReceivedByNumber {
  payload: Buffer;
  lock?: LockToken;
}

export interface EntityEvents {
  log(line: string): void;
}

export class Entity {
  readonly isDeadLetterQueue: boolean;
  readonly deadLetterQueue: Entity | undefined;
  private readonly messages = new Map<number, StoredMessage>();
  private readonly ready = new IndexedHeap<StoredMessage>(
    (a, b) => a.sequenceNumber < b.sequenceNumber,
    (m, pos) => {
      m.readyPos = pos;
    },
  );
  private readonly locks = new Map<string, StoredMessage>();
  private readonly consumers: Consumer[] = [];
  private readonly recentMessageIds = new Map<string, number>();
  /** Lock expiries and TTLs, in time order (the same lock duration and default TTL for all). */
  private readonly lockDeadlines: DeadlineList<StoredMessage>;
  private readonly expiryDeadlines: DeadlineList<StoredMessage>;
  private nextSequenceNumber = 1;
  private nextEnqueueSequenceNumber = 1;
  private roundRobin = 0;
  /** Whether `messages` iterates in sequence-number order (false once a dead letter arrives out of order). */
  private storedInOrder = true;
  private lastStored = 0;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    readonly name: string,
    readonly definition: QueueDefinition,
    private readonly timeline: Timeline,
    private readonly events: EntityEvents,
    parent?: Entity,
  ) {
    this.isDeadLetterQueue = parent !== undefined;
    this.lockDeadlines = new DeadlineList(timeline, (d) => {
      const m = d.item;
      if (m.lock?.timer === d) this.loseLock(m);
    });
    this.expiryDeadlines = new DeadlineList(timeline, (d) => {
      const m = d.item;
      if (m.expiryTimer !== d) return;
      m.expiryTimer = undefined;
      if (this.messages.get(m.sequenceNumber) === m && !m.lock) this.expire(m);
    });
    this.deadLetterQueue = parent ? undefined : new Entity(`${name}${DEAD_LETTER_SUFFIX}`, definition, timeline, events, this);
  }

  // ---- sending -------------------------------------------------------------------------

  /** Stores messages sent to the queue; returns how many were kept (duplicates are dropped). */
  enqueue(batch: MessageParts[], now = Date.now()): number {
    let kept = 0;
    for (const parts of batch) {
      if (this.isDuplicate(parts.messageId, now)) {
        this.events.log(`${this.name}: dropped duplicate message id ${parts.messageId}`);
        continue;
      }
      if (parts.scheduledEnqueueTime !== undefined && parts.scheduledEnqueueTime > now) {
        this.storeScheduled(parts, parts.scheduledEnqueueTime);
      } else {
        this.activate(this.store(parts, 'active', now), now);
      }
      kept++;
    }
    if (kept) this.pump();
    return kept;
  }

  /** Schedules messages (management `schedule-message`); returns their sequence numbers. */
  schedule(batch: MessageParts[], now = Date.now()): number[] {
    const numbers: number[] = [];
    for (const parts of batch) {
      const at = parts.scheduledEnqueueTime ?? now;
      if (this.isDuplicate(parts.messageId, now)) {
        numbers.push(this.nextSequenceNumber++);
        continue;
      }
      if (at > now) {
        numbers.push(this.storeScheduled(parts, at).sequenceNumber);
      } else {
        const m = this.store(parts, 'active', now);
        this.activate(m, now);
        numbers.push(m.sequenceNumber);
      }
    }
    this.pump();
    return numbers;
  }

  cancelScheduled(sequenceNumbers: number[]): void {
    const found = sequenceNumbers.map((n) => this.messages.get(n));
    const missing = sequenceNumbers.filter((_, i) => found[i]?.state !== 'scheduled');
    if (missing.length) {
      throw new BrokerError('com.microsoft:message-not-found', `The scheduled message(s) with sequence number(s) ${missing.join(', ')} could not be found in ${this.name}.`, 404);
    }
    for (const m of found) if (m) this.remove(m);
  }

  private isDuplicate(messageId: string | undefined, now: number): boolean {
    if (!this.definition.requiresDuplicateDetection || messageId === undefined) return false;
    const horizon = now - this.definition.duplicateDetectionHistoryTimeWindowMs;
    for (const [id, at] of this.recentMessageIds) {
      if (at > horizon) break;
      this.recentMessageIds.delete(id);
    }
    if (this.recentMessageIds.has(messageId)) return true;
    this.recentMessageIds.set(messageId, now);
    return false;
  }

  private store(parts: MessageParts, state: MessageState, now: number): StoredMessage {
    const m: StoredMessage = {
      parts: withMessageId(parts),
      sequenceNumber: this.nextSequenceNumber++,
      enqueueSequenceNumber: 0,
      enqueuedAt: now,
      expiresAt: Infinity,
      state,
      deliveryCount: 0,
      readyPos: -1,
    };
    this.keep(m);
    return m;
  }

  private keep(m: StoredMessage): void {
    if (m.sequenceNumber < this.lastStored) this.storedInOrder = false;
    else this.lastStored = m.sequenceNumber;
    this.messages.set(m.sequenceNumber, m);
  }

  private storeScheduled(parts: MessageParts, at: number): StoredMessage {
    const m = this.store(parts, 'scheduled', at);
    m.scheduledAt = at;
    m.scheduleTimer = this.timeline.add(at, () => {
      m.scheduleTimer = undefined;
      if (this.messages.get(m.sequenceNumber) !== m || m.state !== 'scheduled') return;
      this.activate(m, Date.now());
      this.pump();
    });
    return m;
  }

  /** Makes a stored message visible: enqueued time, TTL, ready for receivers. */
  private activate(m: StoredMessage, now: number): void {
    m.state = 'active';
    m.enqueuedAt = now;
    m.enqueueSequenceNumber = this.nextEnqueueSequenceNumber++;
    const ttl = Math.min(m.parts.header.ttl ?? Infinity, this.definition.defaultMessageTimeToLiveMs);
    m.expiresAt = now + ttl;
    this.watchExpiry(m);
    this.makeReady(m);
  }

  private watchExpiry(m: StoredMessage): void {
    if (this.isDeadLetterQueue || !Number.isFinite(m.expiresAt)) return;
    this.expiryDeadlines.cancel(m.expiryTimer);
    m.expiryTimer = this.expiryDeadlines.add(m.expiresAt, m);
  }

  // ---- receiving -----------------------------------------------------------------------

  addConsumer(c: Consumer): void {
    this.consumers.push(c);
  }

  /** Detaches a consumer; locks it took stay until they expire, are settled or their holder goes. */
  removeConsumer(c: Consumer): void {
    const i = this.consumers.indexOf(c);
    if (i >= 0) this.consumers.splice(i, 1);
  }

  /** The holder went away: its locks are lost (the messages come back with deliveryCount + 1). */
  releaseLocksOf(holder: LockHolder): void {
    for (const m of [...this.locks.values()]) {
      if (m.lock?.holder === holder) this.loseLock(m);
    }
  }

  /**
   * Hands ready messages to consumers with credit: each consumer in turn gets as many as its
   * credit allows (a receiver asking for 500 gets them in one go, its batch complete at once,
   * instead of one message per receiver per round).
   */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    const n = this.consumers.length;
    let withoutCredit = 0;
    while (this.ready.size > 0 && n > 0 && withoutCredit < n) {
      const c = this.consumers[this.roundRobin % n]!;
      this.roundRobin = (this.roundRobin + 1) % n;
      let credit = c.availableCredit();
      if (credit <= 0) {
        withoutCredit++;
        continue;
      }
      withoutCredit = 0;
      const now = Date.now();
      let delivered = 0;
      for (; credit > 0; credit--) {
        const m = this.takeReady(now);
        if (!m) break;
        this.deliver(c, m, now);
        delivered++;
      }
      if (delivered) c.transferred?.();
    }
  }

  private takeReady(now = Date.now()): StoredMessage | undefined {
    for (let m = this.ready.pop(); m; m = this.ready.pop()) {
      if (!this.isDeadLetterQueue && m.expiresAt <= now) {
        this.expire(m);
        continue;
      }
      return m;
    }
    return undefined;
  }

  private deliver(c: Consumer, m: StoredMessage, now: number): void {
    if (c.mode === 'receiveAndDelete') {
      const payload = this.encode(m);
      this.remove(m);
      c.transfer(payload, undefined);
      return;
    }
    const lock = this.lock(m, c.lockHolder, now);
    c.transfer(this.encode(m), lock);
  }

  private makeReady(m: StoredMessage): void {
    if (m.readyPos < 0) this.ready.push(m);
  }

  private encode(m: StoredMessage): Buffer {
    return encodeMessage(m.parts, {
      sequenceNumber: m.sequenceNumber,
      enqueuedTime: m.enqueuedAt,
      enqueueSequenceNumber: m.enqueueSequenceNumber,
      deliveryCount: m.deliveryCount,
      state: m.state,
      lockedUntil: m.lock?.until,
    });
  }

  // ---- locks and settlement ------------------------------------------------------------

  private lock(m: StoredMessage, holder: LockHolder, now = Date.now()): Lock {
    const { token, tag } = newLockToken();
    const until = now + this.definition.lockDurationMs;
    const lock: Lock = { token, tag, until, holder, timer: this.lockDeadlines.add(until, m) };
    m.lock = lock;
    this.locks.set(token, m);
    return lock;
  }

  private unlock(m: StoredMessage): void {
    const lock = m.lock;
    if (!lock) return;
    this.lockDeadlines.cancel(lock.timer);
    this.locks.delete(lock.token);
    m.lock = undefined;
  }

  /** Lock expiry, or its holder went away: like an abandon. */
  private loseLock(m: StoredMessage): void {
    this.unlock(m);
    this.returnMessage(m, true);
  }

  /** After an unsuccessful delivery: dead-letter, expire, keep deferred, or make ready again. */
  private returnMessage(m: StoredMessage, countDelivery: boolean, now = Date.now()): void {
    if (countDelivery) m.deliveryCount++;
    if (!this.isDeadLetterQueue && countDelivery && m.deliveryCount >= this.definition.maxDeliveryCount) {
      this.deadLetter(m, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${this.definition.maxDeliveryCount} delivery attempts.`);
      return;
    }
    if (!this.isDeadLetterQueue && m.expiresAt <= now) {
      this.expire(m);
      return;
    }
    if (m.state === 'active') {
      this.makeReady(m);
      this.pump();
    }
  }

  private validLock(token: string, now = Date.now()): StoredMessage | undefined {
    const m = this.locks.get(token);
    if (!m?.lock) return undefined;
    if (m.lock.until <= now) {
      this.loseLock(m);
      return undefined;
    }
    return m;
  }

  /** Settles a locked message; throws MessageLockLost when the lock is gone or expired. */
  settle(token: string, outcome: Outcome): void {
    const m = this.validLock(token);
    if (!m) throw lockLostError(this.name);
    this.unlock(m);
    switch (outcome.kind) {
      case 'complete':
        this.remove(m);
        return;
      case 'release':
        this.returnMessage(m, false);
        return;
      case 'abandon':
        m.parts = withApplicationProperties(m.parts, outcome.properties);
        this.returnMessage(m, true);
        return;
      case 'defer':
        m.parts = withApplicationProperties(m.parts, outcome.properties);
        m.state = 'deferred';
        m.deliveryCount++;
        return;
      case 'deadletter':
        if (this.isDeadLetterQueue) {
          m.parts = withApplicationProperties(m.parts, { ...outcome.properties, DeadLetterReason: outcome.reason, DeadLetterErrorDescription: outcome.description });
          this.returnMessage(m, false);
          return;
        }
        this.deadLetter(m, outcome.reason, outcome.description, outcome.properties);
        return;
    }
  }

  /** Extends a lock by the queue's lock duration; returns the new expiry. */
  renewLock(token: string, now = Date.now()): number {
    const m = this.validLock(token, now);
    if (!m?.lock) throw lockLostError(this.name);
    m.lock.until = now + this.definition.lockDurationMs;
    this.lockDeadlines.reschedule(m.lock.timer, m.lock.until);
    return m.lock.until;
  }

  // ---- dead-lettering and expiry -------------------------------------------------------

  private deadLetter(m: StoredMessage, reason: string | undefined, description: string | undefined, properties?: Record<string, unknown>): void {
    const dlq = this.deadLetterQueue;
    this.remove(m);
    if (!dlq) return;
    const parts = withApplicationProperties(m.parts, { ...properties, DeadLetterReason: reason, DeadLetterErrorDescription: description });
    dlq.acceptDeadLetter(m, parts);
    this.events.log(`${this.name}: message ${m.sequenceNumber} dead-lettered (${reason ?? 'no reason'})`);
  }

  private acceptDeadLetter(original: StoredMessage, parts: MessageParts): void {
    const m: StoredMessage = {
      parts,
      sequenceNumber: original.sequenceNumber,
      enqueueSequenceNumber: this.nextEnqueueSequenceNumber++,
      enqueuedAt: original.enqueuedAt,
      expiresAt: Infinity,
      state: 'active',
      deliveryCount: original.deliveryCount,
      readyPos: -1,
    };
    this.keep(m);
    this.makeReady(m);
    this.pump();
  }

  private expire(m: StoredMessage): void {
    if (this.definition.deadLetteringOnMessageExpiration) {
      this.deadLetter(m, 'TTLExpiredException', 'The message expired and was dead lettered.');
    } else {
      this.remove(m);
      this.events.log(`${this.name}: message ${m.sequenceNumber} expired`);
    }
  }

  private remove(m: StoredMessage): void {
    if (this.messages.get(m.sequenceNumber) === m) this.messages.delete(m.sequenceNumber);
    if (m.readyPos >= 0) this.ready.removeAt(m.readyPos);
    this.unlock(m);
    this.expiryDeadlines.cancel(m.expiryTimer);
    this.timeline.cancel(m.scheduleTimer);
    m.expiryTimer = undefined;
    m.scheduleTimer = undefined;
  }

  // ---- management operations -----------------------------------------------------------

  /** Messages with sequence number >= `from`, in order (active, locked, deferred and scheduled). */
  peek(from: number, count: number): PeekedMessage[] {
    this.timeline.runDue();
    const limit = Math.max(0, count);
    let picked: StoredMessage[] = [];
    if (this.storedInOrder) {
      // The map iterates in sequence-number order: stop at `count`, no sort.
      for (const m of this.messages.values()) {
        if (picked.length >= limit) break;
        if (m.sequenceNumber >= from) picked.push(m);
      }
    } else {
      for (const m of this.messages.values()) {
        if (m.sequenceNumber >= from) picked.push(m);
      }
      picked.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
      picked = picked.slice(0, limit);
    }
    return picked.map((m) => ({ sequenceNumber: m.sequenceNumber, payload: this.encode(m) }));
  }

  /** Deferred messages by sequence number (management `receive-by-sequence-number`). */
  receiveDeferred(sequenceNumbers: number[], mode: ReceiveMode, holder: LockHolder): ReceivedByNumber[] {
    this.timeline.runDue();
    const found = sequenceNumbers.map((n) => this.messages.get(n));
    const missing = sequenceNumbers.filter((_, i) => found[i]?.state !== 'deferred');
    if (missing.length) {
      throw new BrokerError(
        'com.microsoft:message-not-found',
        `Failed to lock one or more specified messages. Either the message with sequence number(s) ${missing.join(', ')} is not deferred or does not exist in ${this.name}.`,
        404,
      );
    }
    const locked = found.filter((m) => m?.lock);
    if (locked.length) {
      throw new BrokerError('com.microsoft:message-lock-lost', `The deferred message(s) ${locked.map((m) => m?.sequenceNumber).join(', ')} are locked by another receiver.`, 410);
    }
    return found.map((m) => {
      const msg = m!;
      if (mode === 'receiveAndDelete') {
        const payload = this.encode(msg);
        this.remove(msg);
        return { payload };
      }
      const lock = this.lock(msg, holder);
      return { payload: this.encode(msg), lock };
    });
  }

  /** Drops everything (used on shutdown). */
  clear(): void {
    for (const m of [...this.messages.values()]) this.remove(m);
    this.consumers.length = 0;
    this.recentMessageIds.clear();
    this.deadLetterQueue?.clear();
  }
}

/** All entities of the broker, addressed like Service Bus (`queue`, `queue/$DeadLetterQueue`). */
export class Namespace {
  readonly timeline: Timeline;
  private readonly queues = new Map<string, Entity>();

  constructor(definitions: QueueDefinition[], events: EntityEvents) {
    this.timeline = new Timeline((err) => events.log(`timer callback failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`));
    for (const d of definitions) this.queues.set(d.name.toLowerCase(), new Entity(d.name, d, this.timeline, events));
  }

  /** Resolves a link address; accepts `sb://host/` prefixes and is case-insensitive like Azure. */
  resolve(address: string | undefined): Entity | undefined {
    if (!address) return undefined;
    const path = normalizeAddress(address);
    if (path.endsWith(DEAD_LETTER_SUFFIX)) {
      return this.queues.get(path.slice(0, -DEAD_LETTER_SUFFIX.length))?.deadLetterQueue;
    }
    return this.queues.get(path);
  }

  releaseLocksOf(holder: LockHolder): void {
    for (const q of this.queues.values()) {
      q.releaseLocksOf(holder);
      q.deadLetterQueue?.releaseLocksOf(holder);
    }
  }

  close(): void {
    this.timeline.close();
    for (const q of this.queues.values()) q.clear();
  }
}

export function normalizeAddress(address: string): string {
  return address
    .replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '')
    .replace(/^\/+|\/+$/g, '')
    .toLowerCase();
}
