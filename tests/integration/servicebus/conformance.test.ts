/**
 * Service Bus conformance: the same tests run against the local broker (default) and against a
 * real namespace or the official emulator when SERVICEBUS_CONFORMANCE_CONNECTION_STRING is set.
 * Only the public @azure/service-bus API is used.
 *
 * Queues an external target must have (non-session, no forwarding; defaults where not listed):
 *   conformance-send          plain queue
 *   conformance-settle        plain queue
 *   conformance-receive-delete plain queue
 *   conformance-lock          LockDuration PT5S (or shorter where allowed; the local broker uses 2 s)
 *   conformance-maxdelivery   MaxDeliveryCount 3
 *   conformance-schedule      plain queue
 *   conformance-ttl           DeadLetteringOnMessageExpiration false
 *   conformance-ttl-dlq       DeadLetteringOnMessageExpiration true
 *   conformance-dedupe        RequiresDuplicateDetection true, DuplicateDetectionHistoryTimeWindow PT10M
 *   conformance-concurrent    plain queue
 *   conformance-stream        plain queue
 * Every test empties its queue (and dead-letter queue) first when the target is external.
 */
import {
  isServiceBusError,
  type ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusReceiverOptions,
  type ServiceBusSender,
} from '@azure/service-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { QueueInput } from '../../../tools/servicebus';
import { createTestClient, purge, receiveCount, sleep, startServiceBusTarget, uniqueId, type ServiceBusTarget } from '../../kit/servicebus';

const Q = {
  send: 'conformance-send',
  settle: 'conformance-settle',
  receiveDelete: 'conformance-receive-delete',
  lock: 'conformance-lock',
  maxDelivery: 'conformance-maxdelivery',
  schedule: 'conformance-schedule',
  ttl: 'conformance-ttl',
  ttlDeadLetter: 'conformance-ttl-dlq',
  dedupe: 'conformance-dedupe',
  concurrent: 'conformance-concurrent',
  stream: 'conformance-stream',
} as const;

const LOCAL_QUEUES: QueueInput[] = [
  { name: Q.send },
  { name: Q.settle },
  { name: Q.receiveDelete },
  { name: Q.lock, lockDurationMs: 2_000 },
  { name: Q.maxDelivery, maxDeliveryCount: 3 },
  { name: Q.schedule },
  { name: Q.ttl, deadLetteringOnMessageExpiration: false },
  { name: Q.ttlDeadLetter, deadLetteringOnMessageExpiration: true },
  { name: Q.dedupe, requiresDuplicateDetection: true, duplicateDetectionHistoryTimeWindowMs: 10 * 60_000 },
  { name: Q.concurrent },
  { name: Q.stream },
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let target: ServiceBusTarget;
let client: ServiceBusClient;
const opened: Array<ServiceBusSender | ServiceBusReceiver> = [];

function sender(queue: string): ServiceBusSender {
  const s = client.createSender(queue);
  opened.push(s);
  return s;
}

function receiver(queue: string, options: ServiceBusReceiverOptions = {}): ServiceBusReceiver {
  const r = client.createReceiver(queue, options);
  opened.push(r);
  return r;
}

async function fresh(queue: string): Promise<void> {
  if (target.local) return;
  await purge(client, queue);
  await purge(client, queue, 'deadLetter');
}

async function expectServiceBusError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a ServiceBusError ${code}`).toBeDefined();
  expect(isServiceBusError(err) ? err.code : err).toBe(code);
}

beforeAll(async () => {
  target = await startServiceBusTarget(LOCAL_QUEUES);
  client = createTestClient(target.connectionString);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((link) => link.close().catch(() => undefined)));
});

afterAll(async () => {
  await client?.close();
  await target?.close();
});

describe('sending', () => {
  it('sends one message and receives it in peek-lock with the broker properties', async () => {
    await fresh(Q.send);
    const messageId = uniqueId('single');
    const before = Date.now();
    await sender(Q.send).sendMessages({ body: { hello: 'world' }, messageId });
    const r = receiver(Q.send);
    const [m] = await receiveCount(r, 1);
    expect(m).toBeDefined();
    const msg = m!;
    expect(msg.messageId).toBe(messageId);
    expect(msg.body).toEqual({ hello: 'world' });
    expect(msg.deliveryCount).toBe(0);
    expect(msg.state).toBe('active');
    expect(msg.lockToken).toMatch(UUID);
    expect(msg.sequenceNumber?.toNumber()).toBeGreaterThan(0);
    expect(msg.enqueuedTimeUtc!.getTime()).toBeGreaterThan(before - 60_000);
    expect(msg.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now());
    await r.completeMessage(msg);
    expect(await r.peekMessages(10)).toHaveLength(0);
  });

  it('sends arrays and ServiceBusMessageBatch, split back into messages in order', async () => {
    await fresh(Q.send);
    const s = sender(Q.send);
    const ids = Array.from({ length: 8 }, (_, i) => uniqueId(`batch${i}`));
    await s.sendMessages(ids.slice(0, 3).map((messageId, i) => ({ body: { i }, messageId })));
    const batch = await s.createMessageBatch();
    expect(batch.maxSizeInBytes).toBeGreaterThan(1000);
    for (const [i, messageId] of ids.slice(3).entries()) expect(batch.tryAddMessage({ body: { i: i + 3 }, messageId })).toBe(true);
    await s.sendMessages(batch);
    const r = receiver(Q.send, { receiveMode: 'receiveAndDelete' });
    const got = await receiveCount(r, 8);
    expect(got.map((m) => m.messageId)).toEqual(ids);
    expect(got.map((m) => (m.body as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const seqs = got.map((m) => m.sequenceNumber!.toNumber());
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(8);
  });

  it('keeps message properties on the round trip (bodies, ids, subject, application properties, TTL)', async () => {
    await fresh(Q.send);
    const when = new Date('2025-01-02T03:04:05.678Z');
    const ids = [uniqueId('props-json'), uniqueId('props-text'), uniqueId('props-bin')];
    await sender(Q.send).sendMessages([
      {
        messageId: ids[0],
        body: { invoiceId: 'a1b2', lines: [{ amount: '12.50' }], nested: { ok: true } },
        contentType: 'application/json',
        correlationId: 'corr-1',
        subject: 'InvoiceConfirmed',
        to: 'someone',
        replyTo: 'reply-queue',
        partitionKey: 'pk-1',
        timeToLive: 3_600_000,
        applicationProperties: { s: 'text', n: 42, f: 1.5, b: true, neg: -7, d: when },
      },
      { messageId: ids[1], body: 'plain text', contentType: 'text/plain' },
      { messageId: ids[2], body: Buffer.from([0, 1, 2, 250, 255]) },
    ]);
    const r = receiver(Q.send);
    const peeked = await r.peekMessages(10);
    const got = await receiveCount(r, 3);
    for (const list of [peeked, got]) {
      const [json, text, bin] = ids.map((id) => list.find((m) => m.messageId === id));
      expect(json?.body).toEqual({ invoiceId: 'a1b2', lines: [{ amount: '12.50' }], nested: { ok: true } });
      expect(json?.contentType).toBe('application/json');
      expect(json?.correlationId).toBe('corr-1');
      expect(json?.subject).toBe('InvoiceConfirmed');
      expect(json?.to).toBe('someone');
      expect(json?.replyTo).toBe('reply-queue');
      expect(json?.partitionKey).toBe('pk-1');
      expect(json?.timeToLive).toBe(3_600_000);
      expect(json?.applicationProperties).toEqual({ s: 'text', n: 42, f: 1.5, b: true, neg: -7, d: when.getTime() });
      expect(json!.expiresAtUtc!.getTime() - json!.enqueuedTimeUtc!.getTime()).toBe(3_600_000);
      expect(text?.body).toBe('plain text');
      expect(text?.contentType).toBe('text/plain');
      expect(Buffer.isBuffer(bin?.body)).toBe(true);
      expect([...(bin?.body as Buffer)]).toEqual([0, 1, 2, 250, 255]);
    }
    for (const m of got) await r.completeMessage(m);
  });

  it('drops a duplicate message id inside the detection window (the sender still succeeds)', async () => {
    await fresh(Q.dedupe);
    const s = sender(Q.dedupe);
    const dup = uniqueId('dup');
    const other = uniqueId('other');
    await s.sendMessages({ body: 1, messageId: dup });
    await s.sendMessages({ body: 2, messageId: dup });
    await s.sendMessages([
      { body: 3, messageId: dup },
      { body: 4, messageId: other },
    ]);
    const r = receiver(Q.dedupe, { receiveMode: 'receiveAndDelete' });
    const got = await receiveCount(r, 2);
    got.push(...(await r.receiveMessages(5, { maxWaitTimeInMs: 500 })));
    expect(got.map((m) => [m.messageId, m.body])).toEqual([
      [dup, 1],
      [other, 4],
    ]);
  });

  it('fails with MessagingEntityNotFound for a queue that does not exist', async () => {
    const missing = uniqueId('conformance-missing');
    await expectServiceBusError(sender(missing).sendMessages({ body: 'x' }), 'MessagingEntityNotFound');
    await expectServiceBusError(receiver(missing).receiveMessages(1, { maxWaitTimeInMs: 1_000 }), 'MessagingEntityNotFound');
  });
});

describe('receiving and settling', () => {
  it('receive-and-delete removes messages on delivery', async () => {
    await fresh(Q.receiveDelete);
    const ids = [uniqueId('rd1'), uniqueId('rd2')];
    await sender(Q.receiveDelete).sendMessages(ids.map((messageId) => ({ body: messageId, messageId })));
    const r = receiver(Q.receiveDelete, { receiveMode: 'receiveAndDelete' });
    const got = await receiveCount(r, 2);
    expect(got.map((m) => m.messageId)).toEqual(ids);
    expect(got.every((m) => m.lockToken === undefined)).toBe(true);
    expect(await r.peekMessages(10)).toHaveLength(0);
    expect(await r.receiveMessages(5, { maxWaitTimeInMs: 300 })).toHaveLength(0);
  });

  it('gives a message sent without a message id one of its own', async () => {
    await fresh(Q.receiveDelete);
    await sender(Q.receiveDelete).sendMessages({ body: 'anonymous' });
    const [m] = await receiveCount(receiver(Q.receiveDelete, { receiveMode: 'receiveAndDelete' }), 1);
    expect(m?.body).toBe('anonymous');
    expect(typeof m?.messageId).toBe('string');
    expect(String(m?.messageId).length).toBeGreaterThan(0);
  });

  it('abandon makes the message available again with deliveryCount + 1 and modified properties', async () => {
    await fresh(Q.settle);
    const messageId = uniqueId('abandon');
    await sender(Q.settle).sendMessages({ body: 'a', messageId, applicationProperties: { keep: 'yes' } });
    const r = receiver(Q.settle);
    const [first] = await receiveCount(r, 1);
    await r.abandonMessage(first!, { attempt: 1 });
    const [second] = await receiveCount(r, 1);
    expect(second?.messageId).toBe(messageId);
    expect(second?.deliveryCount).toBe(1);
    expect(second?.applicationProperties).toEqual({ keep: 'yes', attempt: 1 });
    await r.completeMessage(second!);
  });

  it('dead-letter with reason moves the message to the receivable dead-letter queue', async () => {
    await fresh(Q.settle);
    const messageId = uniqueId('dlq');
    await sender(Q.settle).sendMessages({ body: { n: 1 }, messageId });
    const r = receiver(Q.settle);
    const [m] = await receiveCount(r, 1);
    await r.deadLetterMessage(m!, { deadLetterReason: 'SchemaInvalid', deadLetterErrorDescription: 'invoiceId missing', extra: 'x' });
    expect(await r.peekMessages(10)).toHaveLength(0);
    const dlq = receiver(Q.settle, { subQueueType: 'deadLetter' });
    const [dead] = await receiveCount(dlq, 1);
    expect(dead?.messageId).toBe(messageId);
    expect(dead?.body).toEqual({ n: 1 });
    expect(dead?.deadLetterReason).toBe('SchemaInvalid');
    expect(dead?.deadLetterErrorDescription).toBe('invoiceId missing');
    expect(dead?.applicationProperties).toMatchObject({ DeadLetterReason: 'SchemaInvalid', DeadLetterErrorDescription: 'invoiceId missing', extra: 'x' });
    await dlq.completeMessage(dead!);
    expect(await dlq.peekMessages(10)).toHaveLength(0);
  });

  it('defer hides the message until it is received by sequence number', async () => {
    await fresh(Q.settle);
    const messageId = uniqueId('defer');
    await sender(Q.settle).sendMessages({ body: 'later', messageId });
    const r = receiver(Q.settle);
    const [m] = await receiveCount(r, 1);
    const seq = m!.sequenceNumber!;
    await r.deferMessage(m!);
    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 300 })).toHaveLength(0);
    const peeked = await r.peekMessages(10);
    expect(peeked.map((p) => p.state)).toEqual(['deferred']);
    const [deferred] = await r.receiveDeferredMessages(seq);
    expect(deferred?.messageId).toBe(messageId);
    expect(deferred?.state).toBe('deferred');
    expect(deferred?.deliveryCount).toBe(1);
    expect(deferred?.lockToken).toMatch(UUID);
    await r.completeMessage(deferred!);
    expect(await r.peekMessages(10)).toHaveLength(0);
  });

  it('peeks without locking, from a sequence number', async () => {
    await fresh(Q.send);
    const ids = [uniqueId('peek1'), uniqueId('peek2'), uniqueId('peek3')];
    await sender(Q.send).sendMessages(ids.map((messageId) => ({ body: messageId, messageId })));
    const r = receiver(Q.send, { receiveMode: 'receiveAndDelete' });
    const all = await r.peekMessages(10);
    expect(all.map((m) => m.messageId)).toEqual(ids);
    expect(all.every((m) => m.deliveryCount === 0 && m.lockToken === undefined)).toBe(true);
    const fromSecond = await r.peekMessages(10, { fromSequenceNumber: all[1]!.sequenceNumber! });
    expect(fromSecond.map((m) => m.messageId)).toEqual(ids.slice(1));
    expect((await receiveCount(r, 3)).map((m) => m.messageId)).toEqual(ids);
  });
});

describe('locks', () => {
  it('redelivers after the lock expires (deliveryCount + 1) and a late settle fails with MessageLockLost', async () => {
    await fresh(Q.lock);
    const messageId = uniqueId('expire');
    await sender(Q.lock).sendMessages({ body: 'x', messageId });
    const r = receiver(Q.lock, { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await receiveCount(r, 1);
    await sleep(first!.lockedUntilUtc!.getTime() - Date.now() + 500);
    const [second] = await receiveCount(r, 1, 10_000);
    expect(second?.messageId).toBe(messageId);
    expect(second?.deliveryCount).toBe(1);
    expect(second?.lockToken).not.toBe(first?.lockToken);
    await expectServiceBusError(r.completeMessage(first!), 'MessageLockLost');
    await r.completeMessage(second!);
    expect(await r.peekMessages(10)).toHaveLength(0);
  });

  it('renewMessageLock extends the lock', async () => {
    await fresh(Q.lock);
    await sender(Q.lock).sendMessages({ body: 'x', messageId: uniqueId('renew') });
    const r = receiver(Q.lock, { maxAutoLockRenewalDurationInMs: 0 });
    const [m] = await receiveCount(r, 1);
    const originalUntil = m!.lockedUntilUtc!.getTime();
    const lockMs = originalUntil - Date.now();
    await sleep(lockMs / 2);
    const renewed = await r.renewMessageLock(m!);
    expect(renewed.getTime()).toBeGreaterThan(originalUntil);
    await sleep(originalUntil - Date.now() + 300);
    await r.completeMessage(m!);
    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 300 })).toHaveLength(0);
  });

  it('dead-letters with MaxDeliveryCountExceeded after MaxDeliveryCount deliveries', async () => {
    await fresh(Q.maxDelivery);
    const messageId = uniqueId('poison');
    await sender(Q.maxDelivery).sendMessages({ body: 'poison', messageId });
    const r = receiver(Q.maxDelivery);
    for (let attempt = 0; attempt < 3; attempt++) {
      const [m] = await receiveCount(r, 1);
      expect(m?.deliveryCount).toBe(attempt);
      await r.abandonMessage(m!);
    }
    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 500 })).toHaveLength(0);
    const dlq = receiver(Q.maxDelivery, { subQueueType: 'deadLetter', receiveMode: 'receiveAndDelete' });
    const [dead] = await receiveCount(dlq, 1);
    expect(dead?.messageId).toBe(messageId);
    expect(dead?.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    expect(dead?.deliveryCount).toBe(3);
  });
});

describe('time', () => {
  it('schedules messages and cancels one', async () => {
    await fresh(Q.schedule);
    const s = sender(Q.schedule);
    const at = new Date(Date.now() + 2_000);
    const [keep, cancel] = [uniqueId('sched-keep'), uniqueId('sched-cancel')];
    const seqs = await s.scheduleMessages(
      [
        { body: 'keep', messageId: keep },
        { body: 'cancel', messageId: cancel },
      ],
      at,
    );
    expect(seqs).toHaveLength(2);
    const r = receiver(Q.schedule);
    const peeked = await r.peekMessages(10);
    expect(peeked.map((m) => [m.messageId, m.state])).toEqual([
      [keep, 'scheduled'],
      [cancel, 'scheduled'],
    ]);
    expect(peeked[0]?.scheduledEnqueueTimeUtc?.getTime()).toBe(at.getTime());
    await s.cancelScheduledMessages(seqs[1]!);
    if (Date.now() < at.getTime() - 700) expect(await r.receiveMessages(1, { maxWaitTimeInMs: 500 })).toHaveLength(0);
    const got = await receiveCount(r, 1, 6_000);
    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime() - 1_000);
    got.push(...(await r.receiveMessages(5, { maxWaitTimeInMs: 500 })));
    expect(got.map((m) => m.messageId)).toEqual([keep]);
    expect(got[0]!.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(at.getTime() - 1_000);
    await r.completeMessage(got[0]!);
  });

  it('does not deliver expired messages; dead-letters them when the queue says so', async () => {
    await Promise.all([fresh(Q.ttl), fresh(Q.ttlDeadLetter)]);
    const [dropped, deadLettered] = [uniqueId('ttl-drop'), uniqueId('ttl-dlq')];
    await sender(Q.ttl).sendMessages({ body: 'gone', messageId: dropped, timeToLive: 1_000 });
    await sender(Q.ttlDeadLetter).sendMessages({ body: 'kept', messageId: deadLettered, timeToLive: 1_000 });
    await sleep(2_000);
    expect(await receiver(Q.ttl).receiveMessages(1, { maxWaitTimeInMs: 500 })).toHaveLength(0);
    expect(await receiver(Q.ttlDeadLetter).receiveMessages(1, { maxWaitTimeInMs: 500 })).toHaveLength(0);
    const dead = await receiveCount(receiver(Q.ttlDeadLetter, { subQueueType: 'deadLetter', receiveMode: 'receiveAndDelete' }), 1, 5_000);
    expect(dead.map((m) => [m.messageId, m.deadLetterReason])).toEqual([[deadLettered, 'TTLExpiredException']]);
    expect(await receiver(Q.ttl, { subQueueType: 'deadLetter' }).receiveMessages(1, { maxWaitTimeInMs: 500 })).toHaveLength(0);
  });
});

describe('several receivers', () => {
  it('never hands the same locked message to two receivers and shares the work', async () => {
    await fresh(Q.concurrent);
    const total = 90;
    const ids = Array.from({ length: total }, (_, i) => uniqueId(`c${i}`));
    const receivers = [receiver(Q.concurrent), receiver(Q.concurrent), receiver(Q.concurrent)];
    // Attach every receiver before the messages arrive, so none can take them all alone.
    await Promise.all(receivers.map((r) => r.receiveMessages(1, { maxWaitTimeInMs: 100 })));
    await sender(Q.concurrent).sendMessages(ids.map((messageId) => ({ body: messageId, messageId })));
    const seen: string[][] = receivers.map(() => []);
    let count = 0;
    const deadline = Date.now() + 20_000;
    await Promise.all(
      receivers.map(async (r, i) => {
        while (count < total && Date.now() < deadline) {
          const batch = await r.receiveMessages(5, { maxWaitTimeInMs: 500 });
          count += batch.length;
          seen[i]!.push(...batch.map((m) => m.messageId as string));
          await sleep(5);
          await Promise.all(batch.map((m) => r.completeMessage(m)));
        }
      }),
    );
    const all = seen.flat();
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    expect(new Set(all)).toEqual(new Set(ids));
    for (const s of seen) expect(s.length).toBeGreaterThan(0);
  });

  it('streams with subscribe() and autoCompleteMessages: false', async () => {
    await fresh(Q.stream);
    const ids = Array.from({ length: 10 }, (_, i) => uniqueId(`s${i}`));
    await sender(Q.stream).sendMessages(ids.map((messageId) => ({ body: messageId, messageId })));
    const r = receiver(Q.stream);
    const completed = new Set<string>();
    const deliveries: Array<[string, number]> = [];
    const errors: unknown[] = [];
    let retried = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${completed.size} of 10 completed`)), 15_000);
      const sub = r.subscribe(
        {
          processMessage: async (m: ServiceBusReceivedMessage) => {
            deliveries.push([m.messageId as string, m.deliveryCount ?? -1]);
            if (m.messageId === ids[3] && !retried) {
              retried = true;
              await r.abandonMessage(m);
              return;
            }
            await r.completeMessage(m);
            completed.add(m.messageId as string);
            if (completed.size === ids.length) {
              clearTimeout(timer);
              void sub.close().then(resolve, reject);
            }
          },
          processError: async (args) => {
            errors.push(args.error);
          },
        },
        { autoCompleteMessages: false, maxConcurrentCalls: 3 },
      );
    });
    expect(errors).toEqual([]);
    expect(completed).toEqual(new Set(ids));
    expect(deliveries.filter(([id]) => id === ids[3]).map(([, n]) => n)).toEqual([0, 1]);
    expect(await r.peekMessages(10)).toHaveLength(0);
  });
});
