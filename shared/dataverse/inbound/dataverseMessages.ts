/**
 * The Dataverse side's inbound edge: the bodies of `actuals` and `invoice-confirmations` may be the
 * project's own (contract.md) or Dataverse's RemoteExecutionContext (a service endpoint, message
 * format JSON), and `POST api/dataverse/webhook` takes the same context. The body tells which: an
 * object with MessageName or PrimaryEntityName is a context, anything else the project's own
 * format, unchanged. Either way the same use cases run (syncActuals, confirmProformaInvoice):
 *
 * - `actualsToSync`: the records to sync, the own message's as they are, a context's one actual
 *   (actualOfContext.ts);
 * - `confirmationToRun`: the own confirmation body as it is, or the one a context asks for
 *   (confirmationOfContext.ts), or nothing when the context asks for none;
 * - `receiveWebhook`: the context as the project's own message, published to the queue that
 *   takes it with an id derived from the context, so the queue's consumer does the rest exactly as
 *   for any other message (and a webhook retried by Dataverse publishes the same message again).
 */
import { z } from 'zod';
import { deterministicGuid } from '../../core/ids';
import { ValidationError } from '../../core/errors';
import { actualsMessageEnvelope, invoiceConfirmationMessage, Queues, type InvoiceConfirmationMessage, type Publisher, type QueueName } from '../../messages';
import { actualOfContext, ACTUAL_ENTITY, type InboundStore } from './actualOfContext';
import { confirmationOfContext, CONFIRM_INVOICE_ACTION, INVOICE_ENTITY } from './confirmationOfContext';
import {
  crossCheck,
  describeContext,
  looksLikeRemoteExecutionContext,
  remoteExecutionContextSchema,
  type DataverseProperties,
  type RemoteExecutionContext,
} from './remoteExecutionContext';

/** A queue body in either format. */
export type InboundBody<T> = { format: 'project'; body: T } | { format: 'dataverse'; context: RemoteExecutionContext };

/**
 * The schema of a queue that takes the project's own body (`own`) or a RemoteExecutionContext.
 * A body that fails is reported with the issues of the format it claims to be.
 */
export function projectOrDataverse<S extends z.ZodType>(own: S) {
  return z.unknown().transform((value, ctx): InboundBody<z.output<S>> => {
    if (looksLikeRemoteExecutionContext(value)) {
      const parsed = remoteExecutionContextSchema.safeParse(value);
      if (parsed.success) return { format: 'dataverse', context: parsed.data };
      ctx.addIssue({ code: 'custom', message: 'the body is a Dataverse RemoteExecutionContext (it has MessageName or PrimaryEntityName) with bad or missing attributes', path: [] });
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    const parsed = own.safeParse(value);
    if (parsed.success) return { format: 'project', body: parsed.data };
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  });
}

/** The body of queue `actuals`: `{ actuals: [...] }` or a RemoteExecutionContext. */
export const actualsQueueBody = projectOrDataverse(actualsMessageEnvelope);

/** The body of queue `invoice-confirmations`: `{ invoiceId, confirmedOn?, confirmedBy? }` or a RemoteExecutionContext. */
export const invoiceConfirmationsQueueBody = projectOrDataverse(invoiceConfirmationMessage);

/** The business key of a body for the error log: the own body's, or the context's PrimaryEntityId. */
export function referenceOfInboundBody<T>(body: InboundBody<T>, own: (body: T) => string | undefined = () => undefined): string | undefined {
  return body.format === 'dataverse' ? body.context.PrimaryEntityId : own(body.body);
}

export interface InboundMeta {
  /** What the envelope says (application properties of a queue message, headers of a webhook). */
  properties: DataverseProperties;
  log?: (line: string) => void;
}

function envelopeChecked(context: RemoteExecutionContext, meta: InboundMeta): void {
  const note = crossCheck(context, meta.properties);
  if (note !== undefined) meta.log?.(`${describeContext(context, meta.properties)}: ${note}`);
}

/** The records an `actuals` body asks to sync: the own message's, or the one actual of a context. */
export async function actualsToSync(deps: { dataverse: InboundStore }, body: InboundBody<{ actuals: unknown[] }>, meta: InboundMeta): Promise<readonly unknown[]> {
  if (body.format === 'project') return body.body.actuals;
  envelopeChecked(body.context, meta);
  return [await actualOfContext(deps.dataverse, body.context, { properties: meta.properties, where: `The ${Queues.actuals} queue`, log: meta.log })];
}

/** The confirmation an `invoice-confirmations` body asks for; undefined when a context asks for none (logged). */
export function confirmationToRun(body: InboundBody<InvoiceConfirmationMessage>, meta: InboundMeta): InvoiceConfirmationMessage | undefined {
  if (body.format === 'project') return body.body;
  envelopeChecked(body.context, meta);
  const asked = confirmationOfContext(body.context, meta.properties, `The ${Queues.invoiceConfirmations} queue`);
  const about = describeContext(body.context, meta.properties);
  if (asked.kind === 'ignore') {
    meta.log?.(`${about}: no confirmation asked (${asked.reason}); nothing to do`);
    return undefined;
  }
  meta.log?.(`${about}: confirmation of invoice ${asked.message.invoiceId} asked`);
  return asked.message;
}

export type WebhookOutcome =
  | { status: 'Queued'; queue: QueueName; messageId: string; reference: string; detail: string }
  | { status: 'Ignored'; reference: string; detail: string };

/** The id of the message a webhook call publishes: the same for the same Dataverse operation, so a retried call is one message. */
export function webhookMessageId(context: RemoteExecutionContext): string {
  return deterministicGuid(
    'dataverse-webhook',
    context.MessageName,
    context.PrimaryEntityName,
    context.PrimaryEntityId,
    context.OperationId ?? '',
    context.RequestId ?? '',
    context.CorrelationId ?? '',
    context.OperationCreatedOn ?? '',
  );
}

/**
 * `POST api/dataverse/webhook`: route a context like the queues do. A Create or Update of
 * msdyn_actual becomes an `actuals` message with its actual; an Update of invoice to Confirmed or
 * msdyn_ConfirmInvoice an `invoice-confirmations` message; an Update of invoice that asks for no
 * confirmation is answered Ignored. Anything else is a ValidationError (the webhook answers 400).
 */
export async function receiveWebhook(deps: { dataverse: InboundStore; publisher: Publisher }, context: RemoteExecutionContext, meta: InboundMeta): Promise<WebhookOutcome> {
  envelopeChecked(context, meta);
  const messageId = webhookMessageId(context);
  const correlation = context.CorrelationId ?? undefined;
  if (context.PrimaryEntityName === ACTUAL_ENTITY) {
    const actual = await actualOfContext(deps.dataverse, context, { properties: meta.properties, where: 'The Dataverse webhook', log: meta.log });
    await deps.publisher.publish(Queues.actuals, [{ messageId, body: { actuals: [actual] }, subject: context.MessageName, ...(correlation ? { correlationId: correlation } : {}) }]);
    return { status: 'Queued', queue: Queues.actuals, messageId, reference: actual.msdyn_actualid, detail: `actual ${actual.msdyn_actualid} queued on ${Queues.actuals} to be synced to F&O actuals staging` };
  }
  if (context.PrimaryEntityName === INVOICE_ENTITY) {
    const asked = confirmationOfContext(context, meta.properties, 'The Dataverse webhook');
    const about = describeContext(context, meta.properties);
    if (asked.kind === 'ignore') {
      meta.log?.(`${about}: no confirmation asked (${asked.reason})`);
      return { status: 'Ignored', reference: context.PrimaryEntityId, detail: `${asked.reason}; nothing to do` };
    }
    await deps.publisher.publish(Queues.invoiceConfirmations, [{ messageId, body: asked.message, subject: 'confirm', correlationId: asked.message.invoiceId }]);
    meta.log?.(`${about}: confirmation of invoice ${asked.message.invoiceId} queued as message ${messageId}`);
    return {
      status: 'Queued',
      queue: Queues.invoiceConfirmations,
      messageId,
      reference: asked.message.invoiceId,
      detail: `confirmation of invoice ${asked.message.invoiceId} queued on ${Queues.invoiceConfirmations}`,
    };
  }
  throw new ValidationError(
    `The Dataverse webhook takes Create and Update of ${ACTUAL_ENTITY}, and Update (to Confirmed) and ${CONFIRM_INVOICE_ACTION} of ${INVOICE_ENTITY}; this message is ${context.MessageName} of ${context.PrimaryEntityName} ${context.PrimaryEntityId}.`,
    context.PrimaryEntityId,
  );
}
