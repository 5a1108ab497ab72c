/**
 * Malformed input on every queue and every route, as a careless or hostile outside program would
 * send it. The rule checked: a malformed message ends as exactly one integrationErrors row
 * (MessageId = the message's id) and is completed, never dead-lettered; a malformed request is
 * answered 4xx with an application/problem+json body whose `detail` says why, never 5xx; the host
 * keeps answering.
 *
 * Queues: not JSON, JSON that is not an object, wrong types, a 250 KB string (1 MB does not pass
 * Service Bus's 256 KB message limit), 100 bad items, a
 * `__proto__` / `constructor` key, an id over Table storage's 1 KiB key limit and one with the key
 * characters it forbids (/ \ # ? and control characters) where the schema lets free text through.
 * Routes: quotes and OData operators in every route and query parameter, bodies that are not JSON
 * or carry `__proto__`, a 10 MB body, arrays over the documented limits, 60-digit decimals,
 * and a hostile Idempotency-Key header.
 */
import { deterministicGuid } from '../../shared/core/ids';
import { Queues } from '../../shared/messages';
import type { ContractFixture } from '../../tests/kit/fixtures/dataverse';
import type { ChaosSystem, Reply } from './system';
import { Unreachable } from './system';

export interface QueueFuzzCase {
  queue: string;
  name: string;
  /** 'error-row': must end as one error row (several for a batch of bad records). 'handled': completed, at most one row, never dead-lettered. */
  expect: 'error-row' | 'handled';
  messageId: string;
  /** What was sent, shortened (for the report). */
  sample: string;
  sent: boolean;
  sendError?: string;
  /** Filled in after the settle. */
  errorRows?: number;
  deadLettered?: boolean;
  verdict?: 'ok' | 'no error row' | 'several error rows' | 'dead-lettered' | 'not sent';
}

export interface RouteFuzzCase {
  name: string;
  method: string;
  route: string;
  /** 'reject': must be 4xx problem+json. 'no5xx': any answer below 500 (free text may be valid). */
  expect: 'reject' | 'no5xx';
  status?: number;
  problemJson?: boolean;
  detail?: string;
  verdict?: 'ok' | '5xx' | 'accepted' | 'no problem+json' | 'no answer' | 'host 404 (no route matched)';
}

const MB = 1_000_000;
/**
 * The "1 MB string" of a queue message: Service Bus Standard (and the local broker) refuses
 * messages over 256 KB, so a 1 MB string never reaches the app; the largest that fits is sent
 * instead (the route fuzz sends 10 MB bodies).
 */
const BIG = 250_000;
const sixtyDigits = `${'9'.repeat(30)}.${'9'.repeat(30)}`;
const sixtyDigitInteger = '1'.repeat(60);
const shorten = (s: string, n = 160): string => (s.length > n ? `${s.slice(0, n)}...(${s.length} chars)` : s);
const show = (body: unknown): string => shorten(typeof body === 'string' ? body : JSON.stringify(body) ?? String(body));

/** Injections for route and query parameters: quotes, OData operators, encodings, overlong. */
export const PARAM_INJECTIONS: readonly string[] = [
  "x' or '1' eq '1",
  "' or PartitionKey ne '",
  "00000000-0000-0000-0000-000000000000' or RowKey gt '",
  "3f2504e0-4f89-41d3-9a0c-0305e82c3301') or (true",
  "PI-1' and Status eq 'Posted",
  '%27%20or%20%271%27%20eq%20%271',
  '..%2F..%2Fadmin%2Ffunctions',
  'a'.repeat(2_000),
  '\u0000\u0001\u007f',
  '$filter=true',
];

export function queueFuzzCases(runId: string): { queue: string; name: string; body: unknown; expect?: 'handled' }[] {
  const guid = (k: string) => deterministicGuid('chaos-fuzz', runId, k);
  const longKey = 'P'.repeat(1_100);
  const badKey = 'PI/1\\#?\u0001\u007f';
  const proposalBody = (proposalId: string) => ({
    proposalId,
    invoiceId: guid('p-inv'),
    contractId: guid('p-contract'),
    customerId: guid('p-customer'),
    customerAccount: 'C-1',
    currencyCode: 'EUR',
    invoiceDate: '2026-02-02',
    expectedLineCount: 1,
    expectedAmount: '1.00',
    expectedTax: '0.00',
    confirmedOn: '2026-02-02T10:00:00.000Z',
  });
  const common = (queue: string, wrongTypes: unknown, big: unknown, hundred: unknown, proto: string): { queue: string; name: string; body: unknown; expect?: 'handled' }[] => [
    { queue, name: 'not-json', body: '{"this is": not json' },
    { queue, name: 'json-array', body: [1, 2, 3] },
    { queue, name: 'json-string', body: '"just a string"' },
    { queue, name: 'empty-object', body: {} },
    { queue, name: 'wrong-types', body: wrongTypes },
    { queue, name: '250kb-string', body: big },
    { queue, name: '100-bad-items', body: hundred },
    // A __proto__ key on an otherwise acceptable body: it may be applied or refused, but must not be retried or dead-lettered.
    { queue, name: 'proto', body: proto, expect: 'handled' },
  ];
  return [
    ...common(
      Queues.invoiceConfirmations,
      { invoiceId: 12345, confirmedOn: true, confirmedBy: { nested: 1 } },
      { invoiceId: 'x'.repeat(BIG) },
      { invoiceId: Array.from({ length: 100 }, () => 'bad') },
      `{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"invoiceId":"${guid('proto-invoice')}"}`,
    ),
    { queue: Queues.invoiceConfirmations, name: 'unknown-invoice', body: { invoiceId: guid('no-such-invoice') } },
    { queue: Queues.invoiceConfirmations, name: 'key-1kib', body: { invoiceId: `${guid('k')}${'a'.repeat(1_100)}` } },
    ...common(
      Queues.proposalPostings,
      { proposalId: 42, postingDate: 20260202 },
      { proposalId: 'x'.repeat(BIG) },
      { proposalId: Array.from({ length: 100 }, () => 'bad') },
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"proposalId":"PI-NO-SUCH-PROTO"}',
    ),
    { queue: Queues.proposalPostings, name: 'unknown-proposal', body: { proposalId: 'PI-NO-SUCH' } },
    { queue: Queues.proposalPostings, name: 'key-1kib', body: { proposalId: longKey } },
    { queue: Queues.proposalPostings, name: 'forbidden-key-chars', body: { proposalId: badKey } },
    { queue: Queues.proposalPostings, name: 'odata-in-id', body: { proposalId: "PI-1' or Status eq 'Open" } },
    ...common(
      Queues.actuals,
      { actuals: 'none' },
      { actuals: [{ msdyn_actualid: 'x'.repeat(BIG) }] },
      { actuals: Array.from({ length: 100 }, () => ({})) },
      `{"actuals":[{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"msdyn_actualid":"${guid('proto-actual')}"}]}`,
    ),
    { queue: Queues.actuals, name: 'over-100-items', body: { actuals: Array.from({ length: 101 }, () => ({})) } },
    { queue: Queues.actuals, name: 'key-1kib', body: { actuals: [{ msdyn_actualid: guid('a'), msdyn_salescontract: 'C'.repeat(1_100) }] } },
    ...common(
      Queues.invoiceProposals,
      { ...proposalBody('PI-WRONG'), expectedLineCount: 'many', expectedAmount: 12 },
      proposalBody('x'.repeat(BIG)),
      { ...proposalBody('PI-HUNDRED'), expectedLineCount: Array.from({ length: 100 }, () => 'bad') },
      `{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"proposalId":"PI-PROTO"}`,
    ),
    { queue: Queues.invoiceProposals, name: 'key-1kib', body: proposalBody(longKey) },
    { queue: Queues.invoiceProposals, name: 'forbidden-key-chars', body: proposalBody(badKey) },
    { queue: Queues.invoiceProposals, name: '60-digit-amount', body: { ...proposalBody('PI-SIXTY'), expectedAmount: sixtyDigits } },
    ...common(
      Queues.actualsAccounting,
      { details: 'none', invoice: 5 },
      { details: [{ actualId: 'x'.repeat(BIG) }] },
      { details: Array.from({ length: 100 }, () => ({})) },
      `{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"details":[]}`,
    ),
    {
      queue: Queues.actualsAccounting,
      name: 'key-1kib',
      body: { details: [{ actualId: guid('acc'), contractId: guid('acc-c'), voucher: 'V'.repeat(1_100), postingDate: '2026-02-02', accountingCurrency: 'USD', accountingAmount: '1.00', exchangeRate: '1.000000' }] },
    },
    {
      queue: Queues.actualsAccounting,
      name: 'unknown-invoice',
      body: { details: [], invoice: { invoiceId: guid('acc-no-such'), customerInvoiceNumber: "CIV-1' or ''='", customerInvoiceDate: '2026-02-02' } },
    },
  ];
}

/** Sends every queue case with message id `<prefix><queue>-<name>`. */
export async function sendQueueFuzz(sys: ChaosSystem, runId: string, prefix: string): Promise<QueueFuzzCase[]> {
  const out: QueueFuzzCase[] = [];
  for (const c of queueFuzzCases(runId)) {
    const messageId = `${prefix}${c.queue}-${c.name}`;
    const rec: QueueFuzzCase = { queue: c.queue, name: c.name, expect: c.expect ?? 'error-row', messageId, sample: show(c.body), sent: false };
    try {
      await sys.send(c.queue, c.body, { messageId });
      rec.sent = true;
    } catch (error) {
      rec.sendError = error instanceof Error ? error.message : String(error);
      rec.verdict = 'not sent';
    }
    out.push(rec);
  }
  return out;
}

/** After the settle: how each queue case ended. */
export function judgeQueueFuzz(cases: QueueFuzzCase[], errorRowsByMessageId: Map<string, number>, deadLettered: Set<string>): void {
  for (const c of cases) {
    if (!c.sent) continue;
    c.errorRows = errorRowsByMessageId.get(c.messageId) ?? 0;
    c.deadLettered = deadLettered.has(c.messageId);
    if (c.deadLettered) c.verdict = 'dead-lettered';
    else if (c.errorRows === 0) c.verdict = c.expect === 'handled' ? 'ok' : 'no error row';
    else c.verdict = c.errorRows > 1 && !c.name.includes('100') ? 'several error rows' : 'ok';
  }
}

interface RouteTarget {
  /** The fuzz contract and a draft invoice on it with one ILD. */
  contract: ContractFixture;
  invoiceId: string;
  detailId: string;
  proposalId?: string;
}

export function routeFuzzCases(t: RouteTarget): { name: string; method: string; route: string; body?: string | Buffer; headers?: Record<string, string>; expect: 'reject' | 'no5xx' }[] {
  const c = t.contract.contract.salesorderid;
  const line = t.contract.tmLine!.salesorderdetailid;
  const enc = encodeURIComponent;
  const cases: { name: string; method: string; route: string; body?: string | Buffer; headers?: Record<string, string>; expect: 'reject' | 'no5xx' }[] = [];
  const json = (v: unknown) => JSON.stringify(v);
  const entry = (over: Record<string, unknown> = {}) => ({ contractLineId: line, classification: 'Time', quantity: '1', price: '10.00', documentDate: '2026-02-02', ...over });

  // Route parameters: every {param} of every route, one injection at a time.
  const paramRoutes: { name: string; method: string; make: (v: string) => string; body?: string }[] = [
    { name: 'createInvoice contractId', method: 'POST', make: (v) => `dataverse/contracts/${v}/invoices`, body: '{}' },
    { name: 'getInvoice invoiceId', method: 'GET', make: (v) => `dataverse/invoices/${v}` },
    { name: 'patchDetail invoiceId', method: 'PATCH', make: (v) => `dataverse/invoices/${v}/details/${t.detailId}`, body: json({ msdyn_quantity: '1' }) },
    { name: 'patchDetail detailId', method: 'PATCH', make: (v) => `dataverse/invoices/${t.invoiceId}/details/${v}`, body: json({ msdyn_quantity: '1' }) },
    { name: 'deleteDetail detailId', method: 'DELETE', make: (v) => `dataverse/invoices/${t.invoiceId}/details/${v}` },
    { name: 'addDetail invoiceId', method: 'POST', make: (v) => `dataverse/invoices/${v}/details`, body: json({ msdyn_salescontractlineid: line, msdyn_transactionclassification: 192350004, msdyn_quantity: '1', msdyn_price: '1.00' }) },
    { name: 'confirm invoiceId', method: 'POST', make: (v) => `dataverse/invoices/${v}/confirm`, body: '{}' },
    { name: 'trace invoiceId', method: 'GET', make: (v) => `invoices/${v}/trace` },
    { name: 'getProposal proposalId', method: 'GET', make: (v) => `finance/proposals/${v}` },
    { name: 'postProposal proposalId', method: 'POST', make: (v) => `finance/proposals/${v}/post`, body: '{}' },
    { name: 'deleteProposal proposalId', method: 'DELETE', make: (v) => `finance/proposals/${v}` },
  ];
  for (const r of paramRoutes) {
    PARAM_INJECTIONS.forEach((v, i) => {
      const c0: (typeof cases)[number] = { name: `${r.name} injection ${i}`, method: r.method, route: r.make(enc(v)), expect: 'reject' };
      if (r.body !== undefined) c0.body = r.body;
      cases.push(c0);
    });
  }
  // Query parameters.
  PARAM_INJECTIONS.forEach((v, i) => {
    cases.push({ name: `errors source/status/top injection ${i}`, method: 'GET', route: `errors?source=${enc(v)}&status=${enc(v)}&top=${enc(v)}`, expect: 'reject' });
    cases.push({ name: `errors source injection ${i}`, method: 'GET', route: `errors?source=${enc(v)}`, expect: 'no5xx' });
    cases.push({ name: `proposals status injection ${i}`, method: 'GET', route: `finance/proposals?status=${enc(v)}`, expect: 'reject' });
  });

  // Bodies of every mutating route.
  const bodies: { name: string; method: string; route: string; good: unknown; wrong: unknown }[] = [
    { name: 'approvals', method: 'POST', route: 'dataverse/approvals', good: { entries: [entry()] }, wrong: { entries: 'all of them' } },
    { name: 'ready', method: 'POST', route: 'dataverse/actuals/ready', good: { actualIds: [deterministicGuid('fuzz', 'x')], ready: true }, wrong: { actualIds: 5, ready: 'yes' } },
    { name: 'createInvoice', method: 'POST', route: `dataverse/contracts/${c}/invoices`, good: { taxPercent: '19' }, wrong: { taxPercent: 19, invoiceDate: 20260202 } },
    { name: 'patchDetail', method: 'PATCH', route: `dataverse/invoices/${t.invoiceId}/details/${t.detailId}`, good: { msdyn_quantity: '1' }, wrong: { msdyn_quantity: 1, msdyn_billingtype: 'yes' } },
    { name: 'addDetail', method: 'POST', route: `dataverse/invoices/${t.invoiceId}/details`, good: {}, wrong: { msdyn_salescontractlineid: 5, msdyn_quantity: [] } },
    { name: 'confirm', method: 'POST', route: `dataverse/invoices/${t.invoiceId}/confirm`, good: {}, wrong: { confirmedBy: 42 } },
    { name: 'postProposal', method: 'POST', route: `finance/proposals/${enc(t.proposalId ?? 'PI-NO-SUCH')}/post`, good: {}, wrong: { postingDate: 20260202 } },
  ];
  const tenMb = `{"name":"${'x'.repeat(10 * MB)}"}`;
  for (const b of bodies) {
    cases.push({ name: `${b.name} not-json`, method: b.method, route: b.route, body: '{"oops": ', expect: 'reject' });
    cases.push({ name: `${b.name} wrong-types`, method: b.method, route: b.route, body: json(b.wrong), expect: 'reject' });
    cases.push({ name: `${b.name} json-array`, method: b.method, route: b.route, body: '[1,2,3]', expect: 'reject' });
    cases.push({ name: `${b.name} proto`, method: b.method, route: b.route, body: '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}', expect: 'reject' });
    cases.push({ name: `${b.name} 10mb`, method: b.method, route: b.route, body: tenMb, expect: 'reject' });
  }
  // Arrays over the limits.
  cases.push({ name: 'approvals 1001 entries', method: 'POST', route: 'dataverse/approvals', body: json({ entries: Array.from({ length: 1_001 }, () => entry()) }), expect: 'reject' });
  cases.push({
    name: 'ready 1001 ids',
    method: 'POST',
    route: 'dataverse/actuals/ready',
    body: json({ actualIds: Array.from({ length: 1_001 }, (_, i) => deterministicGuid('fuzz-ready', String(i))), ready: true }),
    expect: 'reject',
  });
  cases.push({ name: 'approvals 100000 entries', method: 'POST', route: 'dataverse/approvals', body: json({ entries: Array.from({ length: 100_000 }, () => ({})) }), expect: 'reject' });
  // 60-digit decimals.
  for (const [field, v] of [
    ['quantity', sixtyDigits],
    ['quantity', sixtyDigitInteger],
    ['price', sixtyDigits],
    ['price', sixtyDigitInteger],
    ['costPrice', sixtyDigitInteger],
  ] as const) {
    cases.push({ name: `approvals ${field} 60 digits ${v.includes('.') ? 'with decimals' : 'integer'}`, method: 'POST', route: 'dataverse/approvals', body: json({ entries: [entry({ [field]: v })] }), expect: 'reject' });
  }
  for (const [field, v] of [
    ['msdyn_quantity', sixtyDigitInteger],
    ['msdyn_price', sixtyDigitInteger],
    ['msdyn_tax', sixtyDigitInteger],
    ['taxPercent', sixtyDigits],
  ] as const) {
    cases.push({ name: `patchDetail ${field} 60 digits`, method: 'PATCH', route: `dataverse/invoices/${t.invoiceId}/details/${t.detailId}`, body: json({ [field]: v }), expect: 'reject' });
    if (field !== 'msdyn_tax' && field !== 'taxPercent') {
      cases.push({
        name: `addDetail ${field} 60 digits`,
        method: 'POST',
        route: `dataverse/invoices/${t.invoiceId}/details`,
        body: json({ msdyn_salescontractlineid: line, msdyn_transactionclassification: 192350004, msdyn_quantity: '1', msdyn_price: '1.00', [field]: v }),
        expect: 'reject',
      });
    }
  }
  cases.push({ name: 'createInvoice taxPercent 60 digits', method: 'POST', route: `dataverse/contracts/${c}/invoices`, body: json({ taxPercent: sixtyDigits }), expect: 'reject' });
  // Quotes and operators inside body fields: GUID fields must be refused; free text may be valid.
  cases.push({ name: 'approvals contractLineId injection', method: 'POST', route: 'dataverse/approvals', body: json({ entries: [entry({ contractLineId: "x' or ''='" })] }), expect: 'reject' });
  cases.push({ name: 'ready actualIds injection', method: 'POST', route: 'dataverse/actuals/ready', body: json({ actualIds: ["' or PartitionKey ne '"], ready: true }), expect: 'reject' });
  cases.push({ name: 'ready contractId injection', method: 'POST', route: 'dataverse/actuals/ready', body: json({ actualIds: [deterministicGuid('fuzz', 'y')], ready: true, contractId: "x' or ''='" }), expect: 'reject' });
  cases.push({ name: 'approvals description quotes', method: 'POST', route: 'dataverse/approvals', body: json({ entries: [entry({ description: "O'Brien' or ''='", documentDate: "2026-02-02' or ''='" })] }), expect: 'reject' });
  cases.push({ name: 'confirm confirmedBy quotes', method: 'POST', route: `dataverse/invoices/${t.invoiceId}/confirm`, body: json({ confirmedBy: "x' or ''='".repeat(30) }), expect: 'no5xx' });
  // A hostile Idempotency-Key.
  for (const [i, key] of ["x' or ''='", 'k'.repeat(1_100), 'bad\u0001key'].entries()) {
    cases.push({ name: `createInvoice idempotency key ${i}`, method: 'POST', route: `dataverse/contracts/${c}/invoices`, body: '{}', headers: { 'Idempotency-Key': key.replace(/[^\x20-\x7e]/g, '?') }, expect: 'no5xx' });
  }
  return cases;
}

function isProblem(reply: Reply): boolean {
  return (reply.headers.get('content-type') ?? '').includes('application/problem+json') && typeof reply.body === 'object' && reply.body !== null && typeof reply.body.detail === 'string' && reply.body.detail.length > 0;
}

export async function runRouteFuzz(sys: ChaosSystem, target: RouteTarget, log: (line: string) => void): Promise<RouteFuzzCase[]> {
  const out: RouteFuzzCase[] = [];
  for (const c of routeFuzzCases(target)) {
    const rec: RouteFuzzCase = { name: c.name, method: c.method, route: shorten(c.route, 200), expect: c.expect };
    try {
      const reply = await sys.http(c.method, c.route, c.body, { purpose: 'fuzz', timeoutMs: 60_000, ...(c.headers ? { headers: c.headers } : {}) });
      rec.status = reply.status;
      rec.problemJson = isProblem(reply);
      rec.detail = shorten(rec.problemJson ? String(reply.body.detail) : reply.text, 200);
      if (reply.status >= 500) rec.verdict = '5xx';
      else if (reply.status === 404 && reply.text === '') rec.verdict = 'host 404 (no route matched)';
      else if (c.expect === 'no5xx') rec.verdict = 'ok';
      else if (reply.status < 400) rec.verdict = 'accepted';
      else rec.verdict = rec.problemJson ? 'ok' : 'no problem+json';
    } catch (error) {
      rec.verdict = 'no answer';
      rec.detail = error instanceof Unreachable ? error.message : String(error);
    }
    if (rec.verdict !== 'ok' && rec.verdict !== 'host 404 (no route matched)') log(`  route fuzz ${c.name}: ${rec.verdict} (${rec.status ?? '-'}) ${rec.detail ?? ''}`.slice(0, 400));
    out.push(rec);
  }
  return out;
}
