/**
 * Volume: 10,000 messages sent in batches, received by a few peek-lock receivers and completed;
 * nothing lost, nothing delivered twice. Prints messages per second. Runs against the local
 * broker, or against `conformance-throughput` when SERVICEBUS_CONFORMANCE_CONNECTION_STRING is set.
 */
import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver, ServiceBusSender } from '@azure/service-bus';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestClient, purge, startServiceBusTarget, type ServiceBusTarget } from '../../kit/servicebus';

const QUEUE = 'conformance-throughput';
const TOTAL = 10_000;
const RECEIVERS = 4;

let target: ServiceBusTarget;
let client: ServiceBusClient;
const links: Array<ServiceBusSender | ServiceBusReceiver> = [];

beforeAll(async () => {
  target = await startServiceBusTarget([{ name: QUEUE, requiresDuplicateDetection: true }]);
  client = createTestClient(target.connectionString);
  if (!target.local) await purge(client, QUEUE);
});

afterAll(async () => {
  await Promise.all(links.map((l) => l.close().catch(() => undefined)));
  await client?.close();
  await target?.close();
});

it(`sends, receives and completes ${TOTAL} messages without loss or duplication`, async () => {
  const runId = Date.now().toString(36);
  const sender = client.createSender(QUEUE);
  links.push(sender);

  const sendStart = Date.now();
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  let batch = await sender.createMessageBatch();
  for (let i = 0; i < TOTAL; i++) {
    const message = { messageId: `${runId}-${i}`, body: { i, invoiceId: `inv-${i % 97}`, amount: '100.00' }, contentType: 'application/json' };
    if (!batch.tryAddMessage(message)) {
      const full = batch;
      inFlight.push(sender.sendMessages(full).then(() => void (sent += full.count)));
      if (inFlight.length >= 4) await Promise.all(inFlight.splice(0));
      batch = await sender.createMessageBatch();
      expect(batch.tryAddMessage(message)).toBe(true);
    }
  }
  inFlight.push(sender.sendMessages(batch).then(() => void (sent += batch.count)));
  await Promise.all(inFlight);
  const sendMs = Date.now() - sendStart;
  expect(sent).toBe(TOTAL);

  const receiveStart = Date.now();
  const seen = new Set<string>();
  let duplicates = 0;
  const deadline = Date.now() + 75_000;
  // Once every message is in, the receives still waiting (for messages that will not come) are
  // cancelled: the time measured ends with the last completion, not with their wait.
  const allReceived = new AbortController();
  await Promise.all(
    Array.from({ length: RECEIVERS }, async () => {
      const receiver = client.createReceiver(QUEUE, { maxAutoLockRenewalDurationInMs: 0 });
      links.push(receiver);
      // Completions of one batch overlap the receive of the next.
      let completing: Promise<unknown> = Promise.resolve();
      while (seen.size < TOTAL && Date.now() < deadline) {
        let messages: ServiceBusReceivedMessage[];
        try {
          messages = await receiver.receiveMessages(500, { maxWaitTimeInMs: 1_000, abortSignal: allReceived.signal });
        } catch (error) {
          if (allReceived.signal.aborted) break;
          throw error;
        }
        for (const m of messages) {
          const id = String(m.messageId);
          if (seen.has(id)) duplicates++;
          seen.add(id);
        }
        if (seen.size >= TOTAL) allReceived.abort();
        await completing;
        completing = Promise.all(messages.map((m) => receiver.completeMessage(m)));
      }
      await completing;
    }),
  );
  const receiveMs = Date.now() - receiveStart;

  const rate = (n: number, ms: number): number => Math.round((n / Math.max(ms, 1)) * 1000);
  console.log(
    `[servicebus throughput] ${TOTAL} messages: send ${sendMs} ms (${rate(TOTAL, sendMs)} msg/s), ` +
      `receive+complete ${receiveMs} ms (${rate(TOTAL, receiveMs)} msg/s), ` +
      `end to end ${rate(TOTAL, sendMs + receiveMs)} msg/s`,
  );

  expect(duplicates).toBe(0);
  expect(seen.size).toBe(TOTAL);
  for (let i = 0; i < TOTAL; i++) expect(seen.has(`${runId}-${i}`)).toBe(true);
  const check = client.createReceiver(QUEUE);
  links.push(check);
  expect(await check.peekMessages(10)).toHaveLength(0);
}, 90_000);
