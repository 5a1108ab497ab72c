/**
 * The request/response nodes: `$cbs` (token put: always accepted) and `<entity>/$management`
 * (renew-lock, peek, schedule/cancel, receive deferred by sequence number, update-disposition).
 * Requests and responses use the same shapes as Azure Service Bus; management responses carry
 * `statusCode`/`statusDescription` (and `errorCondition` on failure) as application properties.
 */
import type { Message } from 'rhea';
import { amqpTypes as t, decodeMessage, toSequenceNumber, uuidBytes, uuidString } from './codec';
import { BrokerError, type Entity, type LockHolder, type Outcome, type ReceiveMode } from './queue';

export const Operations = {
  putToken: 'put-token',
  renewLock: 'com.microsoft:renew-lock',
  peekMessage: 'com.microsoft:peek-message',
  scheduleMessage: 'com.microsoft:schedule-message',
  cancelScheduledMessage: 'com.microsoft:cancel-scheduled-message',
  receiveBySequenceNumber: 'com.microsoft:receive-by-sequence-number',
  updateDisposition: 'com.microsoft:update-disposition',
} as const;

/** Answer to a `$cbs` put-token request: any token is good here. */
export function handleCbsRequest(request: Message): Message {
  const operation = request.application_properties?.['operation'] as unknown;
  if (operation !== Operations.putToken) {
    return {
      correlation_id: request.message_id,
      application_properties: { 'status-code': 400, 'status-description': `Unsupported $cbs operation ${String(operation)}` },
      body: undefined,
    };
  }
  return { correlation_id: request.message_id, application_properties: { 'status-code': 200, 'status-description': 'OK' }, body: undefined };
}

/** Answer to a `<entity>/$management` request. Never throws: failures become error responses. */
export function handleManagementRequest(entity: Entity, request: Message, holder: LockHolder): Message {
  const operation = String(request.application_properties?.['operation'] ?? '');
  const body = isRecord(request.body) ? request.body : {};
  try {
    const result = run(entity, operation, body, holder);
    return {
      correlation_id: request.message_id,
      application_properties: { statusCode: result.status ?? 200, statusDescription: result.status === 204 ? 'No Content' : 'OK' },
      body: result.body ?? {},
    };
  } catch (err) {
    const e =
      err instanceof BrokerError
        ? err
        : new BrokerError('com.microsoft:argument-error', err instanceof Error ? err.message : String(err), 400);
    return {
      correlation_id: request.message_id,
      application_properties: { statusCode: e.statusCode, statusDescription: e.message, errorCondition: e.condition },
      body: {},
    };
  }
}

interface Result {
  status?: number;
  body?: Record<string, unknown>;
}

function run(entity: Entity, operation: string, body: Record<string, unknown>, holder: LockHolder): Result {
  switch (operation) {
    case Operations.renewLock: {
      const expirations = lockTokens(body).map((token) => entity.renewLock(token));
      return { body: { expirations: t.wrap_array(expirations, 0x83, undefined) } };
    }
    case Operations.peekMessage: {
      const from = toSequenceNumber(body['from-sequence-number']) ?? 1;
      const count = typeof body['message-count'] === 'number' ? body['message-count'] : 1;
      const peeked = entity.peek(from, count);
      if (!peeked.length) return { status: 204 };
      return { body: { messages: peeked.map((p) => ({ message: p.payload })) } };
    }
    case Operations.scheduleMessage: {
      const entries = Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : [];
      const parts = entries.map((entry, i) => {
        const encoded = isRecord(entry) ? entry['message'] : undefined;
        if (!Buffer.isBuffer(encoded)) throw new BrokerError('com.microsoft:argument-error', `messages[${i}].message is not an encoded message`, 400);
        return decodeMessage(encoded);
      });
      const numbers = entity.schedule(parts);
      return { body: { 'sequence-numbers': t.wrap_array(numbers, 0x81, undefined) } };
    }
    case Operations.cancelScheduledMessage:
      entity.cancelScheduled(sequenceNumbers(body));
      return {};
    case Operations.receiveBySequenceNumber: {
      const mode: ReceiveMode = body['receiver-settle-mode'] === 0 ? 'receiveAndDelete' : 'peekLock';
      const received = entity.receiveDeferred(sequenceNumbers(body), mode, holder);
      return {
        body: {
          messages: received.map((r) =>
            r.lock ? { message: r.payload, 'lock-token': t.wrap_uuid(uuidBytes(r.lock.token)) } : { message: r.payload },
          ),
        },
      };
    }
    case Operations.updateDisposition: {
      const outcome = dispositionOutcome(body);
      for (const token of lockTokens(body)) entity.settle(token, outcome);
      return {};
    }
    default:
      throw new BrokerError('amqp:not-implemented', `The operation ${operation || '(none)'} is not supported by the local Service Bus broker.`, 501);
  }
}

function dispositionOutcome(body: Record<string, unknown>): Outcome {
  const status = body['disposition-status'];
  const properties = isRecord(body['properties-to-modify']) ? body['properties-to-modify'] : undefined;
  switch (status) {
    case 'completed':
      return { kind: 'complete' };
    case 'abandoned':
      return { kind: 'abandon', properties };
    case 'defered':
    case 'deferred':
      return { kind: 'defer', properties };
    case 'suspended':
      return {
        kind: 'deadletter',
        reason: optionalString(body['deadletter-reason']),
        description: optionalString(body['deadletter-description']),
        properties,
      };
    default:
      throw new BrokerError('com.microsoft:argument-error', `Unknown disposition-status ${String(status)}`, 400);
  }
}

function lockTokens(body: Record<string, unknown>): string[] {
  const raw = body['lock-tokens'];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((v) => {
    if (Buffer.isBuffer(v) && v.length === 16) return uuidString(v);
    if (typeof v === 'string') return v.toLowerCase();
    throw new BrokerError('com.microsoft:argument-error', 'lock-tokens must be an array of uuids', 400);
  });
}

function sequenceNumbers(body: Record<string, unknown>): number[] {
  const raw = body['sequence-numbers'];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((v) => {
    const n = toSequenceNumber(v);
    if (n === undefined) throw new BrokerError('com.microsoft:argument-error', 'sequence-numbers must be an array of longs', 400);
    return n;
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
