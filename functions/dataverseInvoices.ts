import type { CompositionRoot } from '../shared/compositionRoot';
import { correctionRequestSchema } from '../shared/dataverse/invoices/corrections';
import { addDetailRequestSchema, confirmRequestSchema, createInvoiceRequestSchema, updateDetailRequestSchema } from '../shared/dataverse/invoices/requests';
import { guidParam, httpFunction, idempotencyKeyOf, json, problem, readJson, readOptionalJson } from '../shared/triggers/http';

export const CREATE_PROFORMA_INVOICE = 'createProformaInvoice';
export const GET_PROFORMA_INVOICE = 'getProformaInvoice';
export const UPDATE_INVOICE_LINE_DETAIL = 'updateInvoiceLineDetail';
export const DELETE_INVOICE_LINE_DETAIL = 'deleteInvoiceLineDetail';
export const ADD_INVOICE_LINE_DETAIL = 'addInvoiceLineDetail';
export const REQUEST_INVOICE_CONFIRMATION = 'requestInvoiceConfirmation';
export const CREATE_CORRECTIVE_INVOICE = 'createCorrectiveInvoice';
export const REFUSE_PROFORMA_INVOICE_CHANGE = 'refuseProformaInvoiceChange';
export const REFUSE_INVOICE_LINE_DETAIL_METHOD = 'refuseInvoiceLineDetailMethod';

/** The proforma invoice routes of the Dataverse side (domain step 5, and the confirmation request of step 6). */
export function registerDataverseInvoices(root: CompositionRoot): void {
  const log = (name: string, invocationId: string, line: string) => `[${name}] invocation=${invocationId} ${line}`;

  httpFunction(CREATE_PROFORMA_INVOICE, {
    route: 'dataverse/contracts/{contractId}/invoices',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const contractId = guidParam(request, 'contractId');
      const body = await readOptionalJson(request, createInvoiceRequestSchema);
      const view = await root.dataverse.createInvoice(contractId, body, idempotencyKeyOf(request));
      context.log(log(CREATE_PROFORMA_INVOICE, context.invocationId, `invoice ${view.invoice.invoicenumber} (${view.invoice.invoiceid}) for contract ${contractId}: ${view.details.length} detail(s), total ${view.invoice.totalamount}`));
      return json(201, view, { location: `/api/dataverse/invoices/${view.invoice.invoiceid}` });
    },
  });

  httpFunction(CREATE_CORRECTIVE_INVOICE, {
    route: 'dataverse/invoices/{invoiceId}/corrections',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const invoiceId = guidParam(request, 'invoiceId');
      const body = await readOptionalJson(request, correctionRequestSchema);
      const correction = await root.dataverse.createCorrection(invoiceId, body);
      context.log(
        log(CREATE_CORRECTIVE_INVOICE, context.invocationId, `corrective invoice ${correction.invoicenumber} (${correction.invoiceId}) of ${invoiceId}: ${correction.details.length} billed line(s) credited in full, total ${correction.invoice.totalamount}`),
      );
      return json(201, correction, { location: `/api/dataverse/invoices/${correction.invoiceId}` });
    },
  });

  httpFunction(GET_PROFORMA_INVOICE, {
    route: 'dataverse/invoices/{invoiceId}',
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request) => json(200, await root.dataverse.getInvoice(guidParam(request, 'invoiceId'))),
  });

  httpFunction(UPDATE_INVOICE_LINE_DETAIL, {
    route: 'dataverse/invoices/{invoiceId}/details/{detailId}',
    methods: ['PATCH'],
    authLevel: 'function',
    handler: async (request, context) => {
      const invoiceId = guidParam(request, 'invoiceId');
      const detailId = guidParam(request, 'detailId');
      const body = await readJson(request, updateDetailRequestSchema);
      const view = await root.dataverse.updateDetail(invoiceId, detailId, body);
      context.log(log(UPDATE_INVOICE_LINE_DETAIL, context.invocationId, `invoice ${view.invoice.invoicenumber} detail ${detailId}: amount ${view.detail.msdyn_amount}, invoice total ${view.invoice.totalamount}`));
      return json(200, view);
    },
  });

  httpFunction(DELETE_INVOICE_LINE_DETAIL, {
    route: 'dataverse/invoices/{invoiceId}/details/{detailId}',
    methods: ['DELETE'],
    authLevel: 'function',
    handler: async (request, context) => {
      const invoiceId = guidParam(request, 'invoiceId');
      const detailId = guidParam(request, 'detailId');
      const view = await root.dataverse.deleteDetail(invoiceId, detailId);
      context.log(log(DELETE_INVOICE_LINE_DETAIL, context.invocationId, `invoice ${view.invoice.invoicenumber} detail ${detailId} deleted, invoice total ${view.invoice.totalamount}`));
      return json(200, view);
    },
  });

  httpFunction(ADD_INVOICE_LINE_DETAIL, {
    route: 'dataverse/invoices/{invoiceId}/details',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const invoiceId = guidParam(request, 'invoiceId');
      const body = await readJson(request, addDetailRequestSchema);
      const view = await root.dataverse.addDetail(invoiceId, body);
      context.log(log(ADD_INVOICE_LINE_DETAIL, context.invocationId, `invoice ${view.invoice.invoicenumber} manual detail ${view.detail.msdyn_invoicelinetransactionid} ${view.created ? 'added' : 'already there'}`));
      return json(201, view, { location: `/api/dataverse/invoices/${invoiceId}` });
    },
  });

  httpFunction(REQUEST_INVOICE_CONFIRMATION, {
    route: 'dataverse/invoices/{invoiceId}/confirm',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const invoiceId = guidParam(request, 'invoiceId');
      const body = await readOptionalJson(request, confirmRequestSchema);
      const result = await root.dataverse.requestConfirmation(invoiceId, body);
      const location = `/api/invoices/${invoiceId}/trace`;
      context.log(log(REQUEST_INVOICE_CONFIRMATION, context.invocationId, `invoice ${result.invoicenumber}: ${result.status}${result.messageId ? ` messageId=${result.messageId}` : ''}`));
      return json(result.status === 'Queued' ? 202 : 200, { ...result, trace: location }, { location });
    },
  });

  // Methods the resources do not support answer 405 with the reason and the Allow header.
  httpFunction(REFUSE_PROFORMA_INVOICE_CHANGE, {
    route: 'dataverse/invoices/{invoiceId}',
    methods: ['PUT', 'PATCH', 'DELETE'],
    authLevel: 'function',
    handler: async (request) =>
      problem(
        405,
        `${request.method} is not supported on a proforma invoice: its header is computed from its details. Change the invoice through its details (POST /details, PATCH or DELETE /details/{detailId}); deleting every detail returns all its actuals to the backlog.`,
        {},
        { Allow: 'GET' },
      ),
  });
  httpFunction(REFUSE_INVOICE_LINE_DETAIL_METHOD, {
    route: 'dataverse/invoices/{invoiceId}/details/{detailId}',
    methods: ['GET', 'PUT', 'POST'],
    authLevel: 'function',
    handler: async (request) =>
      problem(
        405,
        `${request.method} is not supported on an invoice line detail: change it with PATCH (only the fields you send), remove it with DELETE, or read it with GET /api/dataverse/invoices/{invoiceId}.`,
        {},
        { Allow: 'PATCH, DELETE' },
      ),
  });
}
