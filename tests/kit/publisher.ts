/**
 * The test kit's Publisher: keeps what it was given instead of sending it to Service Bus. Each
 * message body goes through JSON, as on the wire; `failAfter` makes it fail like a broker that went away.
 */
import { isDeepStrictEqual } from 'node:util';
import type { OutboundMessage, Publisher, QueueName } from '../../shared/messages';

export interface Published {
  queue: QueueName;
  message: OutboundMessage;
}

export class RecordingPublisher implements Publisher {
  readonly sent: Published[] = [];
  /** Throw once this many messages were recorded (undefined: never). */
  failAfter: number | undefined;

  async publish(queue: QueueName, messages: OutboundMessage[]): Promise<void> {
    for (const message of messages) {
      if (this.failAfter !== undefined && this.sent.length >= this.failAfter) throw new Error('broker unavailable (injected)');
      const body: unknown = message.body === undefined ? undefined : JSON.parse(JSON.stringify(message.body));
      this.sent.push({ queue, message: { ...message, body } });
    }
  }

  /** The messages of one business key (their correlation id). */
  about(correlationId: string): Published[] {
    return this.sent.filter((s) => s.message.correlationId === correlationId);
  }

  /**
   * What consumers see after the broker's duplicate detection: one body per message id. A message
   * id published again with another body is a bug, and throws.
   */
  unique(): Map<string, { queue: QueueName; body: unknown }> {
    const out = new Map<string, { queue: QueueName; body: unknown }>();
    for (const { queue, message } of this.sent) {
      const earlier = out.get(message.messageId);
      if (!earlier) out.set(message.messageId, { queue, body: message.body });
      else if (!isDeepStrictEqual(earlier.body, message.body)) {
        throw new Error(`republished ${message.messageId} differs: ${JSON.stringify(earlier.body)} then ${JSON.stringify(message.body)}`);
      }
    }
    return out;
  }
}
