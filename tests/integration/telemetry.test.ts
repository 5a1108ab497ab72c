/**
 * Telemetry (issue 18) with an in-memory span exporter and metric reader registered before the
 * app loads, as Application Insights' exporter would be: one invoice's confirmation, sync, import
 * and posting, driven through the real routes, queues and the import timer of the local host,
 * produce spans that all carry that invoice's id, and each function that takes a message links
 * back to the span that sent it (the message's Diagnostic-Id), in the same trace. Storage and
 * Service Bus calls are spans under the invocations; the metrics count messages, errors by
 * category, import rows by outcome and the import's duration.
 */
import { SpanKind, type Link } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader, MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { metrics } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicGuid } from '../../shared/core/ids';
import { extend } from '../../shared/core/money';
import { InvoiceStatus, TransactionType } from '../../shared/core/options';
import type { Actual } from '../../shared/dataverse/records';
import { isComplete } from '../../shared/finance/rules/completeness';
import { Queues } from '../../shared/messages';
import { seedActuals, seedContract, seedDraftInvoice } from '../kit/fixtures/dataverse';
import { startSystem, waitFor, type TestSystem } from '../kit/system';

const spans = new InMemorySpanExporter();
const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [metricReader] });

let system: TestSystem;
const KEY = 'telemetry-test-key';

beforeAll(async () => {
  // Registered before the app loads, as the Azure Monitor exporter is by shared/telemetry/setup.ts.
  tracerProvider.register();
  metrics.setGlobalMeterProvider(meterProvider);
  system = await startSystem({ functionKey: KEY });
  await system.finance.exchangeRates.upsertMany([{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.100000', ValidFrom: '2024-01-01' }]);
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
});

const finished = () => spans.getFinishedSpans();
const named = (name: string) => finished().filter((s) => s.name === name);
const id = (s: ReadableSpan) => s.spanContext().spanId;
const traceOf = (s: ReadableSpan) => s.spanContext().traceId;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const bySpanId = () => new Map(finished().map((s) => [id(s), s] as const));

/** Whether a span names the invoice (one invoice: invoiceId; several: invoiceIds). */
function namesInvoice(s: ReadableSpan, invoiceId: string): boolean {
  const one = s.attributes.invoiceId;
  const many = s.attributes.invoiceIds;
  return one === invoiceId || (Array.isArray(many) && (many as unknown[]).includes(invoiceId));
}

/** Run the import timer through the host's admin API, as an operator would, and wait for the run's span. */
async function runImportTimer(): Promise<ReadableSpan> {
  const before = named('importFromStaging run').length;
  const response = await fetch(`${system.host.baseUrl}/admin/functions/importFromStaging`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(response.status).toBe(202);
  return waitFor('the import run to finish', () => named('importFromStaging run')[before], 60_000);
}

/** The span a consumer's link points to (the send of its message). */
function senderOf(consumer: ReadableSpan): ReadableSpan {
  const link = consumer.links.find((l: Link) => l.attributes?.['link.kind'] === 'sender');
  expect(link, `${consumer.name} links to the span that sent its message`).toBeDefined();
  const sender = bySpanId().get(link!.context.spanId);
  expect(sender, `the linked span of ${consumer.name} was recorded`).toBeDefined();
  return sender!;
}

/** Walk up a span's parents (within what was recorded) to the top. */
function ancestors(span: ReadableSpan): ReadableSpan[] {
  const all = bySpanId();
  const out: ReadableSpan[] = [];
  for (let p = parentOf(span) ? all.get(parentOf(span)!) : undefined; p; p = parentOf(p) ? all.get(parentOf(p)!) : undefined) out.push(p);
  return out;
}

async function collectMetrics(): Promise<ResourceMetrics> {
  await metricReader.forceFlush();
  const all = metricExporter.getMetrics();
  return all[all.length - 1]!;
}

function points(rm: ResourceMetrics, name: string): { attributes: Record<string, unknown>; value: unknown }[] {
  return rm.scopeMetrics.flatMap((s) => s.metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints.map((p) => ({ attributes: p.attributes as Record<string, unknown>, value: p.value }))));
}

describe('one invoice followed across every hop', () => {
  let invoiceId: string;
  let proposalId: string;

  it('confirms, syncs, imports and posts one invoice through the routes, queues and the import timer', { timeout: 240_000 }, async () => {
    const fx = await seedContract(system.dataverse, { key: 'telemetry', currency: 'EUR' });
    const unbilled = await seedActuals(system.dataverse, fx, [{ quantity: '8', price: '150.00' }, { quantity: '2', price: '150.00' }]);
    const inv = await seedDraftInvoice(system.dataverse, fx, { actuals: unbilled });
    invoiceId = inv.invoice.invoiceid;
    proposalId = inv.invoice.invoicenumber;

    // The approved work reaches F&O and is posted by a first import run.
    const costs: Actual[] = unbilled.map((a) => {
      const { msdyn_billingstatus: _status, ...rest } = a;
      return { ...rest, msdyn_actualid: deterministicGuid('telemetry-cost', a.msdyn_actualid), msdyn_transactiontypecode: TransactionType.Cost, msdyn_price: '90.00', msdyn_amount: extend(a.msdyn_quantity, '90.00') };
    });
    await system.dataverse.actuals.upsertMany(costs);
    const current = [...(await system.dataverse.actualsOfContract(fx.contract.salesorderid)).values()].map(({ etag: _etag, ...a }) => a);
    await system.send(Queues.actuals, { actuals: [...current, ...costs] }, { messageId: 'telemetry-approved-actuals' });
    await system.drain();
    await runImportTimer();
    await system.drain();

    // The project manager confirms: the route queues the confirmation, the functions take it from there.
    const confirm = await system.http('POST', `dataverse/invoices/${invoiceId}/confirm`, {});
    expect(confirm.status).toBe(202);
    await waitFor('the proposal header', () => system.finance.proposals.get(proposalId, proposalId), 60_000);
    await system.drain();

    // F&O imports the billed actuals as proposal lines.
    await runImportTimer();
    await waitFor('the proposal to be complete', async () => {
      const p = await system.finance.proposals.get(proposalId, proposalId);
      return p && isComplete(p) ? p : undefined;
    }, 60_000);

    // The accountant posts; the accounting details come back and the invoice becomes Posted.
    const post = await system.http('POST', `finance/proposals/${proposalId}/post`);
    expect(post.status).toBe(202);
    await waitFor('the Dataverse invoice to be Posted', async () => {
      const i = await system.dataverse.invoices.get(invoiceId, invoiceId);
      return i?.msdyn_projectinvoicestatus === InvoiceStatus.Posted ? i : undefined;
    }, 60_000);
    await system.drain();
    // A malformed posting command: recorded as a Validation error and completed.
    await system.send(Queues.proposalPostings, { postingDate: 'soon' }, { messageId: 'telemetry-bad-posting' });
    await waitFor('the bad posting to be recorded', async () => (await system.errorLog.list({ source: 'postInvoiceProposal' })).find((r) => r.MessageId === 'telemetry-bad-posting'), 60_000);
    // Its error row is written before the invocation ends and counts the message: wait for the count as well.
    await waitFor(
      'the bad posting to be counted',
      async () => points(await collectMetrics(), 'integration.messages.handled').find((p) => p.attributes.function === 'postInvoiceProposal' && p.attributes.outcome === 'recorded'),
      60_000,
    );
  });

  it('gives every hop a span carrying the invoice id: confirmation, proposal sync, actuals sync, import, posting, accounting back', () => {
    const hops = ['confirmProformaInvoice process', 'syncInvoiceProposal process', 'syncActuals process', 'importFromStaging run', 'postInvoiceProposal process', 'syncActualsAccounting process'];
    for (const hop of hops) {
      expect(named(hop).filter((s) => namesInvoice(s, invoiceId)).length, `${hop} spans naming invoice ${invoiceId}`).toBeGreaterThan(0);
    }
    // The posting's message names only the proposal; the invocation learns the invoice from the rows it read.
    const posting = named('postInvoiceProposal process').find((s) => namesInvoice(s, invoiceId))!;
    expect(posting.attributes.proposalId).toBe(proposalId);
    // The import's storage calls name the invoice whose rows they settled.
    const importRun = named('importFromStaging run').find((s) => namesInvoice(s, invoiceId))!;
    const importCalls = finished().filter((s) => traceOf(s) === traceOf(importRun) && s.kind === SpanKind.CLIENT && s.name.startsWith('tables '));
    expect(importCalls.some((s) => namesInvoice(s, invoiceId) && String(s.attributes['db.collection.name']).startsWith('fo'))).toBe(true);
  });

  it('links each function that takes a message to the span that sent it, in the same trace', () => {
    const confirmation = named('confirmProformaInvoice process').find((s) => namesInvoice(s, invoiceId))!;
    const confirmSend = senderOf(confirmation);
    expect(confirmSend.name).toBe('servicebus send invoice-confirmations');
    expect(confirmSend.kind).toBe(SpanKind.PRODUCER);
    // The send happened inside the confirm route's invocation, and the confirmation continues its trace.
    const route = ancestors(confirmSend).find((s) => s.kind === SpanKind.SERVER);
    expect(route?.attributes['http.request.method']).toBe('POST');
    expect(route?.attributes.invoiceId).toBe(invoiceId);
    expect(traceOf(confirmation)).toBe(traceOf(route!));
    expect(parentOf(confirmation)).toBe(id(confirmSend));

    // Proposal header and billed actuals: sent by the confirmation, taken by the F&O side.
    const proposalSync = named('syncInvoiceProposal process').find((s) => namesInvoice(s, invoiceId))!;
    expect(senderOf(proposalSync).name).toBe('servicebus send invoice-proposals');
    expect(ancestors(senderOf(proposalSync))).toContain(confirmation);
    const billedSync = named('syncActuals process').find((s) => namesInvoice(s, invoiceId) && traceOf(s) === traceOf(confirmation))!;
    expect(billedSync).toBeDefined();
    expect(ancestors(senderOf(billedSync))).toContain(confirmation);

    // Posting: the route's command, then the accounting details back to Dataverse.
    const posting = named('postInvoiceProposal process').find((s) => namesInvoice(s, invoiceId))!;
    const postingSend = senderOf(posting);
    expect(postingSend.name).toBe('servicebus send proposal-postings');
    expect(ancestors(postingSend).some((s) => s.kind === SpanKind.SERVER && s.attributes.proposalId === proposalId)).toBe(true);
    const accounting = named('syncActualsAccounting process').find((s) => namesInvoice(s, invoiceId) && traceOf(s) === traceOf(posting))!;
    expect(accounting).toBeDefined();
    expect(ancestors(senderOf(accounting))).toContain(posting);
    expect(senderOf(accounting).attributes.invoiceId).toBe(invoiceId);
  });

  it('puts the message id and delivery count on each consumer span, and the storage and Service Bus calls under it', () => {
    const confirmation = named('confirmProformaInvoice process').find((s) => namesInvoice(s, invoiceId))!;
    expect(confirmation.kind).toBe(SpanKind.CONSUMER);
    expect(confirmation.attributes.messageId).toEqual(expect.any(String));
    expect(confirmation.attributes.deliveryCount).toBe(1);
    expect(confirmation.attributes['messaging.destination.name']).toBe('invoice-confirmations');
    const children = finished().filter((s) => parentOf(s) === id(confirmation));
    expect(children.some((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('tables ') && s.attributes['db.collection.name'] === 'dvInvoices')).toBe(true);
    expect(children.some((s) => s.kind === SpanKind.PRODUCER && s.name === 'servicebus send actuals')).toBe(true);
    // Each message sent carries the sending span's context: every Service Bus send has a consumer linked to it.
    const sendsOfInvoice = finished().filter((s) => s.kind === SpanKind.PRODUCER && namesInvoice(s, invoiceId));
    const linked = new Set(finished().flatMap((s) => s.links.map((l) => l.context.spanId)));
    expect(sendsOfInvoice.length).toBeGreaterThanOrEqual(4);
    expect(sendsOfInvoice.filter((s) => !linked.has(id(s))).map((s) => s.name)).toEqual([]);
  });

  it('counts messages handled, errors by category, import rows by outcome and the import duration', async () => {
    const rm = await collectMetrics();
    const handled = points(rm, 'integration.messages.handled');
    expect(handled.find((p) => p.attributes.function === 'confirmProformaInvoice' && p.attributes.outcome === 'completed')?.value).toBeGreaterThanOrEqual(1);
    expect(handled.find((p) => p.attributes.function === 'postInvoiceProposal' && p.attributes.outcome === 'recorded')?.value).toBeGreaterThanOrEqual(1);
    const errors = points(rm, 'integration.errors');
    expect(errors.find((p) => p.attributes.source === 'postInvoiceProposal' && p.attributes.category === 'Validation')?.value).toBeGreaterThanOrEqual(1);
    const rows = points(rm, 'integration.import.rows');
    expect(rows.find((p) => p.attributes.outcome === 'postedTransaction')?.value).toBeGreaterThanOrEqual(4);
    expect(rows.find((p) => p.attributes.outcome === 'importedLine')?.value).toBeGreaterThanOrEqual(2);
    const duration = points(rm, 'integration.import.duration');
    expect((duration[0]?.value as { count: number } | undefined)?.count).toBeGreaterThanOrEqual(2);
  });
});
