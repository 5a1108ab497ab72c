/**
 * AMQP message handling for the broker: a stored message keeps the sender's encoded sections
 * (properties, application properties, body) byte for byte; only the header and the message
 * annotations are rebuilt per delivery, with the broker's x-opt-* annotations added.
 * Also: splitting the SDK's batch format, and lock tokens in the SDK's byte order.
 */
import { randomBytes, randomUUID } from 'node:crypto';
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

const NO_BYTES = Buffer.alloc(0);

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
  /** The sender's message annotations, broker keys removed: encoded key/value pairs, back to back. */
  annotations: Buffer;
  /** How many encoded values `annotations` holds (keys and values: twice the pairs). */
  annotationCount: number;
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

function items(section: Typed): Typed[] {
  return Array.isArray(section.value) ? (section.value as Typed[]) : [];
}

function plain(typed: Typed | undefined): unknown {
  return typed === undefined ? undefined : (typed.value as unknown);
}

const truncated = (): Error => new Error('Truncated AMQP message');

/** Offset just past the encoded AMQP value at `o` (a described value included), without decoding it. */
function skipValue(b: Buffer, o: number): number {
  const code = b[o];
  if (code === undefined) throw truncated();
  if (code === 0x00) return skipValue(b, skipValue(b, o + 1));
  let end: number;
  switch (code >> 4) {
    case 0x4:
      end = o + 1;
      break;
    case 0x5:
      end = o + 2;
      break;
    case 0x6:
      end = o + 3;
      break;
    case 0x7:
      end = o + 5;
      break;
    case 0x8:
      end = o + 9;
      break;
    case 0x9:
      end = o + 17;
      break;
    case 0xa:
    case 0xc:
    case 0xe:
      if (o + 2 > b.length) throw truncated();
      end = o + 2 + b[o + 1]!;
      break;
    case 0xb:
    case 0xd:
    case 0xf:
      if (o + 5 > b.length) throw truncated();
      end = o + 5 + b.readUInt32BE(o + 1);
      break;
    default:
      throw new Error(`Unknown AMQP type code 0x${code.toString(16)}`);
  }
  if (end > b.length) throw truncated();
  return end;
}

interface Section {
  kind: SectionKind;
  /** Where the section's value (after the descriptor) starts, and where the section ends. */
  valueAt: number;
  end: number;
}

/** The message section starting at `o`: its kind from the descriptor, and its extent. */
function sectionAt(b: Buffer, o: number): Section {
  if (b[o] !== 0x00) throw new Error('AMQP message section without a descriptor');
  const valueAt = skipValue(b, o + 1);
  let descriptor: string;
  switch (b[o + 1]) {
    case 0x53:
      descriptor = String(b[o + 2]);
      break;
    case 0x80:
      descriptor = b.readUInt32BE(o + 2) === 0 ? String(b.readUInt32BE(o + 6)) : 'ulong';
      break;
    case 0xa3:
      descriptor = b.toString('latin1', o + 3, valueAt);
      break;
    case 0xb3:
      descriptor = b.toString('latin1', o + 6, valueAt);
      break;
    default:
      descriptor = `type 0x${b[o + 1]!.toString(16)}`;
  }
  const kind = SECTIONS[descriptor];
  if (!kind) throw new Error(`Unrecognised AMQP message section ${descriptor}`);
  return { kind, valueAt, end: skipValue(b, valueAt) };
}

/** Number of items of the list or map encoded at `o` and where the first starts; undefined for other types. */
function compoundAt(b: Buffer, o: number): { count: number; first: number } | undefined {
  switch (b[o]) {
    case 0x45:
      return { count: 0, first: o + 1 };
    case 0xc0:
    case 0xc1:
      return { count: b[o + 2]!, first: o + 3 };
    case 0xd0:
    case 0xd1:
      return { count: b.readUInt32BE(o + 5), first: o + 9 };
    default:
      return undefined;
  }
}

/**
 * Splits an encoded AMQP message into the parts the broker stores. Sections are found by their
 * encoded sizes; only the header, the message annotations (when there are any) and the message
 * id are decoded. Application properties and body are not looked into.
 */
export function decodeMessage(encoded: Buffer): MessageParts {
  const reader = new t.Reader(encoded);
  const readAt = (position: number): Typed => {
    reader.position = position;
    return reader.read();
  };
  const parts: MessageParts = { header: {}, annotations: NO_BYTES, annotationCount: 0, body: NO_BYTES, size: encoded.length };
  let bodyStart = -1;
  let propertiesRange: [number, number] | undefined;
  let applicationPropertiesRange: [number, number] | undefined;
  for (let start = 0; start < encoded.length; ) {
    const { kind, valueAt, end } = sectionAt(encoded, start);
    if (bodyStart >= 0 && kind !== 'body' && kind !== 'footer') {
      throw new Error(`AMQP message section ${kind} after the body`);
    }
    switch (kind) {
      case 'header': {
        const [durable, priority, ttl] = items(readAt(start)).map(plain);
        if (typeof durable === 'boolean') parts.header.durable = durable;
        if (typeof priority === 'number') parts.header.priority = priority;
        if (typeof ttl === 'number') parts.header.ttl = ttl;
        break;
      }
      case 'delivery-annotations':
        break;
      case 'message-annotations': {
        if (compoundAt(encoded, valueAt)?.count === 0) break;
        const kv = items(readAt(start));
        const kept: Typed[] = [];
        for (let i = 0; i + 1 < kv.length; i += 2) {
          const key = String(plain(kv[i]));
          if (BROKER_ANNOTATIONS.has(key)) continue;
          kept.push(kv[i]!, kv[i + 1]!);
          if (key === Annotation.scheduledEnqueueTime) {
            const v = plain(kv[i + 1]);
            const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : undefined;
            if (ms !== undefined && Number.isFinite(ms)) parts.scheduledEnqueueTime = ms;
          }
        }
        if (kept.length) {
          const w = new t.Writer();
          for (const typed of kept) w.write(typed);
          parts.annotations = Buffer.from(w.toBuffer());
          parts.annotationCount = kept.length;
        }
        break;
      }
      case 'properties': {
        propertiesRange = [start, end];
        const list = compoundAt(encoded, valueAt);
        const id = list ? (list.count > 0 ? plain(readAt(list.first)) : undefined) : plain(items(readAt(start))[0]);
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
    start = end;
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
  const out: MessageParts[] = [];
  for (let start = 0; start < envelope.length; ) {
    if (envelope[start] !== 0x00) throw new Error('AMQP message section without a descriptor');
    const valueAt = skipValue(envelope, start + 1);
    const end = skipValue(envelope, valueAt);
    if (isDataSection(envelope, start)) {
      const code = envelope[valueAt];
      if (code !== 0xa0 && code !== 0xb0) throw new Error('Batch data section does not hold binary data');
      out.push(decodeMessage(envelope.subarray(valueAt + (code === 0xa0 ? 2 : 5), end)));
    }
    start = end;
  }
  return out;
}

/** Whether the section at `o` is a data section (descriptor 0x75 or amqp:data:binary). */
function isDataSection(b: Buffer, o: number): boolean {
  switch (b[o + 1]) {
    case 0x53:
      return b[o + 2] === 0x75;
    case 0x80:
      return b.readUInt32BE(o + 2) === 0 && b.readUInt32BE(o + 6) === 0x75;
    case 0xa3:
      return b.toString('latin1', o + 3, o + 3 + b[o + 2]!) === 'amqp:data:binary';
    case 0xb3:
      return b.toString('latin1', o + 6, o + 6 + b.readUInt32BE(o + 2)) === 'amqp:data:binary';
    default:
      return false;
  }
}

/** rhea hands over format-0 messages already decoded; encode them back to split them. */
export function partsFromRheaMessage(msg: Message): MessageParts {
  return decodeMessage(rheaMessage.encode(msg));
}

/** The broker's annotation keys as encoded symbols (sym8), written into every delivery. */
const encodedSymbol = (name: string): Buffer => Buffer.concat([Buffer.from([0xa3, name.length]), Buffer.from(name, 'ascii')]);
const KEY = {
  sequenceNumber: encodedSymbol(Annotation.sequenceNumber),
  enqueuedTime: encodedSymbol(Annotation.enqueuedTime),
  enqueueSequenceNumber: encodedSymbol(Annotation.enqueueSequenceNumber),
  lockedUntil: encodedSymbol(Annotation.lockedUntil),
  messageState: encodedSymbol(Annotation.messageState),
};
const TWO_32 = 2 ** 32;

/** Writes an AMQP long / timestamp body (8 bytes, big-endian two's complement). */
function writeInt64(buffer: Buffer, value: number, offset: number): number {
  if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
    buffer.writeUInt32BE(Math.floor(value / TWO_32), offset);
    buffer.writeUInt32BE(value % TWO_32, offset + 4);
  } else {
    buffer.writeBigInt64BE(BigInt(Math.trunc(value)), offset);
  }
  return offset + 8;
}

function writeBytes(buffer: Buffer, bytes: Buffer, offset: number): number {
  bytes.copy(buffer, offset);
  return offset + bytes.length;
}

/**
 * Encodes a stored message for delivery, peek or a management response, straight into one
 * buffer: the header (a list of five fields) and the message annotations (the sender's, kept
 * encoded, then the broker's x-opt-* ones) are written byte by byte; properties, application
 * properties and body are copied as stored.
 */
export function encodeMessage(parts: MessageParts, broker: BrokerAnnotations): Buffer {
  const { durable, priority, ttl } = parts.header;
  const ttlSize = ttl === undefined ? 1 : 5;
  // header: descriptor (3) + list8 constructor, size, count (3) + fields (the size counts the count byte)
  const headerFields = 1 + 2 + ttlSize + 1 + 5;
  const headerSize = 3 + 3 + headerFields;
  let annotationBytes = parts.annotations.length + KEY.sequenceNumber.length + 9 + KEY.enqueuedTime.length + 9 + KEY.enqueueSequenceNumber.length + 9;
  let annotationCount = parts.annotationCount + 6;
  if (broker.lockedUntil !== undefined) {
    annotationBytes += KEY.lockedUntil.length + 9;
    annotationCount += 2;
  }
  if (broker.state !== 'active') {
    annotationBytes += KEY.messageState.length + 5;
    annotationCount += 2;
  }
  // annotations: descriptor (3) + map32 constructor (1), size (4), count (4) + pairs
  const annotationsSize = 3 + 9 + annotationBytes;
  const properties = parts.properties;
  const applicationProperties = parts.applicationProperties;
  const total =
    headerSize + annotationsSize + (properties?.length ?? 0) + (applicationProperties?.length ?? 0) + parts.body.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  out[o++] = 0x00;
  out[o++] = 0x53;
  out[o++] = 0x70;
  out[o++] = 0xc0;
  out[o++] = 1 + headerFields;
  out[o++] = 5;
  out[o++] = durable ? 0x41 : 0x42;
  out[o++] = 0x50;
  out[o++] = priority ?? 4;
  if (ttl === undefined) {
    out[o++] = 0x40;
  } else {
    out[o++] = 0x70;
    o = out.writeUInt32BE(ttl >>> 0, o);
  }
  out[o++] = broker.deliveryCount === 0 ? 0x41 : 0x42;
  out[o++] = 0x70;
  o = out.writeUInt32BE(broker.deliveryCount >>> 0, o);
  out[o++] = 0x00;
  out[o++] = 0x53;
  out[o++] = 0x72;
  out[o++] = 0xd1;
  o = out.writeUInt32BE(annotationBytes + 4, o);
  o = out.writeUInt32BE(annotationCount, o);
  o = writeBytes(out, parts.annotations, o);
  o = writeBytes(out, KEY.sequenceNumber, o);
  out[o++] = 0x81;
  o = writeInt64(out, broker.sequenceNumber, o);
  o = writeBytes(out, KEY.enqueuedTime, o);
  out[o++] = 0x83;
  o = writeInt64(out, broker.enqueuedTime, o);
  o = writeBytes(out, KEY.enqueueSequenceNumber, o);
  out[o++] = 0x81;
  o = writeInt64(out, broker.enqueueSequenceNumber, o);
  if (broker.lockedUntil !== undefined) {
    o = writeBytes(out, KEY.lockedUntil, o);
    out[o++] = 0x83;
    o = writeInt64(out, broker.lockedUntil, o);
  }
  if (broker.state !== 'active') {
    o = writeBytes(out, KEY.messageState, o);
    out[o++] = 0x71;
    o = out.writeInt32BE(STATE_CODE[broker.state], o);
  }
  if (properties) o = writeBytes(out, properties, o);
  if (applicationProperties) o = writeBytes(out, applicationProperties, o);
  writeBytes(out, parts.body, o);
  return out;
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

/**
 * Lock tokens are version-4 uuids whose first ten bytes are drawn once per process and whose
 * last six count up from a random start: unique within the process and, by the random part,
 * across restarts, at the cost of a counter instead of random bytes and hex formatting of all
 * sixteen per lock.
 */
const tokenBytes = randomBytes(16);
tokenBytes[6] = (tokenBytes[6]! & 0x0f) | 0x40;
tokenBytes[8] = (tokenBytes[8]! & 0x3f) | 0x80;
/** The token's fixed part as text: 8-4-4-4- (the last group is the counter). */
const tokenPrefix = uuidString(tokenBytes).slice(0, 24);
/** The delivery tag's fixed part (the first eight bytes reordered; bytes 8-9 as they are). */
const tagPrefix = reorderGuidBytes(tokenBytes).subarray(0, 10);
const COUNTER_LIMIT = 2 ** 48;
let tokenCounter = tokenBytes.readUIntBE(10, 6);

export function newLockToken(): LockToken {
  tokenCounter = (tokenCounter + 1) % COUNTER_LIMIT;
  const tag = Buffer.allocUnsafe(16);
  tagPrefix.copy(tag, 0);
  tag.writeUIntBE(tokenCounter, 10, 6);
  return { token: tokenPrefix + tokenCounter.toString(16).padStart(12, '0'), tag };
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
