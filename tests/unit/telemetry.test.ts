/**
 * The telemetry room's pieces: W3C trace context in and out of a message's Diagnostic-Id, the
 * business keys read from bodies and storage JSON, the operation and table of a storage request,
 * and the exporters the settings ask for (none, or the console).
 */
import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeStorageRequest } from '../../shared/storage/tracing';
import { startTelemetry, type Telemetry } from '../../shared/telemetry/setup';
import { BusinessKeys, inSpan, keysOfJsonText, keysOfValue, spanContextOf, traceParentOf } from '../../shared/telemetry/tracing';

const INVOICE = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

describe('trace context on messages', () => {
  it('reads a W3C traceparent (what Diagnostic-Id holds) and refuses anything else', () => {
    expect(spanContextOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    for (const bad of [undefined, 42, '', '|abc.def', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']) expect(spanContextOf(bad)).toBeUndefined();
  });

  it('writes a span context as a traceparent', () => {
    const span = trace.wrapSpanContext({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
    expect(traceParentOf(span)).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  });
});

describe('business keys', () => {
  it('are read from message bodies: invoice ids (GUIDs only) and proposal ids, nested', () => {
    const keys = keysOfValue({ proposalId: 'PI-000001', invoiceId: INVOICE.toUpperCase(), details: [{ actualId: 'x' }], invoice: { invoiceId: INVOICE, customerInvoiceNumber: 'CIV-1' } });
    expect(keys.attributes()).toEqual({ invoiceId: INVOICE, invoiceIds: [INVOICE], proposalId: 'PI-000001', proposalIds: ['PI-000001'] });
    // A customer invoice number is not an invoice id.
    expect(keysOfValue({ InvoiceId: 'CIV-000001' }).empty).toBe(true);
  });

  it('are read from storage JSON (entities, batches) and list several when several', () => {
    const other = '8f1e0c1a-1111-4222-8333-944455556666';
    const keys = keysOfJsonText(`--batch\n{"PartitionKey":"c","msdyn_invoice":"${INVOICE}"}\n{"InvoiceId":"${other}","InvoiceProposalId":"PI-000002"}`);
    expect(keys.attributes()).toEqual({ invoiceIds: [INVOICE, other].sort(), proposalId: 'PI-000002', proposalIds: ['PI-000002'] });
  });

  it('stay a bounded list', () => {
    const keys = new BusinessKeys();
    for (let i = 0; i < 50; i++) keys.addInvoice(`3f2504e0-4f89-41d3-9a0c-${String(i).padStart(12, '0')}`);
    expect(keys.invoiceIds.size).toBe(20);
  });
});

describe('storage requests', () => {
  it.each([
    ['GET', "https://acct.table.core.windows.net/dvInvoices(PartitionKey='a',RowKey='a')", 'get', 'dvInvoices'],
    ['GET', "https://acct.table.core.windows.net/dvActuals()?$filter=PartitionKey%20eq%20'c'", 'query', 'dvActuals'],
    ['POST', 'http://127.0.0.1:10002/devstoreaccount1/foProposals', 'insert', 'foProposals'],
    ['PUT', "https://acct.table.core.windows.net/foProposals(PartitionKey='P',RowKey='P')", 'upsert', 'foProposals'],
    ['PATCH', "https://acct.table.core.windows.net/foProposals(PartitionKey='P',RowKey='P')", 'merge', 'foProposals'],
    ['DELETE', "https://acct.table.core.windows.net/foProposals(PartitionKey='P',RowKey='P')", 'delete', 'foProposals'],
    ['POST', 'https://acct.table.core.windows.net/$batch', 'transaction', 'foActualsStaging'],
    ['POST', 'https://acct.table.core.windows.net/Tables', 'createTable', 'foActualsStaging'],
    ['GET', 'https://acct.table.core.windows.net/Tables?$top=1', 'listTables', 'foActualsStaging'],
  ])('%s %s is "%s" on %s', (method, url, operation, table) => {
    expect(describeStorageRequest(method, url, 'foActualsStaging')).toEqual({ operation, table });
  });
});

describe('exporters', () => {
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
    vi.restoreAllMocks();
  });

  it('sets nothing up unless asked (no SDK loaded, spans do not record)', async () => {
    expect(startTelemetry({}, '0.0.0')).toBeUndefined();
    expect(startTelemetry({ TelemetryConsole: 'false', APPLICATIONINSIGHTS_CONNECTION_STRING: '' }, '0.0.0')).toBeUndefined();
    await inSpan('nothing', {}, async (span) => expect(span.isRecording()).toBe(false));
  });

  it('prints spans on the console when TelemetryConsole is true, and stops cleanly', async () => {
    const printed: unknown[] = [];
    vi.spyOn(console, 'dir').mockImplementation((value: unknown) => void printed.push(value));
    telemetry = startTelemetry({ TelemetryConsole: 'true' }, '1.2.3');
    expect(telemetry?.destinations).toEqual(['console']);
    await inSpan('local work', { attributes: { invoiceId: INVOICE } }, async (span) => expect(span.isRecording()).toBe(true));
    expect(printed).toEqual([expect.objectContaining({ name: 'local work', attributes: { invoiceId: INVOICE }, resource: { attributes: expect.objectContaining({ 'service.version': '1.2.3' }) } })]);
    await telemetry?.shutdown();
    telemetry = undefined;
    // Stopped: the global provider is gone and a later start may register again.
    await inSpan('after', {}, async (span) => expect(span.isRecording()).toBe(false));
  });
});
