/**
 * Service Bus triggers and output bindings through the real `@azure/service-bus` SDK.
 *
 * Triggers receive in peek-lock mode with `autoCompleteMessages: false`: a message is completed
 * when the invocation succeeds (after its output bindings were sent) and abandoned when it
 * fails, so the broker redelivers it and dead-letters it after the queue's max delivery count.
 * Locks are renewed automatically up to host.json `maxAutoLockRenewalDuration`; up to
 * `maxConcurrentCalls` messages run at once per function.
 *
 * The message reaches the worker as the real host sends it: the body as a string (the library
 * JSON-parses it when it can) and the trigger metadata with the host's PascalCase names
 * (MessageId, DeliveryCount, ApplicationProperties, ...), which the library camelCases.
 */
import { randomUUID } from 'node:crypto';
import {
  ServiceBusClient,
  type ServiceBusMessage,
  type ServiceBusMessageBatch,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';
import { resolveSettingExpression, type HostConfig } from './config';
import { describeError, newTraceParent, type Invoker, type LoadedFunction } from './invoke';
import { fromTypedData, toTypedData, type RpcInvocationResponse, type RpcTypedData } from './rpc';

interface Listener {
  readonly fn: LoadedFunction;
  readonly entity: string;
  readonly receiver: ServiceBusReceiver;
  close(): Promise<void>;
}

type LongLike = { toNumber(): number };

function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof (value as LongLike).toNumber === 'function') return (value as LongLike).toNumber();
  return undefined;
}

function idToString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Buffer.isBuffer(value)) return value.toString('hex');
  return String(value);
}

/** Application property values as JSON would carry them (dates as ISO strings, Longs as numbers). */
function plainValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  const asNumber = typeof value === 'object' && value !== null ? toNumber(value) : undefined;
  if (asNumber !== undefined) return asNumber;
  if (Array.isArray(value)) return value.map(plainValue);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plainValue(v);
    return out;
  }
  return value;
}

/** The trigger argument as typed data: the body as text, as the host hands it to Node. */
function bodyTypedData(message: ServiceBusReceivedMessage): RpcTypedData {
  const body: unknown = message.body;
  if (Buffer.isBuffer(body)) return { string: body.toString('utf8') };
  if (body instanceof Uint8Array) return { string: Buffer.from(body).toString('utf8') };
  if (typeof body === 'string') return { string: body };
  return { json: JSON.stringify(plainValue(body) ?? null) };
}

function bodyText(message: ServiceBusReceivedMessage): string {
  const data = bodyTypedData(message);
  return data.string ?? data.json ?? '';
}

/**
 * The delivery count as the Functions host reports it. On the wire (AMQP header) the count is
 * zero-based, the number of earlier attempts; the .NET SDK the real host uses adds one, so the
 * first delivery is 1. The JavaScript SDK exposes the raw header, hence the + 1 here.
 */
export function deliveryCountOf(message: ServiceBusReceivedMessage): number {
  return (message.deliveryCount ?? 0) + 1;
}

/** Trigger metadata of one message with the host's (PascalCase) names. */
export function messageMetadata(message: ServiceBusReceivedMessage): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  const put = (key: string, value: unknown): void => {
    if (value !== undefined && value !== null) metadata[key] = value;
  };
  put('MessageId', idToString(message.messageId));
  put('DeliveryCount', deliveryCountOf(message));
  put('EnqueuedTimeUtc', message.enqueuedTimeUtc?.toISOString());
  put('ExpiresAtUtc', message.expiresAtUtc?.toISOString());
  put('SequenceNumber', toNumber(message.sequenceNumber));
  put('LockToken', message.lockToken);
  put('ContentType', message.contentType);
  put('CorrelationId', idToString(message.correlationId));
  put('Subject', message.subject);
  put('To', message.to);
  put('ReplyTo', message.replyTo);
  put('ReplyToSessionId', message.replyToSessionId);
  put('SessionId', message.sessionId);
  put('PartitionKey', message.partitionKey);
  put('DeadLetterSource', message.deadLetterSource);
  metadata.ApplicationProperties = plainValue(message.applicationProperties ?? {});
  return metadata;
}

function sysMetadata(fn: LoadedFunction): RpcTypedData {
  return toTypedData({ MethodName: fn.name, UtcNow: new Date().toISOString(), RandGuid: randomUUID() });
}

function traceParentOf(message: ServiceBusReceivedMessage): string {
  const props = message.applicationProperties ?? {};
  const candidate = props['Diagnostic-Id'] ?? props.traceparent;
  return typeof candidate === 'string' && /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(candidate)
    ? candidate
    : newTraceParent();
}

/**
 * One output binding value as a message. Like the real extension, strings and bytes become the
 * raw body and other values their JSON text; every message gets a MessageId (a GUID without
 * dashes) as the .NET SDK gives it, since receivers (and the JS SDK's lock renewal) rely on one.
 */
function toOutgoingMessage(item: unknown): ServiceBusMessage {
  const messageId = randomUUID().replace(/-/g, '');
  if (Buffer.isBuffer(item)) return { body: item, messageId };
  if (typeof item === 'string') return { body: Buffer.from(item, 'utf8'), messageId };
  return { body: item, contentType: 'application/json', messageId };
}

export class ServiceBusRuntime {
  readonly #clients = new Map<string, ServiceBusClient>();
  readonly #senders = new Map<string, ServiceBusSender>();
  readonly #listeners: Listener[] = [];
  readonly #invoker: Invoker;
  readonly #config: HostConfig['serviceBus'];
  readonly #defaultConnectionSetting: string;
  #stopping = false;
  readonly #recentErrors = new Map<string, { at: number; suppressed: number }>();
  readonly #settlements = new WeakMap<ServiceBusReceiver, Promise<void>>();

  constructor(invoker: Invoker, config: HostConfig['serviceBus'], defaultConnectionSetting: string) {
    this.#invoker = invoker;
    this.#config = config;
    this.#defaultConnectionSetting = defaultConnectionSetting;
  }

  /** The connection string from the app setting a binding's `connection` names. */
  connectionStringFor(fn: LoadedFunction, connection: unknown): string {
    const setting = typeof connection === 'string' && connection.trim() !== '' ? connection.trim() : this.#defaultConnectionSetting;
    const value = process.env[setting] ?? process.env[`AzureWebJobs${setting}`];
    if (value && value.trim() !== '') return value.trim();
    if (process.env[`${setting}__fullyQualifiedNamespace`]) {
      throw new Error(
        `Function '${fn.name}': '${setting}__fullyQualifiedNamespace' (managed identity) is not supported by the local host; set '${setting}' to a connection string`,
      );
    }
    throw new Error(`Function '${fn.name}': the Service Bus connection setting '${setting}' is not set`);
  }

  #client(connectionString: string): ServiceBusClient {
    let client = this.#clients.get(connectionString);
    if (!client) {
      client = new ServiceBusClient(connectionString, { retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 5_000 } });
      this.#clients.set(connectionString, client);
    }
    return client;
  }

  /** Checks the trigger's settings without connecting (so bad settings fail start-up). */
  describeTrigger(fn: LoadedFunction): { entity: string; subscription?: string; connectionString: string } {
    const t = fn.trigger;
    const connectionString = this.connectionStringFor(fn, t.connection);
    if (typeof t.queueName === 'string' && t.queueName.trim() !== '') {
      return { entity: resolveSettingExpression(t.queueName, `Function '${fn.name}' queueName`), connectionString };
    }
    if (typeof t.topicName === 'string' && typeof t.subscriptionName === 'string') {
      return {
        entity: resolveSettingExpression(t.topicName, `Function '${fn.name}' topicName`),
        subscription: resolveSettingExpression(t.subscriptionName, `Function '${fn.name}' subscriptionName`),
        connectionString,
      };
    }
    throw new Error(`Function '${fn.name}': a Service Bus trigger needs queueName, or topicName and subscriptionName`);
  }

  /** Checks an output binding's settings without connecting. */
  describeOutput(fn: LoadedFunction, name: string): { entity: string; connectionString: string } {
    const binding = fn.metadata.bindings[name];
    if (!binding) throw new Error(`Function '${fn.name}': no binding '${name}'`);
    const connectionString = this.connectionStringFor(fn, binding.connection);
    const entity = typeof binding.queueName === 'string' ? binding.queueName : binding.topicName;
    if (typeof entity !== 'string' || entity.trim() === '') {
      throw new Error(`Function '${fn.name}': Service Bus output '${name}' needs queueName or topicName`);
    }
    return { entity: resolveSettingExpression(entity, `Function '${fn.name}' output '${name}'`), connectionString };
  }

  startTrigger(fn: LoadedFunction): void {
    const { entity, subscription, connectionString } = this.describeTrigger(fn);
    const client = this.#client(connectionString);
    const receiverOptions = {
      receiveMode: 'peekLock' as const,
      // The host renews locks itself (#renewLocks): the SDK's renewer keys its timers by
      // MessageId and cannot settle a message that has none.
      maxAutoLockRenewalDurationInMs: 0,
      skipParsingBodyAsJson: true,
      skipConvertingDate: true,
    };
    const receiver = subscription
      ? client.createReceiver(entity, subscription, receiverOptions)
      : client.createReceiver(entity, receiverOptions);
    const label = subscription ? `${entity}/Subscriptions/${subscription}` : entity;
    if (fn.trigger.isSessionsEnabled === true) {
      this.#invoker.hostLog(
        `[Warning] Function '${fn.name}': isSessionsEnabled is not supported by the local host; messages are received without session locks`,
      );
    }
    if (fn.trigger.cardinality === 'many') {
      this.#listeners.push(this.#startBatchLoop(fn, label, receiver));
    } else {
      this.#listeners.push(this.#startSubscription(fn, label, receiver));
    }
  }

  /** Logs a receiver error, once per 30 s when it keeps repeating (the SDK retries forever). */
  #receiverError(fn: LoadedFunction, label: string, message: string): void {
    const key = `${fn.name}\u0000${message}`;
    const now = Date.now();
    const seen = this.#recentErrors.get(key);
    if (seen && now - seen.at < 30_000) {
      seen.suppressed += 1;
      return;
    }
    const repeated = seen && seen.suppressed > 0 ? ` (repeated ${seen.suppressed} more time(s))` : '';
    this.#recentErrors.set(key, { at: now, suppressed: 0 });
    this.#invoker.hostLog(`[Error] Service Bus receiver for '${fn.name}' on '${label}': ${message}${repeated}`);
  }

  #startSubscription(fn: LoadedFunction, label: string, receiver: ServiceBusReceiver): Listener {
    const subscription = receiver.subscribe(
      {
        processMessage: async (message) => {
          if (this.#stopping) {
            await receiver.abandonMessage(message).catch(() => undefined);
            return;
          }
          await this.#handleOne(fn, label, receiver, message);
        },
        processError: async (args) => {
          if (this.#stopping) return;
          this.#receiverError(fn, label, `${args.errorSource}: ${errorMessage(args.error)}`);
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: this.#config.maxConcurrentCalls },
    );
    return { fn, entity: label, receiver, close: () => subscription.close() };
  }

  /**
   * Settlements of one receiver are issued one event-loop turn apart. rhea merges the
   * dispositions written in one turn into ranges and, when a range starts with a single
   * delivery, does not compare outcomes: complete(a) and abandon(b) for adjacent deliveries in
   * the same turn would complete both (and lose b). With maxConcurrentCalls > 1 two handlers
   * can finish in the same turn, so each settlement waits for the previous one to be written.
   */
  #settle(receiver: ServiceBusReceiver, op: () => Promise<void>): Promise<void> {
    const previous = this.#settlements.get(receiver) ?? Promise.resolve();
    let result: Promise<void> = Promise.resolve();
    const issued = previous.then(() => {
      result = op();
      return new Promise<void>((resolve) => setImmediate(resolve));
    });
    this.#settlements.set(receiver, issued);
    return issued.then(() => result);
  }

  async #handleOne(fn: LoadedFunction, label: string, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage): Promise<void> {
    const triggerMetadata: Record<string, RpcTypedData> = {};
    for (const [key, value] of Object.entries(messageMetadata(message))) triggerMetadata[key] = toTypedData(value);
    triggerMetadata.sys = sysMetadata(fn);
    let succeeded = false;
    const stopRenewal = this.#renewLocks(fn, receiver, [message]);
    try {
      await this.#invoker.invoke(
        fn,
        {
          inputData: [{ name: fn.triggerName, data: bodyTypedData(message) }],
          triggerMetadata,
          traceContext: { traceParent: traceParentOf(message), attributes: {} },
        },
        `New ServiceBus message detected on '${label}' (MessageId=${idToString(message.messageId) ?? ''}, DeliveryCount=${deliveryCountOf(message)})`,
      );
      succeeded = true;
    } catch {
      // logged by the invoker
    } finally {
      stopRenewal();
    }
    try {
      await this.#settle(receiver, () => (succeeded ? receiver.completeMessage(message) : receiver.abandonMessage(message)));
    } catch (error) {
      this.#invoker.hostLog(
        `[Warning] Could not ${succeeded ? 'complete' : 'abandon'} message ${idToString(message.messageId) ?? ''} of '${fn.name}': ${describeError(error)}`,
      );
    }
  }

  #startBatchLoop(fn: LoadedFunction, label: string, receiver: ServiceBusReceiver): Listener {
    const abort = new AbortController();
    const loop = (async () => {
      while (!abort.signal.aborted && !this.#stopping) {
        let messages: ServiceBusReceivedMessage[];
        try {
          messages = await receiver.receiveMessages(this.#config.maxMessageBatchSize, {
            maxWaitTimeInMs: Math.max(this.#config.maxBatchWaitTimeMs, 100),
            abortSignal: abort.signal,
          });
        } catch (error) {
          if (abort.signal.aborted || this.#stopping) return;
          this.#receiverError(fn, label, `receive: ${errorMessage(error)}`);
          await new Promise((resolve) => setTimeout(resolve, 1000));
          continue;
        }
        if (messages.length === 0) continue;
        if (this.#stopping) {
          await Promise.all(messages.map((m) => receiver.abandonMessage(m).catch(() => undefined)));
          return;
        }
        await this.#handleBatch(fn, label, receiver, messages);
      }
    })();
    return {
      fn,
      entity: label,
      receiver,
      close: async () => {
        abort.abort();
        await loop;
      },
    };
  }

  async #handleBatch(fn: LoadedFunction, label: string, receiver: ServiceBusReceiver, messages: ServiceBusReceivedMessage[]): Promise<void> {
    const metadata = messages.map(messageMetadata);
    const keys = new Set(metadata.flatMap((m) => Object.keys(m)));
    const triggerMetadata: Record<string, RpcTypedData> = {};
    for (const key of keys) triggerMetadata[`${key}Array`] = toTypedData(metadata.map((m) => m[key] ?? null));
    triggerMetadata.sys = sysMetadata(fn);
    let succeeded = false;
    const stopRenewal = this.#renewLocks(fn, receiver, messages);
    try {
      await this.#invoker.invoke(
        fn,
        {
          inputData: [{ name: fn.triggerName, data: { collectionString: { string: messages.map(bodyText) } } }],
          triggerMetadata,
          traceContext: { traceParent: newTraceParent(), attributes: {} },
        },
        `New ServiceBus messages detected on '${label}' (${messages.length})`,
      );
      succeeded = true;
    } catch {
      // logged by the invoker
    } finally {
      stopRenewal();
    }
    await Promise.all(
      messages.map(async (m) => {
        try {
          if (succeeded) await receiver.completeMessage(m);
          else await receiver.abandonMessage(m);
        } catch (error) {
          this.#invoker.hostLog(`[Warning] Could not settle message ${idToString(m.messageId) ?? ''}: ${describeError(error)}`);
        }
      }),
    );
  }

  /**
   * Keeps the locks of messages being processed, renewing each when about half of its remaining
   * lock time has passed, for at most host.json maxAutoLockRenewalDuration. Returns a stopper.
   */
  #renewLocks(fn: LoadedFunction, receiver: ServiceBusReceiver, messages: ServiceBusReceivedMessage[]): () => void {
    const maxMs = this.#config.maxAutoLockRenewalDurationMs;
    if (maxMs <= 0) return () => undefined;
    const until = Date.now() + maxMs;
    const timers = new Set<NodeJS.Timeout>();
    let stopped = false;
    const schedule = (message: ServiceBusReceivedMessage): void => {
      if (stopped) return;
      const lockedUntil = message.lockedUntilUtc?.getTime();
      if (lockedUntil === undefined) return;
      const now = Date.now();
      if (now >= until) return;
      const delay = Math.max(Math.floor((lockedUntil - now) / 2), 200);
      if (now + delay >= until) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (stopped) return;
        receiver.renewMessageLock(message).then(
          () => schedule(message),
          (error: unknown) => {
            if (!stopped) {
              this.#invoker.hostLog(
                `[Warning] Could not renew the lock of message ${idToString(message.messageId) ?? ''} for '${fn.name}': ${describeError(error)}`,
              );
            }
          },
        );
      }, delay);
      timer.unref();
      timers.add(timer);
    };
    messages.forEach(schedule);
    return () => {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    };
  }

  /** Runs a Service Bus function with a given body, without a broker message (admin API). */
  invokeWithBody(fn: LoadedFunction, body: string | undefined): Promise<unknown> {
    const now = new Date();
    const triggerMetadata: Record<string, RpcTypedData> = {
      MessageId: { string: randomUUID().replace(/-/g, '') },
      DeliveryCount: { int: 1 },
      EnqueuedTimeUtc: { string: now.toISOString() },
      ApplicationProperties: { json: '{}' },
      sys: sysMetadata(fn),
    };
    const data: RpcTypedData = fn.trigger.cardinality === 'many' ? { collectionString: { string: [body ?? ''] } } : { string: body ?? '' };
    return this.#invoker.invoke(
      fn,
      { inputData: [{ name: fn.triggerName, data }], triggerMetadata, traceContext: { traceParent: newTraceParent(), attributes: {} } },
      'This function was programmatically called via the host APIs.',
    );
  }

  /** Sends what the handler set on its Service Bus output bindings (one message per array item). */
  async sendOutputs(fn: LoadedFunction, response: RpcInvocationResponse, log: (line: string) => void): Promise<void> {
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      if (binding.direction !== 'out' || String(binding.type).toLowerCase() !== 'servicebus') continue;
      const data = name === '$return' ? response.returnValue : response.outputData?.find((o) => o.name === name)?.data;
      const value = fromTypedData(data);
      if (value === undefined || value === null) continue;
      const items = Array.isArray(value) ? value : [value];
      if (items.length === 0) continue;
      const { entity, connectionString } = this.describeOutput(fn, name);
      const sender = this.#sender(connectionString, entity);
      let batch: ServiceBusMessageBatch = await sender.createMessageBatch();
      for (const item of items) {
        const message = toOutgoingMessage(item);
        if (!batch.tryAddMessage(message)) {
          if (batch.count === 0) throw new Error(`A message for '${entity}' is too large to send`);
          await sender.sendMessages(batch);
          batch = await sender.createMessageBatch();
          if (!batch.tryAddMessage(message)) throw new Error(`A message for '${entity}' is too large to send`);
        }
      }
      if (batch.count > 0) await sender.sendMessages(batch);
      log(`Sent ${items.length} message(s) to '${entity}' (output binding '${name}')`);
    }
  }

  #sender(connectionString: string, entity: string): ServiceBusSender {
    const key = `${connectionString}\u0000${entity}`;
    let sender = this.#senders.get(key);
    if (!sender) {
      sender = this.#client(connectionString).createSender(entity);
      this.#senders.set(key, sender);
    }
    return sender;
  }

  /** Stops taking new messages (messages in flight still settle). */
  async stopReceiving(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled(this.#listeners.map((l) => l.close()));
  }

  /** Closes receivers, senders and clients. Call after in-flight invocations have finished. */
  async close(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled(this.#listeners.map((l) => l.receiver.close()));
    this.#listeners.length = 0;
    await Promise.allSettled([...this.#senders.values()].map((s) => s.close()));
    this.#senders.clear();
    await Promise.allSettled([...this.#clients.values()].map((c) => c.close()));
    this.#clients.clear();
  }
}
