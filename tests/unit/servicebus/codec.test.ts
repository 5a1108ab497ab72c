/**
 * The local broker's message codec: messages are split by their encoded sizes and delivered
 * from bytes written directly (tools/servicebus/codec.ts). What rhea decodes from a delivery
 * must be what the sender sent, plus the broker's annotations, whatever encoding the sender used.
 */
import { describe, expect, it } from 'vitest';
import { message as rheaMessage, type Message } from 'rhea';
import {
  amqpTypes as t,
  Annotation,
  decodeBatch,
  decodeMessage,
  encodeMessage,
  newLockToken,
  reorderGuidBytes,
  uuidBytes,
  withApplicationProperties,
} from '../../../tools/servicebus/codec';

const broker = {
  sequenceNumber: 2 ** 40 + 7,
  enqueuedTime: Date.UTC(2026, 11, 2, 3, 4, 5, 678),
  enqueueSequenceNumber: 12,
  deliveryCount: 0,
  state: 'active' as const,
};

function sent(): Message {
  return {
    message_id: 'invoice-42',
    correlation_id: 'corr-1',
    content_type: 'application/json',
    subject: 'confirm',
    durable: true,
    priority: 6,
    ttl: 60_000,
    message_annotations: { 'x-opt-partition-key': 'contract-1', [Annotation.sequenceNumber]: 999 },
    application_properties: { kind: 'ProformaInvoiceConfirmation', attempt: 2 },
    body: rheaMessage.data_section(Buffer.from('{"invoiceId":"inv-1"}')),
  };
}

describe('the broker message codec', () => {
  it('delivers what was sent, with the broker annotations in place of any the sender set', () => {
    const parts = decodeMessage(rheaMessage.encode(sent()));
    expect(parts.messageId).toBe('invoice-42');
    const out = rheaMessage.decode(encodeMessage(parts, { ...broker, lockedUntil: broker.enqueuedTime + 60_000 }));
    expect(out.message_id).toBe('invoice-42');
    expect(out.correlation_id).toBe('corr-1');
    expect(out.subject).toBe('confirm');
    expect(out.durable).toBe(true);
    expect(out.priority).toBe(6);
    expect(out.ttl).toBe(60_000);
    expect(out.first_acquirer).toBe(true);
    expect(out.delivery_count).toBe(0);
    expect(out.application_properties).toEqual({ kind: 'ProformaInvoiceConfirmation', attempt: 2 });
    expect(Buffer.from((out.body as { content: Buffer }).content).toString()).toBe('{"invoiceId":"inv-1"}');
    const annotations = out.message_annotations as Record<string, unknown>;
    expect(annotations['x-opt-partition-key']).toBe('contract-1');
    expect(Number(annotations[Annotation.sequenceNumber])).toBe(broker.sequenceNumber);
    expect(Number(annotations[Annotation.enqueueSequenceNumber])).toBe(12);
    expect(new Date(annotations[Annotation.enqueuedTime] as Date).getTime()).toBe(broker.enqueuedTime);
    expect(new Date(annotations[Annotation.lockedUntil] as Date).getTime()).toBe(broker.enqueuedTime + 60_000);
    expect(annotations[Annotation.messageState]).toBeUndefined();
  });

  it('writes the state and delivery count of a redelivered, deferred message, and no TTL when none was sent', () => {
    const { ttl: _ttl, ...withoutTtl } = sent();
    const parts = decodeMessage(rheaMessage.encode({ ...withoutTtl, message_annotations: undefined }));
    expect(parts.annotationCount).toBe(0);
    const out = rheaMessage.decode(encodeMessage(parts, { ...broker, deliveryCount: 3, state: 'deferred' }));
    expect(out.ttl).toBeUndefined();
    expect(out.first_acquirer).toBe(false);
    expect(out.delivery_count).toBe(3);
    expect((out.message_annotations as Record<string, unknown>)[Annotation.messageState]).toBe(1);
  });

  it('reads sections whose descriptors are symbols instead of codes', () => {
    const w = new t.Writer();
    w.write(t.described(t.wrap_symbol('amqp:properties:list'), t.wrap_list([t.wrap_string('by-name')])));
    w.write(t.described(t.wrap_symbol('amqp:application-properties:map'), t.Map32([t.wrap_string('a'), t.wrap_int(1)])));
    w.write(t.described(t.wrap_symbol('amqp:data:binary'), t.wrap(Buffer.from('body'))));
    const parts = decodeMessage(Buffer.from(w.toBuffer()));
    expect(parts.messageId).toBe('by-name');
    const out = rheaMessage.decode(encodeMessage(parts, broker));
    expect(out.application_properties).toEqual({ a: 1 });
  });

  it('splits a batch into its messages', () => {
    const one = rheaMessage.encode({ ...sent(), message_id: 'one' });
    const two = rheaMessage.encode({ ...sent(), message_id: 'two', body: rheaMessage.data_section(Buffer.alloc(300, 1)) });
    const envelope = Buffer.concat([rheaMessage.data_section(one), rheaMessage.data_section(two)].map((s) => {
      const w = new t.Writer();
      w.write(s as never);
      return Buffer.from(w.toBuffer());
    }));
    expect(decodeBatch(envelope).map((p) => p.messageId)).toEqual(['one', 'two']);
  });

  it('refuses a truncated message and a section out of order, with a reason', () => {
    const encoded = rheaMessage.encode(sent());
    expect(() => decodeMessage(encoded.subarray(0, encoded.length - 3))).toThrow(/Truncated AMQP message/);
    const header = rheaMessage.encode({ durable: true });
    const body = rheaMessage.encode({ body: rheaMessage.data_section(Buffer.from('x')) });
    expect(() => decodeMessage(Buffer.concat([body, header]))).toThrow(/after the body/);
  });

  it('rewrites application properties on a settlement that modifies them, keeping the rest', () => {
    const parts = withApplicationProperties(decodeMessage(rheaMessage.encode(sent())), { DeadLetterReason: 'MaxDeliveryCountExceeded' });
    const out = rheaMessage.decode(encodeMessage(parts, broker));
    expect(out.application_properties).toEqual({ kind: 'ProformaInvoiceConfirmation', attempt: 2, DeadLetterReason: 'MaxDeliveryCountExceeded' });
    expect(out.message_id).toBe('invoice-42');
  });

  it('hands out distinct version-4 lock tokens whose delivery tags are the same uuids in the SDK byte order', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const { token, tag } = newLockToken();
      expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(reorderGuidBytes(tag)).toEqual(uuidBytes(token));
      seen.add(token);
    }
    expect(seen.size).toBe(10_000);
  });
});
