/**
 * The adapter every Service Bus-triggered function uses: parse the body (JSON, then zod), run
 * one use case, and sort failures the way the platform needs them sorted.
 * - A body that is not JSON or fails its schema, or a BusinessError from the use case: recorded in
 *   the error log (Validation / Business) and the message completed (returning normally).
 * - Anything else (storage or broker down, a bug): retried inside the invocation after growing
 *   pauses (a delivery does not burn away in milliseconds while storage is down), then thrown, so
 *   the host abandons the message and Service Bus redelivers it until its max delivery count
 *   dead-letters it. Why in the invocation: docs/decisions/repair.md.
 * - A message sent by a replay (`ReplayOf` property) that goes through resolves the row it repairs.
 * Dead-lettered messages are taken by `deadLetterFunction`: one DeadLetter row each.
 * Each invocation is one CONSUMER span in the trace context the host hands over, linked to the
 * span that sent the message (its `Diagnostic-Id`), with the message id, the delivery count and
 * the invoice or proposal the body names; each message counts once in `integration.messages.handled`.
 */
import { app, type InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { describeZodError } from '../core/fields';
import type { ErrorLogPort, MessageErrorLogPort } from '../core/errorReports';
import { BusinessError } from '../core/errors';
import { countMessage, type MessageOutcome } from '../telemetry/metrics';
import { contextOfTraceParent, DIAGNOSTIC_ID, inSpan, keysOfValue, linkToSender, SpanKind, type Span } from '../telemetry/tracing';

/** The app setting that names the Service Bus connection of every queue trigger. */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';

/** Register a Service Bus queue-triggered function whose messages go through `handleQueueMessage`. */
export function queueFunction<S extends z.ZodType>(
  name: string,
  options: Omit<Parameters<typeof handleQueueMessage<S>>[0], 'source' | 'message' | 'context'> & { queue: string },
): void {
  app.serviceBusQueue(name, {
    connection: SERVICE_BUS_CONNECTION,
    queueName: options.queue,
    handler: (message, context) => handleQueueMessage({ ...options, source: name, message, context }),
  });
}

/**
 * Register the function that empties a queue's dead-letter queue: each message becomes one
 * DeadLetter row in the error log of `consumer` (the function that gave up on it), and is
 * completed only once the row is written.
 */
export function deadLetterFunction(
  name: string,
  options: { queue: string; consumer: string; errorLog: MessageErrorLogPort; reference?: (body: unknown) => string | undefined },
): void {
  app.serviceBusQueue(name, {
    connection: SERVICE_BUS_CONNECTION,
    queueName: `${options.queue}/$DeadLetterQueue`,
    handler: (message, context) =>
      invocationSpan(name, `${options.queue}/$DeadLetterQueue`, message, context, async () => {
        await recordDeadLettered(name, options, message, context);
        countMessage(name, `${options.queue}/$DeadLetterQueue`, 'deadLetterRecorded');
        return 'deadLetterRecorded';
      }),
  });
}

async function recordDeadLettered(
  name: string,
  options: { queue: string; consumer: string; errorLog: MessageErrorLogPort; reference?: (body: unknown) => string | undefined },
  message: unknown,
  context: InvocationContext,
): Promise<void> {
  const meta = metaOf(context, name);
  const reason = textOf(applicationProperty(context, 'DeadLetterReason'));
  const description = textOf(applicationProperty(context, 'DeadLetterErrorDescription'));
  const body = bodyValue(message);
  const reference = body.ok ? options.reference?.(body.value) : undefined;
  const messageId = meta.messageId ?? `${options.queue}-dead-letter-${context.invocationId}`;
  await options.errorLog.recordDeadLetter({
    source: options.consumer,
    category: 'DeadLetter',
    message: `Service Bus dead-lettered this message of ${options.queue}${reason ? ` (${reason}${description ? `: ${description}` : ''})` : ''}. Once what made it fail is mended, replay it (POST /api/errors/{errorId}/replay).`,
    messageId,
    enqueuedAt: meta.enqueuedAt,
    payload: message,
    queue: options.queue,
    ...(reference !== undefined ? { reference } : {}),
    deadLetter: {
      ...(reason !== undefined ? { reason } : {}),
      ...(description !== undefined ? { description } : {}),
      deliveryCount: meta.deliveryCount,
    },
  });
  context.warn(`${meta.prefix} dead-lettered message of ${options.queue} recorded for ${options.consumer}: ${reason ?? 'no reason given'}`);
}

/**
 * Run one queue invocation in its CONSUMER span: the host's trace context as parent, a link to the
 * sender's span, the message id, delivery count and the business keys of the body as attributes.
 */
function invocationSpan(source: string, queue: string | undefined, message: unknown, context: InvocationContext, run: (span: Span) => Promise<MessageOutcome>): Promise<void> {
  const tm = (context.triggerMetadata ?? {}) as Record<string, unknown>;
  const body = bodyValue(message);
  const keys = body.ok ? keysOfValue(body.value) : undefined;
  const messageId = typeof tm.messageId === 'string' ? tm.messageId : undefined;
  const deliveryCount = Number(tm.deliveryCount ?? 1) || 1;
  return inSpan(
    `${source} process`,
    {
      kind: SpanKind.CONSUMER,
      parent: contextOfTraceParent(context.traceContext?.traceParent),
      links: linkToSender(applicationProperty(context, DIAGNOSTIC_ID)),
      invocation: true,
      attributes: {
        'faas.name': source,
        'faas.trigger': 'pubsub',
        'faas.invocation_id': context.invocationId,
        'messaging.system': 'servicebus',
        'messaging.operation.name': 'process',
        ...(queue !== undefined ? { 'messaging.destination.name': queue } : {}),
        ...(messageId !== undefined ? { messageId, 'messaging.message.id': messageId } : {}),
        deliveryCount,
        'messaging.servicebus.message.delivery_count': deliveryCount,
        ...(keys ? keys.attributes() : {}),
      },
    },
    async (span) => {
      span.setAttribute('outcome', await run(span));
    },
  );
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * One application property of the message. The host hands trigger metadata over camel-cased,
 * nested keys included (`ReplayOf` arrives as `replayOf`), so both spellings are looked up.
 */
function applicationProperty(context: InvocationContext, name: string): unknown {
  const props = (context.triggerMetadata ?? {}).applicationProperties;
  if (props === null || typeof props !== 'object') return undefined;
  const record = props as Record<string, unknown>;
  return record[name] ?? record[name.charAt(0).toLowerCase() + name.slice(1)];
}

/** Pauses before the retries of one delivery that failed on a fault that may pass (ms). */
export const RETRY_PAUSES_MS: readonly number[] = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

export interface MessageMeta {
  messageId?: string;
  deliveryCount: number;
  enqueuedAt?: Date;
  /** The message's application properties as the host hands them over (keys camel-cased: first letter lower-cased). */
  applicationProperties?: Readonly<Record<string, unknown>>;
  log: (line: string) => void;
}

function metaOf(context: InvocationContext, source: string): MessageMeta & { prefix: string } {
  const tm = (context.triggerMetadata ?? {}) as Record<string, unknown>;
  const messageId = typeof tm.messageId === 'string' ? tm.messageId : undefined;
  const deliveryCount = Number(tm.deliveryCount ?? 1) || 1;
  const enqueued = typeof tm.enqueuedTimeUtc === 'string' ? new Date(tm.enqueuedTimeUtc) : undefined;
  const prefix = `[${source}] invocation=${context.invocationId} messageId=${messageId ?? '-'} delivery=${deliveryCount}`;
  const props = tm.applicationProperties;
  return {
    messageId,
    deliveryCount,
    applicationProperties: props !== null && typeof props === 'object' && !Array.isArray(props) ? { ...props } : {},
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

export interface QueueMessageOptions<S extends z.ZodType> {
  source: string;
  message: unknown;
  context: InvocationContext;
  schema: S;
  errorLog: ErrorLogPort & Partial<Pick<MessageErrorLogPort, 'resolveReplayed'>>;
  reference?: (body: z.infer<S>) => string | undefined;
  handle: (body: z.infer<S>, meta: MessageMeta) => Promise<void>;
  /** The queue the message came from, recorded on its error rows so it can be replayed. */
  queue?: string;
  /** Pauses before retrying a transient failure inside this delivery (default RETRY_PAUSES_MS; [] = none). */
  retryPausesMs?: readonly number[];
}

export function handleQueueMessage<S extends z.ZodType>(options: QueueMessageOptions<S>): Promise<void> {
  return invocationSpan(options.source, options.queue, options.message, options.context, async () => {
    let outcome: MessageOutcome;
    try {
      outcome = await processMessage(options);
    } catch (error) {
      countMessage(options.source, options.queue, 'failed');
      throw error;
    }
    countMessage(options.source, options.queue, outcome);
    return outcome;
  });
}

async function processMessage<S extends z.ZodType>(options: QueueMessageOptions<S>): Promise<'completed' | 'recorded'> {
  const meta = metaOf(options.context, options.source);
  const record = async (category: 'Validation' | 'Business', message: string, reference?: string): Promise<'recorded'> => {
    await options.errorLog.record({
      source: options.source,
      category,
      message,
      reference,
      messageId: meta.messageId,
      enqueuedAt: meta.enqueuedAt,
      payload: options.message,
      ...(options.queue !== undefined ? { queue: options.queue } : {}),
    });
    options.context.warn(`${meta.prefix} ${category.toLowerCase()} error recorded, message completed: ${message}`);
    return 'recorded';
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
        ...(options.queue !== undefined ? { queue: options.queue } : {}),
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
  const refNote = reference ? ` ref=${reference}` : '';
  const started = Date.now();
  const pauses = options.retryPausesMs ?? RETRY_PAUSES_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await options.handle(body, { ...meta, log: (line) => options.context.log(`${meta.prefix}${refNote} ${line}`) });
      options.context.log(`${meta.prefix}${refNote} done in ${Date.now() - started} ms${attempt ? ` after ${attempt} retries` : ''}`);
      break;
    } catch (error) {
      if (error instanceof BusinessError) return record(error.category, error.message, error.reference ?? reference);
      const reason = error instanceof Error ? error.message : String(error);
      const pause = pauses[attempt];
      if (pause !== undefined) {
        const wait = Math.round(pause * (0.75 + Math.random() * 0.5));
        options.context.warn(`${meta.prefix}${refNote} failed (${reason}); retrying in ${wait} ms (retry ${attempt + 1} of ${pauses.length} in this delivery)`);
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      options.context.error(`${meta.prefix}${refNote} failed, Service Bus will redeliver: ${reason}`);
      await transient(
        'Open',
        `Delivery ${meta.deliveryCount} failed${pauses.length ? ` after ${pauses.length} retries` : ''} and Service Bus will redeliver the message (after the queue's max delivery count it is dead-lettered): ${reason}`,
        reference,
      );
      throw error;
    }
  }
  // A redelivered message that now succeeded closes the transient row of its earlier failures.
  if (meta.deliveryCount > 1) await transient('Resolved', `Recovered on delivery ${meta.deliveryCount} after earlier deliveries failed or were interrupted`, reference);
  // A replayed message that went through resolves the row it was replayed from.
  const replayOf = applicationProperty(options.context, 'ReplayOf');
  if (typeof replayOf === 'string' && options.errorLog.resolveReplayed) {
    try {
      await options.errorLog.resolveReplayed(options.source, replayOf, `Resolved: its replay (message ${meta.messageId ?? '-'}) went through.`);
    } catch (logError) {
      options.context.warn(`${meta.prefix} could not resolve error row ${replayOf}: ${logError instanceof Error ? logError.message : String(logError)}`);
    }
  }
  return 'completed';
}
