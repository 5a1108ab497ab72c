/**
 * The console in a real browser (headless Chromium from Debian's package, driven by
 * playwright-core) against the whole system: the real app in the local Functions host, Azurite,
 * the local Service Bus and the real import timer (every 2 seconds), after the demo's story (an
 * invoice posted, then corrected by a credit note). One system and one browser for the file.
 *
 * It checks what a person sees: the overview's counts, an invoice's reconciliation Matched with
 * every billed line, corrections linked both ways, a Draft's confirmation preview, an invoice with
 * a missing F&O line showing the difference, the error log with a working replay button, staging
 * rows grouped by reason, values holding `<script>` shown as text, pages that fit a phone, the
 * function key carried on every link, and that no request leaves the machine while pages load.
 * Each page's screenshot is saved under test-results/console/ (docs/console/ with `npm run screenshots`).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvoiceStatus } from '../../shared/core/options';
import { DEMO_IDS, seedDemoData } from '../../tools/demoData';
import { runCorrectionDemo, runDemo } from '../../tools/demo';
import { startSystem, waitFor, type TestSystem } from '../kit/system';
import { launchChromium } from './chromium';

/**
 * Where the screenshots go: test-results/console/ on every run (ignored by git), or docs/console/
 * (committed, shown in docs/console.md) when CONSOLE_SCREENSHOTS=docs, as `npm run screenshots` sets.
 */
const SHOTS = path.resolve(__dirname, process.env.CONSOLE_SCREENSHOTS === 'docs' ? '../../docs/console' : '../../test-results/console');
/** The host's function key: it checks it as Azure does, so every page, asset, link, form and replay must carry it. */
const KEY = 'console-test-key';

let system: TestSystem;
let browser: Browser;
let desk: BrowserContext;
let phone: BrowserContext;
let invoiceId: string;
let correctiveId: string;
/** Every request the browser made, and those that went anywhere but the local host. */
const requested: string[] = [];
const leaving: string[] = [];

async function watched(context: BrowserContext): Promise<void> {
  const local = new URL(system.host.baseUrl);
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    requested.push(url.href);
    if (url.protocol === 'data:' || (url.hostname === local.hostname && url.port === local.port)) {
      await route.continue();
    } else {
      leaving.push(url.href);
      await route.abort('blockedbyclient');
    }
  });
}

function consoleUrl(route: string, params: Record<string, string> = {}): string {
  const query = new URLSearchParams({ ...params, code: KEY });
  return `${system.host.baseUrl}/api/${route}?${query.toString()}`;
}

async function open(page: Page, route: string, params: Record<string, string> = {}): Promise<void> {
  const response = await page.goto(consoleUrl(route, params), { waitUntil: 'load' });
  expect(response?.status(), `${route}: ${await response?.text()}`).toBe(200);
  // The style sheet took: the header bar has its colour (it came from the app, not from elsewhere).
  expect(await page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")).toBe('rgb(22, 50, 79)');
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** The page fits its viewport's width (tables scroll inside their frame, the page does not). */
async function fitsWidth(page: Page): Promise<boolean> {
  return (await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')) === true;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  system = await startSystem({ settings: { ImportFromStagingSchedule: '*/2 * * * * *' }, functionKey: KEY });
  await seedDemoData(system.dataverse, system.finance);
  const demo = { baseUrl: system.host.baseUrl, log: () => undefined, timeoutMs: 120_000, pollMs: 400, functionKey: KEY };
  const story = await runDemo({ ...demo, runId: 'browser' });
  expect(story.trace.reconciliation.status).toBe('Matched');
  invoiceId = story.invoiceId;
  const correction = await runCorrectionDemo({ ...demo, keepHours: '2' }, invoiceId);
  expect(correction.trace.reconciliation.status).toBe('Matched');
  correctiveId = correction.invoiceId;
  browser = await launchChromium();
  desk = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  await watched(desk);
  await watched(phone);
}, 300_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await system?.stop();
});

describe('the console in a browser', () => {
  it('overview: the counts of both sides after the demo story, each linking to its list, the key carried on every link', async () => {
    const page = await desk.newPage();
    await open(page, 'console');
    const board = (await system.http('GET', 'dashboard')).body;
    const shown = Object.fromEntries(await page.$$eval('[data-count]', (els) => els.map((e) => [e.getAttribute('data-count'), e.textContent?.trim()])));
    expect(shown['invoices-Posted']).toBe('2');
    expect(shown['invoices-Posted']).toBe(String(board.invoices.Posted));
    expect(shown['proposals-Posted']).toBe('2');
    expect(shown['proposals-Open']).toBe(String(board.proposals.Open));
    expect(shown['backlog-actuals']).toBe(String(board.backlog.readyActuals));
    for (const s of ['Pending', 'Waiting', 'Imported', 'Error']) expect(shown[`staging-${s}`]).toBe(String(board.staging[s]));
    expect(shown['errors-open']).toBe(String(board.errors.open));
    expect(shown['dead-letters']).toBe('0');
    const invoices = await system.dataverse.invoices.query();
    expect(shown['invoices-all']).toBe(String(invoices.length));
    // The import's last run with work is told.
    expect(await page.textContent('[data-import="last-with-work"]')).toMatch(/staging row\(s\) read/);
    // Every link to the app carries the key; none leads elsewhere.
    const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => (a as unknown as { href: string }).href));
    expect(hrefs.length).toBeGreaterThan(20);
    expect(hrefs.filter((h) => !new URL(h).searchParams.has('code'))).toEqual([]);
    // A number leads to its list: the Posted invoices.
    await page.click('[data-count="invoices-Posted"] a');
    await page.waitForURL(/console\/invoices\?/);
    expect(new URL(page.url()).searchParams.get('status')).toBe('Posted');
    expect(await page.$$eval('tbody tr', (rows) => rows.length)).toBe(2);
    await open(page, 'console');
    await shot(page, 'overview');
    await page.close();
  });

  it('invoices: a searchable, paged list', async () => {
    const page = await desk.newPage();
    await open(page, 'console/invoices');
    const number = (await system.dataverse.invoices.get(invoiceId, invoiceId))!.invoicenumber;
    await page.fill('input[name=q]', number.slice(0, -1));
    await page.selectOption('select[name=status]', 'Posted');
    await Promise.all([page.waitForURL(/q=/), page.click('form.filters button')]);
    expect(new URL(page.url()).searchParams.get('code')).toBe(KEY);
    const numbers = await page.$$eval('tbody tr td:first-child a', (as) => as.map((a) => a.textContent));
    expect(numbers).toContain(number);
    await open(page, 'console/invoices');
    await shot(page, 'invoices');
    await page.close();
  });

  it('one invoice: the journey, reconciliation Matched with every billed line, lines and details, its correction linked both ways', async () => {
    const page = await desk.newPage();
    await open(page, `console/invoices/${invoiceId}`);
    expect(await page.getAttribute('[data-reconciliation]', 'data-reconciliation')).toBe('Matched');
    const trace = (await system.http('GET', `invoices/${invoiceId}/trace`)).body;
    const rows = await page.$$eval('tr[data-actual]', (trs) => trs.map((tr) => [tr.getAttribute('data-actual'), tr.getAttribute('data-state')]));
    // After the correction the original's billed lines are Adjusted but still its lines, all matched.
    expect(rows.map(([id]) => id).sort()).toEqual(trace.reconciliation.rows.map((r: { actualId: string }) => r.actualId).sort());
    expect(rows.length).toBe(8);
    expect(rows.every(([, state]) => state === 'Matched')).toBe(true);
    const steps = await page.$$eval('[data-step]', (lis) => lis.map((li) => li.getAttribute('data-state')));
    expect(steps).toEqual(['done', 'done', 'done', 'done', 'done', 'done', 'done']);
    expect(await page.$$eval('tr[data-detail]', (trs) => trs.length)).toBe(7);
    // Corrected by the corrective invoice, which links back.
    const correctedBy = await page.$$eval('[data-section="corrected-by"] a', (as) => as.map((a) => (a as unknown as { href: string }).href));
    expect(correctedBy.some((h) => h.includes(`/console/invoices/${correctiveId}`))).toBe(true);
    await shot(page, 'invoice-matched');
    await page.click(`[data-section="corrected-by"] a[href*="${correctiveId}"]`);
    await page.waitForURL(new RegExp(correctiveId));
    expect(await page.getAttribute('[data-reconciliation]', 'data-reconciliation')).toBe('Matched');
    const corrects = await page.$$eval('[data-section="corrects"] a', (as) => as.map((a) => (a as unknown as { href: string }).href));
    expect(corrects.some((h) => h.includes(`/console/invoices/${invoiceId}`))).toBe(true);
    await shot(page, 'invoice-corrective');
    await page.close();
  });

  let draftId: string;

  it("a Draft invoice's page shows what confirming it will create, and a name holding <script> is shown as text", async () => {
    const created = await system.http('POST', `dataverse/contracts/${DEMO_IDS.fabrikamContract}/invoices`, { taxPercent: '10', name: 'Data platform <script>window.__pwned = 1</script> & "more"' });
    expect(created.status, created.text).toBe(201);
    draftId = created.body.invoice.invoiceid;
    const page = await desk.newPage();
    await open(page, `console/invoices/${draftId}`);
    expect(await page.getAttribute('[data-preview]', 'data-preview')).toBe('Confirmable');
    const preview = (await system.http('GET', `dataverse/invoices/${draftId}/confirmation-preview`)).body;
    expect(await page.textContent('[data-section="preview-counts"]')).toContain(`${preview.plan.counts.newActuals} new actual(s)`);
    expect(await page.textContent('[data-section="preview-proposal"]')).toContain(preview.plan.proposal.expectedAmount);
    expect(await page.getAttribute('[data-reconciliation]', 'data-reconciliation')).toBe('NotConfirmed');
    // The name is text: no script ran, no element was made of it.
    expect(await page.textContent('[data-field="name"]')).toBe('Data platform <script>window.__pwned = 1</script> & "more"');
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await page.$$eval('script', (scripts) => scripts.length)).toBe(1);
    await shot(page, 'invoice-draft-preview');
    expect((await system.dataverse.invoices.get(draftId, draftId))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);
    await page.close();
  });

  it('an invoice with a missing F&O line shows the difference', async () => {
    expect((await system.http('POST', `dataverse/invoices/${draftId}/confirm`, {})).status).toBe(202);
    const trace = await waitFor(
      'the Fabrikam invoice imported',
      async () => {
        const t = (await system.http('GET', `invoices/${draftId}/trace`)).body;
        return t.reconciliation.status === 'Matched' ? t : undefined;
      },
      60_000,
      300,
    );
    // One proposal line lost on the F&O side.
    const lost = trace.reconciliation.rows.find((r: { classification: string }) => r.classification === 'Time') ?? trace.reconciliation.rows[0];
    await system.finance.proposalLines.delete(trace.invoicenumber, lost.actualId);
    const page = await desk.newPage();
    await open(page, `console/invoices/${draftId}`);
    expect(await page.getAttribute('[data-reconciliation]', 'data-reconciliation')).toBe('Mismatch');
    expect(await page.getAttribute(`tr[data-actual="${lost.actualId}"]`, 'data-state')).toBe('Missing');
    expect(await page.getAttribute(`tr[data-actual="${lost.actualId}"]`, 'class')).toContain('missing');
    expect(await page.textContent('[data-section="problems"]')).toContain(`Billed actual ${lost.actualId}`);
    // The rest still match.
    const states = await page.$$eval('tr[data-actual]', (trs) => trs.map((tr) => tr.getAttribute('data-state')));
    expect(states.filter((s) => s === 'Missing')).toHaveLength(1);
    await shot(page, 'invoice-missing-line');
    await page.close();
  });

  it('errors: a recorded error with its reason, message id and payload; its replay button replays it; a payload holding <script> is text', async () => {
    await system.send('proposal-postings', { proposalId: 'PI-NOT-THERE' }, { messageId: 'browser-posting-1' });
    await system.send('invoice-confirmations', '<script>window.__pwned = 2</script>', { messageId: 'browser-xss-1' });
    const rows = await waitFor(
      'the two error rows',
      async () => {
        const listed = await system.errorLog.list({ status: 'Open' });
        const posting = listed.find((r) => r.MessageId === 'browser-posting-1');
        const xss = listed.find((r) => r.MessageId === 'browser-xss-1');
        return posting && xss ? { posting, xss } : undefined;
      },
      30_000,
    );
    const page = await desk.newPage();
    await open(page, 'console/errors', { status: 'Open' });
    const row = page.locator(`tr[data-error="${rows.posting.Id}"]`);
    expect(await row.locator('[data-field="message"]').textContent()).toContain('PI-NOT-THERE');
    expect(await row.textContent()).toContain('browser-posting-1');
    expect(await row.locator('[data-field="payload"]').textContent()).toContain('"proposalId":"PI-NOT-THERE"');
    const xss = page.locator(`tr[data-error="${rows.xss.Id}"]`);
    expect(await xss.locator('[data-field="payload"]').textContent()).toBe('<script>window.__pwned = 2</script>');
    expect(await xss.textContent()).toContain('cannot replay');
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await page.click('tr[data-error] details summary');
    await shot(page, 'errors');

    // Replay: the button posts to POST api/errors/{id}/replay with the key, says so, then the page reloads.
    const reloaded = page.waitForEvent('load');
    await row.locator('button').click();
    await page.waitForSelector(`tr[data-error="${rows.posting.Id}"] .replay-result.ok`);
    expect(await row.locator('.replay-result').textContent()).toMatch(/^Replayed as message \S+ on proposal-postings/);
    await reloaded;
    // The row is no longer Open; it is listed as Replayed.
    expect(await page.locator(`tr[data-error="${rows.posting.Id}"]`).count()).toBe(0);
    await open(page, 'console/errors', { status: 'Replayed' });
    expect(await page.getAttribute(`tr[data-error="${rows.posting.Id}"]`, 'data-status')).toBe('Replayed');
    const after = await system.errorLog.byId(rows.posting.Id);
    expect(after?.Status).toBe('Replayed');
    expect(after?.ReplayCount).toBe(1);
    expect(after?.ReplayedBy).toBe('console');
    // The replayed message was taken and failed again for the same reason: a new row names it.
    await waitFor('the replayed message to be recorded', async () => (await system.errorLog.list({ source: 'postInvoiceProposal' })).some((r) => r.MessageId === after?.LastReplayMessageId), 30_000);
    await page.close();
  });

  it('staging: rows Waiting or in Error, grouped by reason', async () => {
    const base = {
      TransType: 'BilledSales' as const,
      TransactionClassification: 'Time' as const,
      BillingType: 'Chargeable' as const,
      Quantity: '1',
      UnitPrice: '100.00',
      Amount: '100.00',
      TransactionCurrencyId: 'USD',
      AccountingDate: '2026-11-20',
      DocumentDate: '2026-11-20',
      ContractId: DEMO_IDS.fabrikamContract,
      ContractLineId: DEMO_IDS.fabrikamEngineering,
      ProjectId: DEMO_IDS.fabrikamProject,
    };
    // Rows written straight to staging (no index entry: the import leaves them as they are).
    await system.finance.staging.upsertMany([
      { ...base, ActualId: '00000000-0000-4000-8000-000000000001', InvoiceProposalId: 'PI-900001', ImportStatus: 'Waiting', ImportMessage: 'Invoice proposal not synchronized yet' },
      { ...base, ActualId: '00000000-0000-4000-8000-000000000002', InvoiceProposalId: 'PI-900001', ImportStatus: 'Waiting', ImportMessage: 'Invoice proposal not synchronized yet' },
      { ...base, ActualId: '00000000-0000-4000-8000-000000000003', TransType: 'UnbilledSales', TransactionCurrencyId: 'CHF', ImportStatus: 'Error', ImportMessage: 'No exchange rate from CHF to USD on 2026-11-20 <b>bold?</b>' },
    ]);
    const page = await desk.newPage();
    await open(page, 'console/staging');
    const groups = await page.$$eval('section.group', (sections) => sections.map((s) => [s.getAttribute('data-reason'), s.querySelectorAll('tbody tr').length]));
    expect(groups).toEqual(
      expect.arrayContaining([
        ['Invoice proposal not synchronized yet', 2],
        ['No exchange rate from CHF to USD on 2026-11-20 <b>bold?</b>', 1],
      ]),
    );
    expect(await page.$$eval('section.group h3 b', (bs) => bs.length)).toBe(0);
    await shot(page, 'staging');
    await open(page, 'console/proposals');
    expect(await page.$$eval('tbody tr', (trs) => trs.length)).toBe(3);
    await shot(page, 'proposals');
    await open(page, 'console/backlog');
    await shot(page, 'backlog');
    await page.close();
  });

  it('reads on a phone: the pages fit the screen, tables scroll in their frames', async () => {
    const page = await phone.newPage();
    for (const [route, name] of [
      ['console', 'phone-overview'],
      [`console/invoices/${invoiceId}`, 'phone-invoice'],
      ['console/errors', 'phone-errors'],
      ['console/invoices', undefined],
      ['console/staging', undefined],
    ] as const) {
      await open(page, route);
      expect(await fitsWidth(page), route).toBe(true);
      if (name) await shot(page, name);
    }
    await page.close();
  });

  it('answers an unknown invoice with a page saying so (404), and a bad query with a 400 naming the field', async () => {
    const page = await desk.newPage();
    const missing = await page.goto(consoleUrl('console/invoices/3f2504e0-4f89-41d3-9a0c-0305e82c3301'));
    expect(missing?.status()).toBe(404);
    expect(await page.textContent('[data-status="404"]')).toContain('was not found');
    const bad = await page.goto(consoleUrl('console/errors', { category: 'Nonsense' }));
    expect(bad?.status()).toBe(400);
    expect(await page.textContent('[data-status="400"]')).toContain('category');
    await page.close();
  });

  it('wants the function key: a page or asset without it is refused, as the JSON routes are', async () => {
    for (const route of ['console', 'console/invoices', 'console/assets/console.css', `dataverse/invoices/${invoiceId}/confirmation-preview`, 'openapi.json']) {
      expect((await fetch(`${system.host.baseUrl}/api/${route}`)).status, route).toBe(401);
      expect((await fetch(`${system.host.baseUrl}/api/${route}?code=${KEY}`)).status, route).toBe(200);
    }
  });

  it('no request left the machine while the pages loaded', () => {
    expect(requested.length).toBeGreaterThan(30);
    expect(leaving).toEqual([]);
    const host = new URL(system.host.baseUrl).host;
    expect(requested.filter((u) => !u.startsWith('data:') && new URL(u).host !== host)).toEqual([]);
  });
});
