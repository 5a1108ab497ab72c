/**
 * AMQP message handling for the broker: a stored message keeps the sender's encoded sections
 * (properties, application properties, body) byte for byte; only the header and the message
 * annotations are rebuilt per delivery, with the broker's x-opt-* annotations added.
 * Also: splitting the SDK's batch format, and lock tokens in the SDK's byte order.
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import { message as rheaMessage, types as rheaTypes, type Message, type Typed } from 'rhea';

/** Message format of a batch: one AMQP message whose data sections are encoded messages. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;

/** The parts of rhea's type system used here that its typings do not declare. */
interface RheaTypes {
  Reader: new (buffer: Buffer) => { position: number; read(): Typed; remaining(): number };
  Writer: new () => { position: number; write(o: Typed): void; toBuffer(): Buffer };
  Map32(items: Typed[]): Typed;
  described(descriptor: Typed, value: Typed): Typed;
  wrap(value: unknown): Typed;
  wrap_ulong(value: number): Typed;
  wrap_list(items: unknown[]): Typed;
  wrap_boolean(value: boolean): Typed;
  wrap_ubyte(value: number): Typed;
  wrap_uint(value: number): Typed;
  wrap_int(value: number): Typed;
  wrap_long(value: number): Typed;
  wrap_timestamp(value: number): Typed;
  wrap_symbol(value: string): Typed;
  wrap_string(value: string): Typed;
  wrap_uuid(value: Buffer): Typed;
  wrap_array(items: unknown[], typecode: number, descriptor: undefined): Typed;
}
export const amqpTypes = rheaTypes as unknown as RheaTypes;
const t = amqpTypes;

export const Annotation = {
  sequenceNumber: 'x-opt-sequence-number',
  enqueuedTime: 'x-opt-enqueued-time',
  enqueueSequenceNumber: 'x-opt-enqueue-sequence-number',
  lockedUntil: 'x-opt-locked-until',
  messageState: 'x-opt-message-state',
  scheduledEnqueueTime: 'x-opt-scheduled-enqueue-time',
  deadLetterSource: 'x-opt-deadletter-source',
} as const;

/** Annotations only the broker sets; a sender's values for them are dropped. */
const BROKER_ANNOTATIONS = new Set<string>([
  Annotation.sequenceNumber,
  Annotation.enqueuedTime,
  Annotation.enqueueSequenceNumber,
  Annotation.lockedUntil,
  Annotation.messageState,
  Annotation.deadLetterSource,
]);

export type MessageState = 'active' | 'deferred' | 'scheduled';
const STATE_CODE: Record<MessageState, number> = { active: 0, deferred: 1, scheduled: 2 };

export interface MessageParts {
  header: { durable?: boolean; priority?: number; ttl?: number };
  /** The sender's message annotations as typed key/value pairs (flat), broker keys removed. */
  annotations: Typed[];
  /** Encoded properties section, as sent. */
  properties?: Buffer;
  /** Encoded application-properties section (rebuilt only when a settlement modifies it). */
  applicationProperties?: Buffer;
  /** Encoded body section(s) and footer, as sent. */
  body: Buffer;
  /** Message id as a string, for duplicate detection. */
  messageId?: string;
  /** x-opt-scheduled-enqueue-time, epoch ms. */
  scheduledEnqueueTime?: number;
  /** Encoded size as received. */
  size: number;
}

export interface BrokerAnnotations {
  sequenceNumber: number;
  enqueuedTime: number;
  enqueueSequenceNumber: number;
  deliveryCount: number;
  state: MessageState;
  lockedUntil?: number;
}

type SectionKind = 'header' | 'delivery-annotations' | 'message-annotations' | 'properties' | 'application-properties' | 'body' | 'footer';

const SECTIONS: Record<string, SectionKind> = {
  '112': 'header',
  'amqp:header:list': 'header',
  '113': 'delivery-annotations',
  'amqp:delivery-annotations:map': 'delivery-annotations',
  '114': 'message-annotations',
  'amqp:message-annotations:map': 'message-annotations',
  '115': 'properties',
  'amqp:properties:list': 'properties',
  '116': 'application-properties',
  'amqp:application-properties:map': 'application-properties',
  '117': 'body',
  'amqp:data:binary': 'body',
  '118': 'body',
  'amqp:amqp-sequence:list': 'body',
  '119': 'body',
  'amqp:value:*': 'body',
  '120': 'footer',
  'amqp:footer:map': 'footer',
};

function sectionKind(section: Typed): SectionKind {
  const descriptor = (section.descriptor as Typed | undefined)?.value as unknown;
  const kind = descriptor === undefined ? undefined : SECTIONS[String(descriptor)];
  if (!kind) throw new Error(`Unrecognised AMQP message section ${String(descriptor)}`);
  return kind;
}

function items(section: Typed): Typed[] {
  return Array.isArray(section.value) ? (section.value as Typed[]) : [];
}

function plain(typed: Typed | undefined): unknown {
  return typed === undefined ? undefined : (typed.value as unknown);
}

/** Splits an encoded AMQP message into the parts the broker stores. */
export function decodeMessage(encoded: Buffer): MessageParts {
  const reader = new t.Reader(encoded);
  const parts: MessageParts = { header: {}, annotations: [], body: Buffer.alloc(0), size: encoded.length };
  let bodyStart = -1;
  let propertiesRange: [number, number] | undefined;
  let applicationPropertiesRange: [number, number] | undefined;
  while (reader.remaining() > 0) {
    const start = reader.position;
    const section = reader.read();
    const end = reader.position;
    const kind = sectionKind(section);
    if (bodyStart >= 0 && kind !== 'body' && kind !== 'footer') {
      throw new Error(`AMQP message section ${kind} after the body`);
    }
    switch (kind) {
      case 'header': {
        const [durable, priority, ttl] = items(section).map(plain);
        if (typeof durable === 'boolean') parts.header.durable = durable;
        if (typeof priority === 'number') parts.header.priority = priority;
        if (typeof ttl === 'number') parts.header.ttl = ttl;
        break;
      }
      case 'delivery-annotations':
        break;
      case 'message-annotations': {
        const kv = items(section);
        for (let i = 0; i + 1 < kv.length; i += 2) {
          const key = String(plain(kv[i]));
          if (BROKER_ANNOTATIONS.has(key)) continue;
          parts.annotations.push(kv[i]!, kv[i + 1]!);
          if (key === Annotation.scheduledEnqueueTime) {
            const v = plain(kv[i + 1]);
            const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : undefined;
            if (ms !== undefined && Number.isFinite(ms)) parts.scheduledEnqueueTime = ms;
          }
        }
        break;
      }
      case 'properties': {
        propertiesRange = [start, end];
        const id = plain(items(section)[0]);
        if (typeof id === 'string' || typeof id === 'number') parts.messageId = String(id);
        else if (Buffer.isBuffer(id)) parts.messageId = id.toString('hex');
        break;
      }
      case 'application-properties':
        applicationPropertiesRange = [start, end];
        break;
      case 'body':
      case 'footer':
        if (bodyStart < 0) bodyStart = start;
        break;
    }
  }
  // One copy per message for what is kept verbatim (a batch's buffer is not retained).
  const keepFrom = Math.min(propertiesRange?.[0] ?? Infinity, applicationPropertiesRange?.[0] ?? Infinity, bodyStart >= 0 ? bodyStart : encoded.length);
  const kept = Buffer.from(encoded.subarray(keepFrom));
  const view = (from: number, to: number): Buffer => kept.subarray(from - keepFrom, to - keepFrom);
  if (propertiesRange) parts.properties = view(...propertiesRange);
  if (applicationPropertiesRange) parts.applicationProperties = view(...applicationPropertiesRange);
  if (bodyStart >= 0) parts.body = view(bodyStart, encoded.length);
  return parts;
}

/** The messages inside a batch sent with message format 0x80013700 (one per data section). */
export function decodeBatch(envelope: Buffer): MessageParts[] {
  const reader = new t.Reader(envelope);
  const out: MessageParts[] = [];
  while (reader.remaining() > 0) {
    const section = reader.read();
    const descriptor = String(plain(section.descriptor as Typed | undefined));
    if (descriptor === '117' || descriptor === 'amqp:data:binary') {
      const data = section.value as unknown;
      if (!Buffer.isBuffer(data)) throw new Error('Batch data section does not hold binary data');
      out.push(decodeMessage(data));
    }
  }
  return out;
}

/** rhea hands over format-0 messages already decoded; encode them back to split them. */
export function partsFromRheaMessage(msg: Message): MessageParts {
  return decodeMessage(rheaMessage.encode(msg));
}

/** Reused for the rebuilt sections; its bytes are copied out by Buffer.concat. */
const deliveryWriter = new t.Writer();

/** Encodes a stored message for delivery, peek or a management response. */
export function encodeMessage(parts: MessageParts, broker: BrokerAnnotations): Buffer {
  const w = deliveryWriter;
  w.position = 0;
  const { durable, priority, ttl } = parts.header;
  w.write(
    t.described(
      t.wrap_ulong(0x70),
      t.wrap_list([
        t.wrap_boolean(durable ?? false),
        t.wrap_ubyte(priority ?? 4),
        ttl === undefined ? null : t.wrap_uint(ttl),
        t.wrap_boolean(broker.deliveryCount === 0),
        t.wrap_uint(broker.deliveryCount),
      ]),
    ),
  );
  const annotations: Typed[] = [
    ...parts.annotations,
    t.wrap_symbol(Annotation.sequenceNumber),
    t.wrap_long(broker.sequenceNumber),
    t.wrap_symbol(Annotation.enqueuedTime),
    t.wrap_timestamp(broker.enqueuedTime),
    t.wrap_symbol(Annotation.enqueueSequenceNumber),
    t.wrap_long(broker.enqueueSequenceNumber),
  ];
  if (broker.lockedUntil !== undefined) {
    annotations.push(t.wrap_symbol(Annotation.lockedUntil), t.wrap_timestamp(broker.lockedUntil));
  }
  if (broker.state !== 'active') {
    annotations.push(t.wrap_symbol(Annotation.messageState), t.wrap_int(STATE_CODE[broker.state]));
  }
  w.write(t.described(t.wrap_ulong(0x72), t.Map32(annotations)));
  const chunks = [w.toBuffer()];
  if (parts.properties) chunks.push(parts.properties);
  if (parts.applicationProperties) chunks.push(parts.applicationProperties);
  chunks.push(parts.body);
  return Buffer.concat(chunks);
}

/** Returns parts whose application properties carry `changes` (undefined values are skipped). */
export function withApplicationProperties(parts: MessageParts, changes: Record<string, unknown> | undefined): MessageParts {
  const entries = Object.entries(changes ?? {}).filter(([, v]) => v !== undefined);
  if (!entries.length) return parts;
  const kv = parts.applicationProperties ? [...items(new t.Reader(parts.applicationProperties).read())] : [];
  for (const [key, value] of entries) {
    let index = -1;
    for (let i = 0; i + 1 < kv.length; i += 2) {
      if (plain(kv[i]) === key) {
        index = i;
        break;
      }
    }
    const typed = t.wrap(value);
    if (index >= 0) kv[index + 1] = typed;
    else kv.push(t.wrap_string(key), typed);
  }
  const w = new t.Writer();
  w.write(t.described(t.wrap_ulong(0x74), t.Map32(kv)));
  return { ...parts, applicationProperties: w.toBuffer() };
}

/**
 * Service Bus gives a message without a message id one of its own (a 32-digit hex string); the
 * SDK relies on it (auto lock renewal is keyed by message id).
 */
export function withMessageId(parts: MessageParts): MessageParts {
  if (parts.messageId !== undefined) return parts;
  const messageId = randomUUID().replace(/-/g, '');
  const fields = parts.properties ? [...items(new t.Reader(parts.properties).read())] : [];
  fields[0] = t.wrap_string(messageId);
  const w = new t.Writer();
  w.write(t.described(t.wrap_ulong(0x73), t.wrap_list(fields)));
  return { ...parts, properties: w.toBuffer(), messageId };
}

export interface LockToken {
  /** The token as the SDK shows it (`message.lockToken`). */
  token: string;
  /** The delivery tag: the token's bytes in .NET Guid order, which the SDK reorders back. */
  tag: Buffer;
}

const randomPool = Buffer.alloc(16 * 256);
let randomOffset = randomPool.length;

/** A random (version 4) uuid's bytes; random data is drawn in blocks, lock tokens are many. */
function randomUuidBytes(): Buffer {
  if (randomOffset >= randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const b = Buffer.from(randomPool.subarray(randomOffset, randomOffset + 16));
  randomOffset += 16;
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

export function newLockToken(): LockToken {
  const bytes = randomUuidBytes();
  return { token: uuidString(bytes), tag: reorderGuidBytes(bytes) };
}

/** The 16 bytes of a uuid string in written order (what the SDK's `string_to_uuid` produces). */
export function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/** A lock token received as an AMQP uuid (16 bytes, written order) back to its string form. */
export function uuidString(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Swaps the first three groups' byte order (System.Guid layout); its own inverse. */
export function reorderGuidBytes(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out[0] = b[3]!;
  out[1] = b[2]!;
  out[2] = b[1]!;
  out[3] = b[0]!;
  out[4] = b[5]!;
  out[5] = b[4]!;
  out[6] = b[7]!;
  out[7] = b[6]!;
  return out;
}

/** A sequence number as sent by the SDK: a number, or the 8 bytes of a big-endian long. */
export function toSequenceNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  return undefined;
}
