/**
 * The adapter every Service Bus-triggered function uses: parse the body (JSON, then zod), run
 * one use case, and sort failures the way the platform needs them sorted.
 * - A body that is not JSON or fails its schema, or a BusinessError from the use case: recorded in
 *   the error log (Validation / Business) and the message completed (returning normally).
 * - Anything else (storage or broker down, a bug): thrown, so the host abandons the message and
 *   Service Bus redelivers it until its max delivery count dead-letters it.
 */
import { app, type InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { describeZodError } from '../core/fields';
import type { ErrorLogPort } from '../core/errorReports';
import { BusinessError } from '../core/errors';

/** The app setting that names the Service Bus connection of every queue trigger. */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';

/** Register a Service Bus queue-triggered function whose messages go through `handleQueueMessage`. */
export function queueFunction<S extends z.ZodType>(
  name: string,
  options: Omit<Parameters<typeof handleQueueMessage<S>>[0], 'source' | 'message' | 'context'> & { queue: string },
): void {
  const { queue, ...handling } = options;
  app.serviceBusQueue(name, {
    connection: SERVICE_BUS_CONNECTION,
    queueName: queue,
    handler: (message, context) => handleQueueMessage({ ...handling, source: name, message, context }),
  });
}

export interface MessageMeta {
  messageId?: string;
  deliveryCount: number;
  enqueuedAt?: Date;
  log: (line: string) => void;
}

function metaOf(context: InvocationContext, source: string): MessageMeta & { prefix: string } {
  const tm = (context.triggerMetadata ?? {}) as Record<string, unknown>;
  const messageId = typeof tm.messageId === 'string' ? tm.messageId : undefined;
  const deliveryCount = Number(tm.deliveryCount ?? 1) || 1;
  const enqueued = typeof tm.enqueuedTimeUtc === 'string' ? new Date(tm.enqueuedTimeUtc) : undefined;
  const prefix = `[${source}] invocation=${context.invocationId} messageId=${messageId ?? '-'} delivery=${deliveryCount}`;
  return {
    messageId,
    deliveryCount,
    enqueuedAt: enqueued && !Number.isNaN(enqueued.getTime()) ? enqueued : undefined,
    prefix,
    log: (line: string) => context.log(`${prefix} ${line}`),
  };
}

/** The body as a value: the host hands over parsed JSON, or a string/Buffer when it was not JSON. */
export function bodyValue(message: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (Buffer.isBuffer(message) || message instanceof Uint8Array) message = Buffer.from(message).toString('utf8');
  if (typeof message === 'string') {
    try {
      return { ok: true, value: JSON.parse(message) };
    } catch (error) {
      return { ok: false, reason: `the message body is not JSON (${error instanceof Error ? error.message : String(error)})` };
    }
  }
  return { ok: true, value: message };
}

export async function handleQueueMessage<S extends z.ZodType>(options: {
  source: string;
  message: unknown;
  context: InvocationContext;
  schema: S;
  errorLog: ErrorLogPort;
  reference?: (body: z.infer<S>) => string | undefined;
  handle: (body: z.infer<S>, meta: MessageMeta) => Promise<void>;
}): Promise<void> {
  const meta = metaOf(options.context, options.source);
  const record = async (category: 'Validation' | 'Business', message: string, reference?: string) => {
    await options.errorLog.record({
      source: options.source,
      category,
      message,
      reference,
      messageId: meta.messageId,
      enqueuedAt: meta.enqueuedAt,
      payload: options.message,
    });
    options.context.warn(`${meta.prefix} ${category.toLowerCase()} error recorded, message completed: ${message}`);
  };

  // One Transient row per message (rewritten on each failed delivery); best effort, since the
  // fault may be the storage that holds the error log.
  const transient = async (status: 'Open' | 'Resolved', message: string, reference?: string) => {
    if (!meta.messageId) return;
    try {
      await options.errorLog.record({
        source: options.source,
        category: 'Transient',
        status,
        message,
        reference,
        messageId: meta.messageId,
        enqueuedAt: meta.enqueuedAt,
        payload: options.message,
        dedupeKey: `transient|${meta.messageId}`,
      });
    } catch (logError) {
      options.context.warn(`${meta.prefix} could not write the error log: ${logError instanceof Error ? logError.message : String(logError)}`);
    }
  };

  const raw = bodyValue(options.message);
  if (!raw.ok) return record('Validation', raw.reason);
  const parsed = options.schema.safeParse(raw.value);
  if (!parsed.success) return record('Validation', `the message does not match its schema: ${describeZodError(parsed.error)}`);

  const body = parsed.data as z.infer<S>;
  const reference = options.reference?.(body);
  const started = Date.now();
  try {
    await options.handle(body, { ...meta, log: (line) => options.context.log(`${meta.prefix}${reference ? ` ref=${reference}` : ''} ${line}`) });
    options.context.log(`${meta.prefix}${reference ? ` ref=${reference}` : ''} done in ${Date.now() - started} ms`);
  } catch (error) {
    if (error instanceof BusinessError) return record(error.category, error.message, error.reference ?? reference);
    const reason = error instanceof Error ? error.message : String(error);
    options.context.error(`${meta.prefix}${reference ? ` ref=${reference}` : ''} failed, Service Bus will redeliver: ${reason}`);
    await transient(
      'Open',
      `Delivery ${meta.deliveryCount} failed and Service Bus will redeliver the message (after the queue's max delivery count it is dead-lettered): ${reason}`,
      reference,
    );
    throw error;
  }
  // A redelivered message that now succeeded closes the transient row of its earlier failures.
  if (meta.deliveryCount > 1) await transient('Resolved', `Recovered on delivery ${meta.deliveryCount} after earlier deliveries failed or were interrupted`, reference);
}
