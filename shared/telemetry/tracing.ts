/**
 * Spans, over the OpenTelemetry API only (a no-op until a provider is registered: shared/telemetry/
 * setup.ts in Azure or with TelemetryConsole, a test's in-memory exporter in tests). One span per
 * function invocation (the trigger adapters), per storage call (the storage kit) and per Service
 * Bus send (the publisher). Spans carry the business keys that let one invoice be followed across
 * every hop: `invoiceId`, `proposalId`, `messageId`, `deliveryCount`. The W3C trace context of a
 * send travels on each message as the application property `Diagnostic-Id` (as the Azure SDKs
 * and the Functions host use it), and the invocation that takes the message links back to it.
 */
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Link, type Span, type SpanContext } from '@opentelemetry/api';

export { SpanKind };
export type { Span };

/** The instrumentation scope of every span and metric of the app. */
export const TELEMETRY_SCOPE = 'project-invoicing-integration';

/** The message application property that carries the sender's trace context (W3C traceparent format). */
export const DIAGNOSTIC_ID = 'Diagnostic-Id';

export function tracer() {
  return trace.getTracer(TELEMETRY_SCOPE);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C traceparent as a span context (undefined when it is not one, or all zeros). */
export function spanContextOf(traceParent: unknown): SpanContext | undefined {
  if (typeof traceParent !== 'string') return undefined;
  const m = TRACEPARENT.exec(traceParent.trim().toLowerCase());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: Number.parseInt(m[4]!, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** The W3C traceparent of a span (what goes into a message's Diagnostic-Id). */
export function traceParentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** The context an invocation starts in: the host's trace context when it sends one, else a new trace. */
export function contextOfTraceParent(traceParent: unknown): Context {
  const parent = spanContextOf(traceParent);
  return parent ? trace.setSpanContext(context.active(), parent) : context.active();
}

// ---- business keys ------------------------------------------------------------------------------

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Most distinct values of one key a span lists. */
const MAX_KEYS = 20;

/** The invoices and proposals a span touched (invoice ids are GUIDs, proposal ids the invoice numbers). */
export class BusinessKeys {
  readonly invoiceIds = new Set<string>();
  readonly proposalIds = new Set<string>();

  addInvoice(value: unknown): void {
    if (typeof value === 'string' && GUID.test(value) && this.invoiceIds.size < MAX_KEYS) this.invoiceIds.add(value.toLowerCase());
  }

  addProposal(value: unknown): void {
    if (typeof value === 'string' && value.length > 0 && value.length <= 100 && this.proposalIds.size < MAX_KEYS) this.proposalIds.add(value);
  }

  merge(other: BusinessKeys): void {
    for (const id of other.invoiceIds) this.addInvoice(id);
    for (const id of other.proposalIds) this.addProposal(id);
  }

  get empty(): boolean {
    return this.invoiceIds.size === 0 && this.proposalIds.size === 0;
  }

  /** `invoiceId` / `proposalId` when there is one, and the lists `invoiceIds` / `proposalIds` whenever there is any. */
  attributes(): Attributes {
    const out: Attributes = {};
    const invoices = [...this.invoiceIds].sort();
    const proposals = [...this.proposalIds].sort();
    if (invoices.length === 1) out.invoiceId = invoices[0]!;
    if (invoices.length > 0) out.invoiceIds = invoices;
    if (proposals.length === 1) out.proposalId = proposals[0]!;
    if (proposals.length > 0) out.proposalIds = proposals;
    return out;
  }
}

/** Columns and fields that hold an invoice's id or a proposal's id (the contract's names, both sides and the messages). */
const INVOICE_FIELDS = new Set(['invoiceId', 'InvoiceId', 'invoiceid', 'msdyn_invoice', 'correctedInvoiceId']);
const PROPOSAL_FIELDS = new Set(['proposalId', 'ProposalId', 'InvoiceProposalId', 'correctedProposalId']);

/** The business keys of a value (a message body, a route's parameters): its fields, nested a few levels. */
export function keysOfValue(value: unknown, keys = new BusinessKeys(), depth = 0): BusinessKeys {
  if (depth > 4 || value === null || typeof value !== 'object') return keys;
  if (Array.isArray(value)) {
    for (const item of value.slice(0, 200)) keysOfValue(item, keys, depth + 1);
    return keys;
  }
  for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
    if (INVOICE_FIELDS.has(field)) keys.addInvoice(v);
    else if (PROPOSAL_FIELDS.has(field)) keys.addProposal(v);
    else if (typeof v === 'object') keysOfValue(v, keys, depth + 1);
  }
  return keys;
}

const KEY_IN_JSON = /"(invoiceId|InvoiceId|invoiceid|msdyn_invoice|correctedInvoiceId|proposalId|ProposalId|InvoiceProposalId|correctedProposalId)"\s*:\s*"([^"\\]{1,100})"/g;

/** The business keys named in JSON text (a storage request or response body, a batch of them). */
export function keysOfJsonText(text: string, keys = new BusinessKeys()): BusinessKeys {
  for (const m of text.matchAll(KEY_IN_JSON)) {
    if (INVOICE_FIELDS.has(m[1]!)) keys.addInvoice(m[2]);
    else keys.addProposal(m[2]);
  }
  return keys;
}

// ---- spans ---------------------------------------------------------------------------------------

/** Business keys found below an invocation (storage rows read and written) are added to its span as well. */
const INVOCATION_KEYS = Symbol.for('project-invoicing-integration.invocationKeys');

function invocationKeysOf(ctx: Context): BusinessKeys | undefined {
  return ctx.getValue(INVOCATION_KEYS) as BusinessKeys | undefined;
}

/** Report keys found by a call below the current invocation to that invocation's span. */
export function reportKeys(keys: BusinessKeys): void {
  if (!keys.empty) invocationKeysOf(context.active())?.merge(keys);
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: Link[];
  /** The context to start in (default: the active one). */
  parent?: Context;
  /** An invocation's span: business keys found below it are added to it when it ends. */
  invocation?: boolean;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Run `fn` in a new span (active for everything it awaits); the span ends when `fn` settles and
 * records a thrown error. `fn` may set attributes on it, or mark an outcome.
 */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}), ...(options.links ? { links: options.links } : {}) }, parent);
  const below = options.invocation && span.isRecording() ? new BusinessKeys() : undefined;
  let ctx = trace.setSpan(parent, span);
  if (below) ctx = ctx.setValue(INVOCATION_KEYS, below);
  try {
    return await context.with(ctx, () => fn(span));
  } catch (error) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR, message: describe(error) });
    throw error;
  } finally {
    if (below && !below.empty) span.setAttributes(below.attributes());
    span.end();
  }
}

/** Mark a span failed without an exception (a 5xx answer, a message recorded as an error). */
export function markFailed(span: Span, message: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** A link to the span that sent a message (its Diagnostic-Id), when the message carries one. */
export function linkToSender(diagnosticId: unknown): Link[] {
  const sender = spanContextOf(diagnosticId);
  return sender ? [{ context: sender, attributes: { 'link.kind': 'sender' } }] : [];
}
