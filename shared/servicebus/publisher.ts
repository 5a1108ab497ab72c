/**
 * The Service Bus adapter of the Publisher port: one ServiceBusClient per process, one sender
 * per queue, messages packed into as few batches as fit. Message ids are the callers'
 * deterministic ids, so a re-publish after a crash is dropped by duplicate detection and is
 * harmless to the idempotent consumers anyway.
 *
 * Each publish is one PRODUCER span (`servicebus send <queue>`) carrying the messages' ids and the
 * invoices and proposals their bodies name; every message carries that span's trace context as
 * its `Diagnostic-Id` application property (unless it has one), which the Functions host reads to
 * continue the trace in the function that takes the message.
 */
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';
import type { OutboundMessage, Publisher, QueueName } from '../messages';
import { BusinessKeys, DIAGNOSTIC_ID, inSpan, keysOfValue, reportKeys, SpanKind, traceParentOf } from '../telemetry/tracing';

export class ServiceBusPublisher implements Publisher {
  private readonly senders = new Map<string, ServiceBusSender>();

  constructor(private readonly client: ServiceBusClient) {}

  private sender(queue: QueueName): ServiceBusSender {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    return sender;
  }

  async publish(queue: QueueName, messages: OutboundMessage[]): Promise<void> {
    if (!messages.length) return;
    const attributes = { 'messaging.system': 'servicebus', 'messaging.operation.name': 'send', 'messaging.destination.name': queue, 'messaging.batch.message_count': messages.length };
    await inSpan(`servicebus send ${queue}`, { kind: SpanKind.PRODUCER, attributes }, async (span) => {
      const diagnosticId = span.isRecording() ? traceParentOf(span) : undefined;
      if (span.isRecording()) {
        const keys = new BusinessKeys();
        for (const m of messages) keysOfValue(m.body, keys);
        span.setAttributes({ ...keys.attributes(), ...(messages.length === 1 ? { messageId: messages[0]!.messageId } : { messageIds: messages.slice(0, 20).map((m) => m.messageId) }) });
        reportKeys(keys);
      }
      await this.send(queue, messages, diagnosticId);
    });
  }

  private async send(queue: QueueName, messages: OutboundMessage[], diagnosticId: string | undefined): Promise<void> {
    const sender = this.sender(queue);
    let batch = await sender.createMessageBatch();
    for (const m of messages) {
      const properties = diagnosticId !== undefined && m.properties?.[DIAGNOSTIC_ID] === undefined ? { ...m.properties, [DIAGNOSTIC_ID]: diagnosticId } : m.properties;
      const message: ServiceBusMessage = {
        messageId: m.messageId,
        body: m.body,
        contentType: 'application/json',
        subject: m.subject,
        correlationId: m.correlationId,
        ...(properties ? { applicationProperties: properties } : {}),
      };
      if (!batch.tryAddMessage(message)) {
        if (batch.count === 0) throw new Error(`Message ${m.messageId} for ${queue} is larger than a Service Bus message may be`);
        await sender.sendMessages(batch);
        batch = await sender.createMessageBatch();
        if (!batch.tryAddMessage(message)) throw new Error(`Message ${m.messageId} for ${queue} is larger than a Service Bus message may be`);
      }
    }
    if (batch.count > 0) await sender.sendMessages(batch);
  }

  async close(): Promise<void> {
    await Promise.all([...this.senders.values()].map((s) => s.close()));
    this.senders.clear();
  }
}
