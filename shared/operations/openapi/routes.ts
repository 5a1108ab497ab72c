/**
 * What each HTTP route takes and answers, for the OpenAPI description: one entry per method and
 * route of an `httpFunction` registration, keyed "METHOD route" (the route as registered, without
 * the `api/` prefix). Bodies and queries are the zod schemas the routes validate with; answers are
 * answers.ts's; refusals are problem+json. A test fails when a registered route has no entry here.
 */
import { z } from 'zod';
import { approvalRequestSchema } from '../../dataverse/approvals';
import { readyRequestSchema } from '../../dataverse/backlog';
import { remoteExecutionContextSchema } from '../../dataverse/inbound/remoteExecutionContext';
import { correctionRequestSchema } from '../../dataverse/invoices/corrections';
import { addDetailRequestSchema, confirmRequestSchema, createInvoiceRequestSchema, updateDetailRequestSchema } from '../../dataverse/invoices/requests';
import { postingRequestBodySchema } from '../../finance/posting/requestPosting';
import { errorsQuerySchema } from '../errorList';
import { replayManySchema } from '../replay';
import { errorsQuerySchema as consoleErrorsQuerySchema, invoicesQuerySchema, proposalsQuerySchema, stagingQuerySchema } from '../console/consoleData';
import {
  accountingRepublishAnswerSchema,
  approvalAnswerSchema,
  confirmAnswerSchema,
  correctionAnswerSchema,
  dashboardSchema,
  detailAddSchema,
  detailEditSchema,
  errorsPageSchema,
  healthDetailsSchema,
  healthSchema,
  invoiceViewSchema,
  openApiDocumentSchema,
  postingAnswerSchema,
  previewSchema,
  proposalListSchema,
  proposalViewSchema,
  readyAnswerSchema,
  replayAnswerSchema,
  replayManyAnswerSchema,
  republishAnswerSchema,
  traceSchema,
  webhookAnswerSchema,
} from './answers';

export type HttpVerb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Answer {
  description: string;
  /** JSON (default), HTML, CSS or script. */
  contentType?: 'application/json' | 'text/html' | 'text/css' | 'text/javascript';
  schema?: z.ZodType;
}

export interface RouteDescription {
  summary: string;
  description?: string;
  tag: 'Dataverse' | 'F&O' | 'Operations' | 'Console';
  query?: z.ZodObject;
  body?: { schema: z.ZodType; required: boolean; description?: string };
  /** Successful answers by status. */
  answers: Record<number, Answer>;
  /** Refusals and failures (problem+json) by status, with what they mean here. */
  problems?: Record<number, string>;
}

const BAD = 'malformed input, naming the field';
const UNKNOWN_INVOICE = 'unknown invoice';
const html = (description: string): Answer => ({ description, contentType: 'text/html' });

const proposalsStatusQuery = z.object({ status: z.enum(['Open', 'Posted']).optional() });

export const ROUTES: Readonly<Record<string, RouteDescription>> = {
  // ---- Dataverse side ---------------------------------------------------------------------
  'POST dataverse/approvals': {
    tag: 'Dataverse',
    summary: 'Approve time, expense and material entries into actuals (domain step 1)',
    body: { schema: approvalRequestSchema, required: true },
    answers: { 201: { description: 'the actuals, sent to F&O on queue actuals', schema: approvalAnswerSchema } },
    problems: { 400: BAD, 404: 'unknown contract line', 409: 'an entry cannot be approved' },
  },
  'POST dataverse/actuals/ready': {
    tag: 'Dataverse',
    summary: 'Mark unbilled actuals and milestones ready to invoice, or not ready (domain step 4)',
    body: { schema: readyRequestSchema, required: true },
    answers: { 200: { description: 'each record and whether it changed', schema: readyAnswerSchema } },
    problems: { 400: BAD, 404: 'unknown actual or milestone', 409: 'Adjusted, Unadjustable, on an invoice, or over a not-to-exceed limit' },
  },
  'PUT dataverse/actuals/{actualId}': { tag: 'Dataverse', summary: 'Refused: actuals are immutable', answers: {}, problems: { 405: 'actuals are immutable money facts' } },
  'PATCH dataverse/actuals/{actualId}': { tag: 'Dataverse', summary: 'Refused: actuals are immutable', answers: {}, problems: { 405: 'actuals are immutable money facts' } },
  'DELETE dataverse/actuals/{actualId}': { tag: 'Dataverse', summary: 'Refused: actuals are immutable', answers: {}, problems: { 405: 'actuals are immutable money facts' } },
  'POST dataverse/contracts/{contractId}/invoices': {
    tag: 'Dataverse',
    summary: 'A Draft proforma invoice from every ready actual and milestone of the contract (domain step 5)',
    description: 'Send an Idempotency-Key header to make a resend answer the same invoice.',
    body: { schema: createInvoiceRequestSchema, required: false },
    answers: { 201: { description: 'the invoice with its lines and details', schema: invoiceViewSchema } },
    problems: { 400: BAD, 404: 'unknown contract', 409: 'nothing is ready, or the items are on another invoice' },
  },
  'GET dataverse/invoices/{invoiceId}': {
    tag: 'Dataverse',
    summary: 'A proforma invoice: header, lines, details',
    answers: { 200: { description: 'the invoice', schema: invoiceViewSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE },
  },
  'PUT dataverse/invoices/{invoiceId}': { tag: 'Dataverse', summary: 'Refused: change an invoice through its details', answers: {}, problems: { 405: 'the header is computed from its details' } },
  'PATCH dataverse/invoices/{invoiceId}': { tag: 'Dataverse', summary: 'Refused: change an invoice through its details', answers: {}, problems: { 405: 'the header is computed from its details' } },
  'DELETE dataverse/invoices/{invoiceId}': { tag: 'Dataverse', summary: 'Refused: change an invoice through its details', answers: {}, problems: { 405: 'the header is computed from its details' } },
  'GET dataverse/invoices/{invoiceId}/confirmation-preview': {
    tag: 'Dataverse',
    summary: 'What confirming the invoice would create and change, without writing anything',
    description:
      'Runs the confirmation\'s own plan on what is stored now: every new actual (billed, reversals, adjustments, remainders), every actual and milestone updated, the invoice and lines as they would be, and the proposal header F&O would receive; or every refusal the confirmation would raise.',
    answers: { 200: { description: 'the preview', schema: previewSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE },
  },
  'POST dataverse/invoices/{invoiceId}/details': {
    tag: 'Dataverse',
    summary: 'Add a manual invoice line detail',
    body: { schema: addDetailRequestSchema, required: true },
    answers: { 201: { description: 'the invoice and the detail', schema: detailAddSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE, 409: 'the invoice is not editable' },
  },
  'PATCH dataverse/invoices/{invoiceId}/details/{detailId}': {
    tag: 'Dataverse',
    summary: 'Edit an invoice line detail while Draft or In Review',
    body: { schema: updateDetailRequestSchema, required: true },
    answers: { 200: { description: 'the invoice and the detail', schema: detailEditSchema } },
    problems: { 400: BAD, 404: 'unknown invoice or detail', 409: 'not editable, a class change, or quantity or price of a fixed-price detail' },
  },
  'DELETE dataverse/invoices/{invoiceId}/details/{detailId}': {
    tag: 'Dataverse',
    summary: 'Delete an invoice line detail (its actual goes back to Ready to Invoice)',
    answers: { 200: { description: 'the invoice', schema: invoiceViewSchema } },
    problems: { 400: BAD, 404: 'unknown invoice or detail', 409: 'the invoice is not editable' },
  },
  'GET dataverse/invoices/{invoiceId}/details/{detailId}': { tag: 'Dataverse', summary: 'Refused: read details with the invoice', answers: {}, problems: { 405: 'use GET dataverse/invoices/{invoiceId}' } },
  'PUT dataverse/invoices/{invoiceId}/details/{detailId}': { tag: 'Dataverse', summary: 'Refused: change a detail with PATCH', answers: {}, problems: { 405: 'use PATCH' } },
  'POST dataverse/invoices/{invoiceId}/details/{detailId}': { tag: 'Dataverse', summary: 'Refused: add details with POST .../details', answers: {}, problems: { 405: 'use POST dataverse/invoices/{invoiceId}/details' } },
  'POST dataverse/invoices/{invoiceId}/confirm': {
    tag: 'Dataverse',
    summary: 'Request the confirmation (domain step 6); it runs on queue invoice-confirmations',
    body: { schema: confirmRequestSchema, required: false },
    answers: { 202: { description: 'queued; Location is the trace', schema: confirmAnswerSchema }, 200: { description: 'already Confirmed: nothing sent', schema: confirmAnswerSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE, 409: 'Posted, or the confirmation rules refuse it (naming why)' },
  },
  'POST dataverse/invoices/{invoiceId}/corrections': {
    tag: 'Dataverse',
    summary: 'A corrective Draft of a Confirmed or Posted invoice (domain step 12)',
    body: { schema: correctionRequestSchema, required: false },
    answers: { 201: { description: 'the corrective invoice', schema: correctionAnswerSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE, 409: 'not confirmed, or an open correction exists' },
  },
  'POST dataverse/invoices/{invoiceId}/republish': {
    tag: 'Dataverse',
    summary: "Send a confirmed invoice's proposal header and actuals again (repair)",
    answers: { 202: { description: 'what was sent', schema: republishAnswerSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE, 409: 'the invoice is not confirmed' },
  },
  'POST dataverse/webhook': {
    tag: 'Dataverse',
    summary: "A Dataverse webhook's RemoteExecutionContext, queued as the project's own message",
    body: { schema: remoteExecutionContextSchema, required: true, description: 'the RemoteExecutionContext JSON a Dataverse webhook posts' },
    answers: { 202: { description: 'Queued or Ignored', schema: webhookAnswerSchema } },
    problems: { 400: 'malformed context', 409: 'the context cannot be applied (an unknown currency)' },
  },
  // ---- F&O side ---------------------------------------------------------------------------
  'GET finance/proposals': {
    tag: 'F&O',
    summary: 'Invoice proposals, all or of one status, with expected versus imported counts',
    query: proposalsStatusQuery,
    answers: { 200: { description: 'the proposals', schema: proposalListSchema } },
    problems: { 400: BAD },
  },
  'POST finance/proposals': { tag: 'F&O', summary: 'Refused: proposals come only from confirmed invoices', answers: {}, problems: { 405: 'proposals are never created by hand' } },
  'GET finance/proposals/{proposalId}': {
    tag: 'F&O',
    summary: 'One proposal: header, lines, rows still waiting, corrections',
    answers: { 200: { description: 'the proposal', schema: proposalViewSchema } },
    problems: { 400: BAD, 404: 'unknown proposal' },
  },
  'DELETE finance/proposals/{proposalId}': { tag: 'F&O', summary: 'Refused: proposals are never deleted by hand', answers: {}, problems: { 405: 'proposals are never deleted by hand' } },
  'POST finance/proposals/{proposalId}/post': {
    tag: 'F&O',
    summary: 'Post a complete proposal (domain step 10); it runs on queue proposal-postings',
    body: { schema: postingRequestBodySchema, required: false },
    answers: { 202: { description: 'posting requested', schema: postingAnswerSchema } },
    problems: { 400: BAD, 404: 'unknown proposal', 409: 'incomplete, posted, or a credit proposal whose corrected proposal is not posted' },
  },
  'POST finance/proposals/{proposalId}/republish-accounting': {
    tag: 'F&O',
    summary: "Send a posted proposal's accounting details again (repair)",
    answers: { 202: { description: 'what was sent', schema: accountingRepublishAnswerSchema } },
    problems: { 400: BAD, 404: 'unknown proposal', 409: 'the proposal is not posted' },
  },
  // ---- operations -------------------------------------------------------------------------
  'GET invoices/{invoiceId}/trace': {
    tag: 'Operations',
    summary: "The invoice's journey across both sides and its reconciliation",
    answers: { 200: { description: 'the trace', schema: traceSchema } },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE },
  },
  'GET errors': {
    tag: 'Operations',
    summary: 'The integration error log, a page at a time, filtered in storage',
    query: errorsQuerySchema,
    answers: { 200: { description: 'a page of error rows', schema: errorsPageSchema } },
    problems: { 400: BAD },
  },
  'POST errors/{errorId}/replay': {
    tag: 'Operations',
    summary: 'Send the message an error row kept to its queue again',
    answers: { 202: { description: 'replayed', schema: replayAnswerSchema } },
    problems: { 400: BAD, 404: 'unknown error', 409: 'the row cannot be replayed (naming why)' },
  },
  'POST errors/replay': {
    tag: 'Operations',
    summary: 'Replay the Open rows a filter selects, at most 1,000 a call',
    body: { schema: replayManySchema, required: false },
    answers: { 202: { description: 'replayed and refused rows', schema: replayManyAnswerSchema } },
    problems: { 400: BAD },
  },
  'GET health': {
    tag: 'Operations',
    summary: 'Up or down (for load balancers and uptime probes)',
    answers: { 200: { description: 'healthy', schema: healthSchema }, 503: { description: 'something is down', schema: healthSchema } },
  },
  'GET health/details': {
    tag: 'Operations',
    summary: 'Each dependency probed, how each connection authenticates and where it points, the version',
    answers: { 200: { description: 'healthy', schema: healthDetailsSchema }, 503: { description: 'something is down', schema: healthDetailsSchema } },
  },
  'GET dashboard': { tag: 'Operations', summary: 'Counts at a glance', answers: { 200: { description: 'the counts', schema: dashboardSchema } } },
  'GET openapi.json': { tag: 'Operations', summary: 'This description (OpenAPI 3.1)', answers: { 200: { description: 'the OpenAPI document', schema: openApiDocumentSchema } } },
  // ---- console (pages for people) --------------------------------------------------------------
  'GET console': { tag: 'Console', summary: 'Overview: counts of both sides, errors, the last import run', answers: { 200: html('the overview page') } },
  'GET console/invoices': {
    tag: 'Console',
    summary: 'Invoices: searchable, paged list',
    query: invoicesQuerySchema,
    answers: { 200: html('the invoice list') },
    problems: { 400: BAD },
  },
  'GET console/invoices/{invoiceId}': {
    tag: 'Console',
    summary: "One invoice: lines and details, journey, reconciliation, errors, corrections; a Draft's confirmation preview",
    answers: { 200: html('the invoice page') },
    problems: { 400: BAD, 404: UNKNOWN_INVOICE },
  },
  'GET console/errors': {
    tag: 'Console',
    summary: 'Errors with filters and replay buttons',
    query: consoleErrorsQuerySchema,
    answers: { 200: html('the error log page') },
    problems: { 400: BAD },
  },
  'GET console/staging': { tag: 'Console', summary: 'Staging rows Waiting or in Error, grouped by reason', query: stagingQuerySchema, answers: { 200: html('the staging page') }, problems: { 400: BAD } },
  'GET console/proposals': { tag: 'Console', summary: 'F&O invoice proposals', query: proposalsQuerySchema, answers: { 200: html('the proposals page') }, problems: { 400: BAD } },
  'GET console/backlog': { tag: 'Console', summary: 'The billing backlog ready to invoice', answers: { 200: html('the backlog page') } },
  'GET console/assets/{name}': {
    tag: 'Console',
    summary: "The console's style sheet (console.css) and script (console.js)",
    answers: { 200: { description: 'the asset', contentType: 'text/css' } },
    problems: { 404: 'unknown asset' },
  },
};

/** The catalogue key of a method and route. */
export function routeKey(method: string, route: string): string {
  return `${method.toUpperCase()} ${route}`;
}
