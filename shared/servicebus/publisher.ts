/**
 * The Service Bus adapter of the Publisher port: one ServiceBusClient per process, one sender
 * per queue, messages packed into as few batches as fit. Message ids are the callers'
 * deterministic ids, so a re-publish after a crash is dropped by duplicate detection and is
 * harmless to the idempotent consumers anyway.
 */
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';
import type { OutboundMessage, Publisher, QueueName } from '../messages';

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
    const sender = this.sender(queue);
    let batch = await sender.createMessageBatch();
    for (const m of messages) {
      const message: ServiceBusMessage = {
        messageId: m.messageId,
        body: m.body,
        contentType: 'application/json',
        subject: m.subject,
        correlationId: m.correlationId,
        ...(m.properties ? { applicationProperties: m.properties } : {}),
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
