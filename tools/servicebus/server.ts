/**
 * The AMQP 1.0 side: a rhea container listening on TCP, SASL PLAIN/ANONYMOUS, and the links the
 * Service Bus SDK opens: `$cbs` and `<entity>/$management` request/response pairs, senders to a
 * queue (single messages and the 0x80013700 batch format), and receivers from a queue or its
 * dead-letter queue in peek-lock (settle mode second) or receive-and-delete (pre-settled).
 *
 * A few rhea internals are used on purpose (see `SenderInternals`): the server must know how
 * much link credit is still unused by transfers rhea has queued, answer every drain request
 * with a drained flow (rhea skips it when credit is already zero, which would make the SDK time
 * out its drain and recycle the link), and let rhea forget deliveries it has settled in reply
 * to the client's unsettled dispositions. rhea's merging of dispositions into ranges is worked
 * around where it could misreport a settlement (see `onOutcome`).
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import {
  create_container,
  message as rheaMessage,
  type AmqpError,
  type Connection,
  type Container,
  type Delivery,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
  type Session,
} from 'rhea';
import { amqpTypes, BATCH_MESSAGE_FORMAT, decodeBatch, partsFromRheaMessage, type LockToken, type MessageParts } from './codec';
import { handleCbsRequest, handleManagementRequest } from './management';
import { BrokerError, DEAD_LETTER_SUFFIX, lockLostError, normalizeAddress, type Consumer, type Entity, type Namespace, type Outcome, type ReceiveMode } from './queue';

/** Largest message (or batch) a sender may send, as on the Standard tier. */
export const MAX_MESSAGE_SIZE = 256 * 1024;

const MANAGEMENT_SUFFIX = '/$management';

interface AttachInternals {
  local: { attach: { snd_settle_mode?: number; rcv_settle_mode?: number; max_message_size?: number } };
}

interface SenderInternals extends AttachInternals {
  credit: number;
  delivery_count: number;
  _draining: boolean;
  _drained: boolean;
  _get_drain: () => boolean;
  session: { outgoing: { next_pending_delivery: number; available(): number } };
}

interface DeliveryInternals {
  remote_settled: boolean;
}

/** A frame rhea has queued for writing (frames.amqp_frame). */
interface PendingFrame {
  channel: number;
  type: number;
  performative?: unknown;
  payload?: Buffer;
}

interface TransportInternals {
  pending: PendingFrame[];
  header_sent: unknown;
  write(socket: Socket): void;
}

interface ConnectionInternals {
  output(): void;
  socket?: Socket;
  amqp_transport: TransportInternals;
}

interface TransferFields {
  handle: number;
  delivery_id: number;
  delivery_tag: Buffer;
  message_format: number;
  settled: boolean;
  more: boolean;
}

/** rhea's frame constructors (lib/frames.js); only `transfer` is used here. */
interface FramesInternals {
  transfer: (fields: TransferFields) => unknown;
}

interface OutgoingInternals {
  process(): void;
}

interface SessionInternals {
  outgoing: OutgoingInternals;
}

interface WriterInternals {
  buffer: Buffer;
  position: number;
  skip(bytes: number): void;
  write_uint(value: number, width: number): void;
  write(o: unknown): void;
  write_bytes(source: Buffer): void;
}

type OutcomeKind = 'accepted' | 'rejected' | 'modified' | 'released';

const outcomes = rheaMessage as unknown as Record<OutcomeKind, (fields?: { error?: AmqpError }) => { described(): unknown }>;

/**
 * The answer to each successful settlement: one shared state per kind (rhea compares states
 * when it merges the dispositions it writes into ranges; shared ones compare at once).
 */
const OUTCOME_STATES: Record<OutcomeKind, unknown> = {
  accepted: outcomes.accepted().described(),
  rejected: outcomes.rejected().described(),
  modified: outcomes.modified().described(),
  released: outcomes.released().described(),
};

type ReceiverRole = { kind: 'cbs' } | { kind: 'management'; entity: Entity } | { kind: 'queue'; entity: Entity };

/** A delivery of a peek-lock consumer carries its lock token. */
interface LockedDelivery {
  lockToken?: string;
}

class LinkConsumer implements Consumer {
  readonly mode: ReceiveMode;
  /** Ids of deliveries handed to rhea that it has not transmitted yet (they hold credit), from `queuedFrom`. */
  private readonly queued: number[] = [];
  private queuedFrom = 0;

  constructor(
    readonly link: Sender,
    readonly entity: Entity,
    readonly lockHolder: object,
  ) {
    this.mode = link.snd_settle_mode === 1 ? 'receiveAndDelete' : 'peekLock';
  }

  availableCredit(): number {
    if (!this.link.is_open()) return 0;
    const internals = this.link as unknown as SenderInternals;
    const outgoing = internals.session.outgoing;
    const queued = this.queued;
    let from = this.queuedFrom;
    while (from < queued.length && queued[from]! < outgoing.next_pending_delivery) from++;
    if (from === queued.length) {
      queued.length = 0;
      from = 0;
    }
    this.queuedFrom = from;
    return Math.min(internals.credit - (queued.length - from), outgoing.available());
  }

  transfer(payload: Buffer, lock: LockToken | undefined): void {
    const delivery = this.link.send(payload, lock?.tag, 0);
    this.queued.push(delivery.id);
    if (lock) (delivery as unknown as LockedDelivery).lockToken = lock.token;
  }
}

class ConnectionState {
  readonly consumers = new Map<Sender, LinkConsumer>();
  readonly receivers = new Map<Receiver, ReceiverRole>();
  /** Reply links of `$cbs` and `$management`, by link name and by target address. */
  readonly replyLinks = new Map<string, Sender>();
  /** Holder of every lock taken on this connection (links and `$management`). */
  readonly locks = {};
  closed = false;
}

export interface BrokerServerOptions {
  host: string;
  port: number;
  namespace: Namespace;
  log: (line: string) => void;
}

export class BrokerServer {
  private readonly container: Container;
  private readonly states = new Map<Connection, ConnectionState>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private boundPort = 0;
  private closing: Promise<void> | undefined;
  private readonly ns: Namespace;
  private readonly log: (line: string) => void;

  constructor(private readonly options: BrokerServerOptions) {
    this.ns = options.namespace;
    this.log = options.log;
    this.container = create_container({ id: `local-servicebus-${randomUUID()}` });
    const mechanisms = this.container.sasl_server_mechanisms as {
      enable_anonymous(): void;
      enable_plain(check: (user: string, password: string) => boolean): void;
    };
    mechanisms.enable_anonymous();
    mechanisms.enable_plain(() => true);
    this.wireEvents();
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const server = this.container.listen({
      host: this.options.host,
      port: this.options.port,
      autoaccept: false,
      treat_modified_as_released: false,
      session_buffer_size: 8192,
    } as Parameters<Container['listen']>[0]) as Server;
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.once('listening', () => {
        server.off('error', onError);
        server.on('error', (err) => this.log(`listener error: ${err.message}`));
        resolve();
      });
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('Service Bus broker did not bind a TCP port');
    this.boundPort = address.port;
    return address.port;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const conn of [...this.states.keys()]) {
      try {
        conn.close();
      } catch (err) {
        this.log(`closing connection failed: ${String(err)}`);
      }
      this.cleanupConnection(conn);
    }
    const deadline = Date.now() + 500;
    while (this.sockets.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    this.ns.close();
    this.container.removeAllListeners();
  }

  // ---- events ------------------------------------------------------------------------------

  private wireEvents(): void {
    const c = this.container;
    const guard =
      (name: string, fn: (ctx: EventContext) => void) =>
      (ctx: EventContext): void => {
        try {
          fn(ctx);
        } catch (err) {
          this.log(`${name} handler failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        }
      };
    c.on('connection_open', guard('connection_open', (ctx) => this.onConnectionOpen(ctx.connection)));
    c.on('connection_close', guard('connection_close', (ctx) => this.cleanupConnection(ctx.connection)));
    c.on('disconnected', guard('disconnected', (ctx) => this.cleanupConnection(ctx.connection)));
    c.on('connection_error', (ctx: EventContext) => this.log(`connection error: ${describeError(ctx.connection.error)}`));
    c.on('session_close', guard('session_close', (ctx) => this.cleanupSession(ctx.connection, ctx.session)));
    c.on('session_error', (ctx: EventContext) => this.log(`session error: ${describeError(ctx.session?.error)}`));
    c.on('sender_open', guard('sender_open', (ctx) => this.onSenderOpen(ctx)));
    c.on('receiver_open', guard('receiver_open', (ctx) => this.onReceiverOpen(ctx)));
    c.on('sender_close', guard('sender_close', (ctx) => ctx.sender && this.cleanupLink(ctx.connection, ctx.sender)));
    c.on('receiver_close', guard('receiver_close', (ctx) => ctx.receiver && this.cleanupLink(ctx.connection, ctx.receiver)));
    c.on('sender_error', (ctx: EventContext) => this.log(`sender error: ${describeError(ctx.sender?.error)}`));
    c.on('receiver_error', (ctx: EventContext) => this.log(`receiver error: ${describeError(ctx.receiver?.error)}`));
    c.on('sendable', guard('sendable', (ctx) => this.onSendable(ctx)));
    c.on('sender_draining', guard('sender_draining', (ctx) => this.onDraining(ctx)));
    c.on('message', guard('message', (ctx) => this.onMessage(ctx)));
    for (const kind of ['accepted', 'rejected', 'modified', 'released'] as const) {
      c.on(kind, guard(kind, (ctx) => this.onOutcome(kind, ctx)));
    }
    c.on('protocol_error', (err: unknown) => this.log(`protocol error: ${String(err)}`));
    c.on('error', (err: unknown) => this.log(`amqp error: ${err instanceof Error ? err.message : String(err)}`));
  }

  private state(conn: Connection): ConnectionState {
    let state = this.states.get(conn);
    if (!state) {
      state = new ConnectionState();
      this.states.set(conn, state);
    }
    return state;
  }

  private onConnectionOpen(conn: Connection): void {
    this.state(conn);
    coalesceWrites(conn);
    this.log(`connection ${conn.options.id ?? ''} opened (container ${conn.container_id ?? '?'})`);
  }

  /** A client receiver attached: a queue consumer, or the reply side of `$cbs`/`$management`. */
  private onSenderOpen(ctx: EventContext): void {
    const link = ctx.sender!;
    const state = this.state(ctx.connection);
    const address = link.source?.address ?? '';
    const target = link.target?.address;
    if (address === '$cbs' || address.endsWith(MANAGEMENT_SUFFIX)) {
      if (address !== '$cbs' && !this.ns.resolve(address.slice(0, -MANAGEMENT_SUFFIX.length))) {
        this.refuseNotFound(link, address);
        return;
      }
      echoTermini(link, address, target);
      plainTransfersFor(link.session);
      state.replyLinks.set(link.name, link);
      if (target) state.replyLinks.set(target, link);
      return;
    }
    const entity = this.ns.resolve(address);
    if (!entity) {
      this.refuseNotFound(link, address);
      return;
    }
    if (link.source?.filter && Object.keys(link.source.filter).some((k) => k.includes('session-filter'))) {
      this.refuse(link, 'amqp:not-implemented', `Sessions are not supported by the local Service Bus broker (entity ${entity.name}).`);
      return;
    }
    echoTermini(link, address, target);
    const attach = (link as unknown as AttachInternals).local.attach;
    attach.snd_settle_mode = link.snd_settle_mode;
    attach.rcv_settle_mode = link.rcv_settle_mode;
    answerEveryDrain(link);
    plainTransfersFor(link.session);
    const consumer = new LinkConsumer(link, entity, state.locks);
    state.consumers.set(link, consumer);
    entity.addConsumer(consumer);
    this.log(`receiver ${link.name} attached to ${entity.name} (${consumer.mode})`);
  }

  /** A client sender attached: to a queue, or the request side of `$cbs`/`$management`. */
  private onReceiverOpen(ctx: EventContext): void {
    const link = ctx.receiver!;
    const state = this.state(ctx.connection);
    const address = link.target?.address ?? '';
    let role: ReceiverRole;
    if (address === '$cbs') {
      role = { kind: 'cbs' };
    } else if (address.endsWith(MANAGEMENT_SUFFIX)) {
      const entity = this.ns.resolve(address.slice(0, -MANAGEMENT_SUFFIX.length));
      if (!entity) {
        this.refuseNotFound(link, address);
        return;
      }
      role = { kind: 'management', entity };
    } else {
      const entity = this.ns.resolve(address);
      if (!entity) {
        this.refuseNotFound(link, address);
        return;
      }
      if (entity.isDeadLetterQueue) {
        this.refuse(link, 'amqp:not-allowed', `Messages cannot be sent to the dead-letter queue ${entity.name}.`);
        return;
      }
      role = { kind: 'queue', entity };
    }
    echoTermini(link, link.source?.address, address);
    (link as unknown as AttachInternals).local.attach.max_message_size = MAX_MESSAGE_SIZE;
    state.receivers.set(link, role);
  }

  private refuseNotFound(link: Sender | Receiver, address: string): void {
    const path = normalizeAddress(address).replace(MANAGEMENT_SUFFIX, '').replace(DEAD_LETTER_SUFFIX, '');
    this.refuse(
      link,
      'amqp:not-found',
      `The messaging entity 'sb://${this.options.host}:${this.boundPort}/${path}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.`,
    );
  }

  /** Azure's way: answer the attach (no source/target), then detach it with the error. */
  private refuse(link: Sender | Receiver, condition: string, description: string): void {
    this.log(`refused link ${link.name}: ${description}`);
    link.close({ condition, description });
  }

  private onSendable(ctx: EventContext): void {
    const consumer = ctx.sender && this.states.get(ctx.connection)?.consumers.get(ctx.sender);
    consumer?.entity.pump();
  }

  private onDraining(ctx: EventContext): void {
    const consumer = ctx.sender && this.states.get(ctx.connection)?.consumers.get(ctx.sender);
    if (!consumer) return;
    consumer.entity.pump();
    consumer.link.set_drained(true);
  }

  private onMessage(ctx: EventContext): void {
    const link = ctx.receiver;
    const delivery = ctx.delivery;
    if (!link || !delivery) return;
    const state = this.states.get(ctx.connection);
    const role = state?.receivers.get(link);
    if (!state || !role) {
      delivery.reject({ condition: 'amqp:illegal-state', description: 'The link is not attached to anything.' });
      return;
    }
    const format = (ctx as EventContext & { format?: number }).format ?? delivery.format ?? 0;
    switch (role.kind) {
      case 'cbs':
      case 'management': {
        delivery.accept();
        const request = ctx.message;
        if (!request || format !== 0) return;
        const response = role.kind === 'cbs' ? handleCbsRequest(request) : handleManagementRequest(role.entity, request, state.locks);
        this.reply(state, request, response);
        return;
      }
      case 'queue': {
        let batch: MessageParts[];
        try {
          batch = decodeSent(ctx.message, format);
        } catch (err) {
          delivery.reject({ condition: 'amqp:decode-error', description: err instanceof Error ? err.message : String(err) });
          return;
        }
        const size = batch.reduce((sum, p) => sum + p.size, 0);
        if (size > MAX_MESSAGE_SIZE) {
          delivery.reject({
            condition: 'amqp:link:message-size-exceeded',
            description: `The received message (size ${size} bytes) exceeds the limit (${MAX_MESSAGE_SIZE} bytes) of ${role.entity.name}.`,
          });
          return;
        }
        role.entity.enqueue(batch);
        delivery.accept();
        return;
      }
    }
  }

  private reply(state: ConnectionState, request: Message, response: Message): void {
    const replyTo = typeof request.reply_to === 'string' ? request.reply_to : undefined;
    const link = replyTo ? state.replyLinks.get(replyTo) : undefined;
    if (!link || !link.is_open()) {
      this.log(`no reply link for ${replyTo ?? '(no reply_to)'}; response dropped`);
      return;
    }
    link.send(response);
  }

  /** The client settled (or tried to) a peek-lock delivery. */
  private onOutcome(kind: OutcomeKind, ctx: EventContext): void {
    const link = ctx.sender;
    const delivery = ctx.delivery;
    if (!link || !delivery) return;
    const consumer = this.states.get(ctx.connection)?.consumers.get(link);
    if (!consumer || consumer.mode !== 'peekLock') return;
    const locked = delivery as unknown as LockedDelivery;
    const token = locked.lockToken;
    locked.lockToken = undefined;
    let error: AmqpError | undefined;
    try {
      if (token === undefined) throw lockLostError(consumer.entity.name);
      consumer.entity.settle(token, toOutcome(kind, delivery.remote_state));
    } catch (err) {
      error =
        err instanceof BrokerError
          ? { condition: err.condition, description: err.message }
          : { condition: 'amqp:internal-error', description: err instanceof Error ? err.message : String(err) };
    }
    if (delivery.remote_settled) return;
    if (!error) {
      answerDisposition(delivery, OUTCOME_STATES[kind]);
      return;
    }
    // rhea merges the dispositions it writes in one pass into ranges and, for the first two
    // contiguous deliveries, does not compare their states: a lock-lost answer written together
    // with a successful one could be reported for both. Answers written here (inside rhea's
    // processing of the client's dispositions) are flushed at the end of that pass; an error is
    // answered on its own turn instead.
    const state = outcomes.rejected({ error }).described();
    setImmediate(() => answerDisposition(delivery, state));
  }

  // ---- cleanup -----------------------------------------------------------------------------

  private cleanupLink(conn: Connection, link: Sender | Receiver): void {
    const state = this.states.get(conn);
    if (!state) return;
    const consumer = state.consumers.get(link as Sender);
    if (consumer) {
      state.consumers.delete(link as Sender);
      consumer.entity.removeConsumer(consumer);
      this.log(`receiver ${link.name} detached from ${consumer.entity.name}`);
    }
    state.receivers.delete(link as Receiver);
    for (const [key, l] of state.replyLinks) if (l === link) state.replyLinks.delete(key);
  }

  private cleanupSession(conn: Connection, session: Session | undefined): void {
    const state = this.states.get(conn);
    if (!state || !session) return;
    for (const link of [...state.consumers.keys(), ...state.receivers.keys(), ...state.replyLinks.values()]) {
      if (link.session === session) this.cleanupLink(conn, link);
    }
  }

  /** Connection gone (closed or dropped): every lock taken on it is released. */
  private cleanupConnection(conn: Connection): void {
    const state = this.states.get(conn);
    if (!state || state.closed) return;
    state.closed = true;
    for (const link of [...state.consumers.keys()]) this.cleanupLink(conn, link);
    state.receivers.clear();
    state.replyLinks.clear();
    this.ns.releaseLocksOf(state.locks);
    this.states.delete(conn);
    this.log(`connection ${conn.options.id ?? ''} closed`);
  }
}

const rheaFrames = createRequire(__filename)('rhea/lib/frames.js') as FramesInternals;
const rheaTransfer = rheaFrames.transfer;

/**
 * A transfer performative as plain fields. `encodeFrames` writes it in a few bytes; anything else
 * that meets one (it should not) gets rhea's own through `described()`.
 */
class PlainTransfer {
  constructor(readonly fields: TransferFields) {}

  described(): unknown {
    return (rheaTransfer(this.fields) as { described(): unknown }).described();
  }
}

const plainTransfer = (fields: TransferFields): unknown => new PlainTransfer(fields);
const patchedSessions = new WeakSet<object>();

/**
 * rhea builds each transfer frame through its generic type system (a composite object whose
 * every field is wrapped in a typed value, then encoded from those): most of a delivery's cost
 * in the broker. While rhea processes the outgoing side of one of the broker's sessions, its
 * `frames.transfer` makes a `PlainTransfer` instead, written directly by `encodeFrames`. The
 * swap lasts for that synchronous call only (the SDK's connections in the same process never
 * see it) and puts rhea's constructor back even when the call throws.
 */
function plainTransfersFor(session: Session): void {
  if (patchedSessions.has(session)) return;
  patchedSessions.add(session);
  const outgoing = (session as unknown as SessionInternals).outgoing;
  const process = outgoing.process;
  outgoing.process = function processWithPlainTransfers(this: OutgoingInternals): void {
    rheaFrames.transfer = plainTransfer;
    try {
      process.call(this);
    } finally {
      rheaFrames.transfer = rheaTransfer;
    }
  };
}

const AMQP_FRAME_TYPE = 0;
const FRAME_WRITER_KEEP = 1 << 20;
let frameWriter = new amqpTypes.Writer() as unknown as WriterInternals;

/**
 * rhea writes every frame as soon as it is made: a 1 KB buffer of its own, one `socket.write`
 * (a system call) and a heartbeat timer cleared and set again, per frame; a receiver taking
 * 500 messages costs 500 of each. On the broker's connections the writes of one turn of the
 * event loop are gathered instead: rhea's `output` runs once, on `setImmediate`, and the AMQP
 * transport encodes every frame queued since into one buffer, written with one `socket.write`.
 * Frames keep their order; only the moment they leave moves to the end of the turn.
 */
function coalesceWrites(conn: Connection): void {
  const c = conn as unknown as ConnectionInternals;
  const output = c.output.bind(c);
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    output();
  };
  c.output = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  const transport = c.amqp_transport;
  const write = transport.write.bind(transport);
  transport.write = (socket: Socket): void => {
    if (!transport.header_sent) {
      write(socket);
      return;
    }
    const frames = transport.pending;
    if (!frames.length) return;
    transport.pending = [];
    socket.write(encodeFrames(frames));
  };
}

/** The frames as rhea's `frames.write_frame` writes them, back to back in one buffer. */
function encodeFrames(frames: PendingFrame[]): Buffer {
  const w = frameWriter;
  w.position = 0;
  for (const frame of frames) {
    if (frame.type !== AMQP_FRAME_TYPE) throw new Error(`Unexpected frame type ${frame.type} after SASL`);
    const start = w.position;
    w.skip(4);
    w.write_uint(2, 1);
    w.write_uint(AMQP_FRAME_TYPE, 1);
    w.write_uint(frame.channel, 2);
    if (frame.performative instanceof PlainTransfer && frame.performative.fields.delivery_tag.length < 256) {
      writeTransfer(w, frame.performative.fields);
      if (frame.payload) w.write_bytes(frame.payload);
    } else if (frame.performative) {
      w.write(frame.performative);
      if (frame.payload) w.write_bytes(frame.payload);
    }
    w.buffer.writeUInt32BE(w.position - start, start);
  }
  const out = Buffer.from(w.buffer.subarray(0, w.position));
  if (w.buffer.length > FRAME_WRITER_KEEP) frameWriter = new amqpTypes.Writer() as unknown as WriterInternals;
  return out;
}

/**
 * A transfer performative: described list (0x14) of handle, delivery-id, delivery-tag,
 * message-format, settled and more; uints written in full (0x70), the tag as vbin8.
 */
function writeTransfer(w: WriterInternals, f: TransferFields): void {
  const tagLength = f.delivery_tag.length;
  const listSize = 1 + 5 + 5 + 2 + tagLength + 5 + 1 + 1;
  const start = w.position;
  w.skip(3 + 2 + listSize);
  const b = w.buffer;
  let o = start;
  b[o++] = 0x00;
  b[o++] = 0x53;
  b[o++] = 0x14;
  b[o++] = 0xc0;
  b[o++] = listSize;
  b[o++] = 6;
  b[o++] = 0x70;
  o = b.writeUInt32BE(f.handle >>> 0, o);
  b[o++] = 0x70;
  o = b.writeUInt32BE(f.delivery_id >>> 0, o);
  b[o++] = 0xa0;
  b[o++] = tagLength;
  o += f.delivery_tag.copy(b, o);
  b[o++] = 0x70;
  o = b.writeUInt32BE(f.message_format >>> 0, o);
  b[o++] = f.settled ? 0x41 : 0x42;
  b[o++] = f.more ? 0x41 : 0x42;
}

/** Settles our side of a peek-lock delivery with `state` as the final outcome. */
function answerDisposition(delivery: Delivery, state: unknown): void {
  delivery.update(true, state);
  // The client settles on receipt of our settled disposition without another frame; mark it so
  // rhea can drop the delivery from the session's outgoing buffer.
  (delivery as unknown as DeliveryInternals).remote_settled = true;
}

function decodeSent(message: unknown, format: number): MessageParts[] {
  if (format === BATCH_MESSAGE_FORMAT) {
    if (!Buffer.isBuffer(message)) throw new Error('Batch message without a payload');
    return decodeBatch(message);
  }
  if (format !== 0) throw new Error(`Unsupported message format ${format}`);
  return [partsFromRheaMessage(message as Message)];
}

function toOutcome(kind: OutcomeKind, state: unknown): Outcome {
  const s = (state ?? {}) as {
    undeliverable_here?: boolean;
    message_annotations?: Record<string, unknown>;
    error?: { condition?: string; info?: Record<string, unknown> };
  };
  switch (kind) {
    case 'accepted':
      return { kind: 'complete' };
    case 'released':
      return { kind: 'release' };
    case 'modified':
      return s.undeliverable_here
        ? { kind: 'defer', properties: s.message_annotations }
        : { kind: 'abandon', properties: s.message_annotations };
    case 'rejected': {
      const { DeadLetterReason, DeadLetterErrorDescription, ...rest } = s.error?.info ?? {};
      return {
        kind: 'deadletter',
        reason: typeof DeadLetterReason === 'string' ? DeadLetterReason : undefined,
        description: typeof DeadLetterErrorDescription === 'string' ? DeadLetterErrorDescription : undefined,
        properties: Object.keys(rest).length ? rest : undefined,
      };
    }
  }
}

/** Sets our side of the attach to the addresses the client asked for. */
function echoTermini(link: Sender | Receiver, source: string | undefined, target: string | undefined): void {
  link.set_source(source === undefined ? ({} as never) : { address: source });
  link.set_target(target === undefined ? ({} as never) : { address: target });
}

/**
 * rhea only sends the drained flow when credit is left over; a client that drains while its
 * last credit is already used by transfers in flight must still hear "drained".
 */
function answerEveryDrain(link: Sender): void {
  const s = link as unknown as SenderInternals;
  s._get_drain = function getDrain(this: SenderInternals): boolean {
    if (!this._draining || !this._drained) return false;
    this.delivery_count += this.credit;
    this.credit = 0;
    return true;
  };
}

function describeError(err: unknown): string {
  if (!err) return '(none)';
  if (err instanceof Error) return err.message;
  const e = err as AmqpError;
  return `${e.condition ?? ''} ${e.description ?? ''}`.trim() || String(err);
}
