/**
 * The confirmation a Dataverse message on `invoice` asks for, as the project's own
 * `invoice-confirmations` body ({ invoiceId, confirmedOn?, confirmedBy? }), so it is confirmed
 * exactly as that message would be:
 *
 * - an `Update` of invoice whose Target, or post image under it, sets msdyn_projectinvoicestatus
 *   to Confirmed (192350002) asks for it; an Update to any other status, or one that does not
 *   carry the status, asks for nothing (it is logged and left alone);
 * - the action `msdyn_ConfirmInvoice` on invoice asks for it whatever it carries, so it works
 *   even over the size limit: the invoice is PrimaryEntityId;
 * - an Update over the size limit cannot say which status it set: a BusinessError names what is
 *   missing, and nothing is confirmed (docs/dataverse.md);
 * - anything else (another table, another message) is a ValidationError naming it.
 *
 * confirmedOn is OperationCreatedOn (when Dataverse recorded the operation: the same on every
 * redelivery); confirmedBy is the initiating user's id.
 */
import { BusinessError, ValidationError } from '../../core/errors';
import { labelOf } from '../../core/labels';
import { InvoiceStatus } from '../../core/options';
import type { InvoiceConfirmationMessage } from '../../messages';
import {
  initiatingUserOf,
  isSizeLimited,
  mergedAttributes,
  operationCreatedOn,
  targetEntity,
  type DataverseProperties,
  type RemoteExecutionContext,
} from './remoteExecutionContext';
import { flatten } from './values';

export const INVOICE_ENTITY = 'invoice';
export const CONFIRM_INVOICE_ACTION = 'msdyn_ConfirmInvoice';

export type ConfirmationOfContext = { kind: 'confirm'; message: InvoiceConfirmationMessage } | { kind: 'ignore'; reason: string };

function confirmationMessage(context: RemoteExecutionContext, properties: DataverseProperties): InvoiceConfirmationMessage {
  const message: InvoiceConfirmationMessage = { invoiceId: context.PrimaryEntityId };
  const confirmedOn = operationCreatedOn(context);
  if (confirmedOn !== undefined) message.confirmedOn = confirmedOn;
  const user = initiatingUserOf(context, properties);
  if (user !== undefined) message.confirmedBy = user;
  return message;
}

/** What a context on invoice asks of the confirmation (pure). */
export function confirmationOfContext(context: RemoteExecutionContext, properties: DataverseProperties, where: string): ConfirmationOfContext {
  const about = `${context.MessageName} of ${context.PrimaryEntityName} ${context.PrimaryEntityId}`;
  if (context.PrimaryEntityName !== INVOICE_ENTITY) {
    throw new ValidationError(
      `${where} takes Update (to Confirmed) and ${CONFIRM_INVOICE_ACTION} of ${INVOICE_ENTITY}; this message is ${about}. Register that step on the queue that takes it (docs/dataverse.md).`,
      context.PrimaryEntityId,
    );
  }
  if (context.MessageName.toLowerCase() === CONFIRM_INVOICE_ACTION.toLowerCase()) {
    return { kind: 'confirm', message: confirmationMessage(context, properties) };
  }
  if (context.MessageName !== 'Update') {
    throw new ValidationError(`${where} takes Update (to Confirmed) and ${CONFIRM_INVOICE_ACTION} of ${INVOICE_ENTITY}; this message is ${about}.`, context.PrimaryEntityId);
  }
  if (isSizeLimited(context, properties)) {
    throw new BusinessError(
      `Dataverse ${about} exceeded the service endpoint's size limit and arrived without its Target and post image, so the msdyn_projectinvoicestatus it set cannot be read; nothing was confirmed. Confirm the invoice with the action ${CONFIRM_INVOICE_ACTION} or POST /api/dataverse/invoices/${context.PrimaryEntityId}/confirm, and register the Update step without images (docs/dataverse.md).`,
      { reference: context.PrimaryEntityId },
    );
  }
  targetEntity(context); // a Target that is not an Entity is malformed
  const raw = mergedAttributes(context).get('msdyn_projectinvoicestatus');
  if (raw === undefined) return { kind: 'ignore', reason: `${about} does not set msdyn_projectinvoicestatus` };
  const status = flatten('option', raw);
  if (!status.ok) {
    throw new ValidationError(`Dataverse ${about}: msdyn_projectinvoicestatus: ${status.problem}.`, context.PrimaryEntityId);
  }
  if (status.value !== InvoiceStatus.Confirmed) {
    const label = typeof status.value === 'number' ? labelOf.invoiceStatus(status.value) : String(status.value);
    return { kind: 'ignore', reason: `${about} sets msdyn_projectinvoicestatus to ${label} (${String(status.value)}), not Confirmed` };
  }
  return { kind: 'confirm', message: confirmationMessage(context, properties) };
}
