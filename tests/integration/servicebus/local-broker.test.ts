/**
 * Behaviour of the local broker itself (not part of the Azure conformance suite): the config
 * file, lock release when a connection goes away, and a clean shutdown.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEmulatorConfig, startServiceBus, type LocalServiceBus } from '../../../tools/servicebus';
import { createTestClient, receiveCount, sleep, uniqueId } from '../../kit/servicebus';

const CONTRACT_QUEUES = ['invoice-confirmations', 'invoice-proposals', 'actuals', 'actuals-accounting', 'proposal-postings'];

const started: LocalServiceBus[] = [];
afterAll(async () => {
  await Promise.all(started.map((b) => b.close()));
});

function writeConfig(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'sbconfig-'));
  const file = join(dir, 'Config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const queue = (name: string, properties: Record<string, unknown> = {}): unknown => ({ Name: name, Properties: properties });
const config = (queues: unknown[], extra: Record<string, unknown> = {}): unknown => ({
  UserConfig: { Namespaces: [{ Name: 'sbemulatorns', Queues: queues, Topics: [], ...extra }], Logging: { Type: 'File' } },
});

describe('emulator config', () => {
  it('declares the contract queues in tools/servicebus/config.json', () => {
    const defs = loadEmulatorConfig(join(__dirname, '../../../tools/servicebus/config.json'));
    expect(defs.map((d) => d.name).sort()).toEqual([...CONTRACT_QUEUES].sort());
    for (const d of defs) {
      expect(d).toMatchObject({ lockDurationMs: 60_000, maxDeliveryCount: 10, requiresDuplicateDetection: true, duplicateDetectionHistoryTimeWindowMs: 600_000 });
    }
  });

  it('reads ISO-8601 durations and applies defaults', () => {
    const file = writeConfig(
      config([queue('a', { LockDuration: 'PT30S', DefaultMessageTimeToLive: 'P1DT2H', DuplicateDetectionHistoryTimeWindow: 'PT0.5S', MaxDeliveryCount: 3 }), { Name: 'b' }]),
    );
    expect(loadEmulatorConfig(file)).toEqual([
      {
        name: 'a',
        lockDurationMs: 30_000,
        maxDeliveryCount: 3,
        defaultMessageTimeToLiveMs: 26 * 3_600_000,
        deadLetteringOnMessageExpiration: false,
        requiresDuplicateDetection: false,
        duplicateDetectionHistoryTimeWindowMs: 500,
      },
      {
        name: 'b',
        lockDurationMs: 60_000,
        maxDeliveryCount: 10,
        defaultMessageTimeToLiveMs: 14 * 24 * 3_600_000,
        deadLetteringOnMessageExpiration: false,
        requiresDuplicateDetection: false,
        duplicateDetectionHistoryTimeWindowMs: 600_000,
      },
    ]);
  });

  it.each([
    [config([queue('a'), queue('b', { LockDuration: '1 minute' })]), 'UserConfig.Namespaces[0].Queues[1].Properties.LockDuration'],
    [config([queue('a', { MaxDeliveryCount: 0 })]), 'UserConfig.Namespaces[0].Queues[0].Properties.MaxDeliveryCount'],
    [config([queue('a', { RequiresSession: true })]), 'UserConfig.Namespaces[0].Queues[0].Properties.RequiresSession'],
    [config([queue('a', { ForwardTo: 'b' })]), 'UserConfig.Namespaces[0].Queues[0].Properties.ForwardTo'],
    [config([queue('a'), queue('A')]), 'UserConfig.Namespaces[0].Queues[1].Name'],
    [config([queue('a')], { Topics: [{ Name: 't' }] }), 'UserConfig.Namespaces[0].Topics'],
    [{ UserConfig: {} }, 'UserConfig.Namespaces'],
    ['{ not json', 'Cannot read Service Bus config'],
  ])('rejects a bad config naming the field (%#)', (content, field) => {
    expect(() => loadEmulatorConfig(writeConfig(content))).toThrow(field);
  });
});

describe('local broker', () => {
  it('serves the queues of the default config file, with overrides from options', async () => {
    const broker = await startServiceBus({ queues: [{ name: 'actuals', lockDurationMs: 1_500 }] });
    started.push(broker);
    expect(broker.connectionString).toBe(
      `Endpoint=sb://127.0.0.1:${broker.port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`,
    );
    const client = createTestClient(broker.connectionString);
    try {
      for (const name of CONTRACT_QUEUES) await client.createSender(name).sendMessages({ body: { name }, messageId: uniqueId(name) });
      const receiver = client.createReceiver('actuals');
      const [m] = await receiveCount(receiver, 1);
      const lockMs = m!.lockedUntilUtc!.getTime() - Date.now();
      expect(lockMs).toBeGreaterThan(500);
      expect(lockMs).toBeLessThanOrEqual(1_500);
      await receiver.completeMessage(m!);
      const peek = await client.createReceiver('invoice-confirmations').peekMessages(5);
      expect(peek.map((p) => p.body)).toEqual([{ name: 'invoice-confirmations' }]);
    } finally {
      await client.close();
    }
  });

  it('releases the locks of a connection that goes away', async () => {
    const broker = await startServiceBus({ queues: [{ name: 'release' }] });
    started.push(broker);
    const first = createTestClient(broker.connectionString);
    const second = createTestClient(broker.connectionString);
    try {
      await first.createSender('release').sendMessages({ body: 'x', messageId: 'm1' });
      const [held] = await receiveCount(first.createReceiver('release'), 1);
      expect(held?.messageId).toBe('m1');
      const other = second.createReceiver('release');
      expect(await other.receiveMessages(1, { maxWaitTimeInMs: 300 })).toHaveLength(0);
      await first.close();
      const [again] = await receiveCount(other, 1, 3_000);
      expect(again?.messageId).toBe('m1');
      expect(again?.deliveryCount).toBe(1);
      await other.completeMessage(again!);
    } finally {
      await first.close();
      await second.close();
    }
  });

  // A client-side pitfall (rhea, under @azure/service-bus; Azure sees the same frames): the
  // dispositions of one event-loop turn are written as ranges, and the second of two adjacent
  // deliveries takes the first one's outcome whatever it was. Settling on separate turns is safe.
  it('shows that settlements with different outcomes must not share an event-loop turn', async () => {
    const broker = await startServiceBus({ queues: [{ name: 'turns' }] });
    started.push(broker);
    const client = createTestClient(broker.connectionString);
    try {
      const sender = client.createSender('turns');
      const receiver = client.createReceiver('turns');
      await sender.sendMessages([{ body: 1, messageId: 'a' }, { body: 2, messageId: 'b' }]);
      const [a1, b1] = await receiveCount(receiver, 2);
      await Promise.all([receiver.completeMessage(a1!), receiver.abandonMessage(b1!)]);
      expect(await receiver.peekMessages(10)).toEqual([]);

      await sender.sendMessages([{ body: 3, messageId: 'c' }, { body: 4, messageId: 'd' }]);
      const [c1, d1] = await receiveCount(receiver, 2);
      const settleC = receiver.completeMessage(c1!);
      await new Promise((r) => setImmediate(r));
      await Promise.all([settleC, receiver.abandonMessage(d1!)]);
      const [d2] = await receiveCount(receiver, 1);
      expect([d2?.messageId, d2?.deliveryCount]).toEqual(['d', 1]);
      await receiver.completeMessage(d2!);
    } finally {
      await client.close();
    }
  });

  it('closes without leaving sockets or timers behind', async () => {
    const baseline = countResources();
    const broker = await startServiceBus({ queues: [{ name: 'leak', lockDurationMs: 30_000 }] });
    const client = createTestClient(broker.connectionString);
    const sender = client.createSender('leak');
    await sender.sendMessages([{ body: 1 }, { body: 2 }, { body: 3, timeToLive: 60_000 }]);
    await sender.scheduleMessages({ body: 'later' }, new Date(Date.now() + 60_000));
    const receiver = client.createReceiver('leak');
    expect(await receiveCount(receiver, 3)).toHaveLength(3);
    await client.close();
    await broker.close();
    await sleep(200);
    const after = countResources();
    expect(after.TCPServerWrap ?? 0).toBeLessThanOrEqual(baseline.TCPServerWrap ?? 0);
    expect(after.TCPSocketWrap ?? 0).toBeLessThanOrEqual(baseline.TCPSocketWrap ?? 0);
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(baseline.Timeout ?? 0);
    const late = createTestClient(broker.connectionString);
    try {
      await expect(late.createSender('leak').sendMessages({ body: 'x' })).rejects.toThrow();
    } finally {
      await late.close();
    }
  });
});

function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}
