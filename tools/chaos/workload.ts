/**
 * The load the chaos run drives through the public routes, as the two sides' users would:
 *
 * - Rounds, contract by contract: approve time, an expense and material (POST dataverse/approvals),
 *   mark them ready, create the proforma invoice, edit it (a quantity down; every other round an
 *   ILD deleted, its actual left for the next round; every third round a manual fee ILD), confirm
 *   it, wait for the proposal to be complete in F&O, post it, wait for the invoice to be Posted.
 * - Storms on their own contracts: three invoice creations and a mark-ready at once, then on each
 *   invoice made, two confirmations, two ILD edits and an ILD deletion at once; then a last
 *   invoice for whatever went back to the backlog.
 * - Probes with a known right answer (findings when the answer differs): a new invoice after a
 *   confirmed one on the same backlog must get a new id; confirming a Posted invoice must be
 *   refused (409); editing an ILD once its confirmation is requested must be refused (409), and so
 *   must editing a Posted invoice.
 *
 * A request that gets no answer (host killed), a 5xx or a 409 "send the request again" is sent
 * again with the same body and Idempotency-Key, with back-off, until the run's deadline, as a
 * client would. An invoice whose confirmation was accepted (202/200) with at least one ILD is
 * "well-formed" and expected to end Posted.
 */
import { randomUUID } from 'node:crypto';
import { deterministicGuid } from '../../shared/core/ids';
import { InvoiceStatus, TransactionClass } from '../../shared/core/options';
import { seedContract, type ContractFixture } from '../../tests/kit/fixtures/dataverse';
import type { ChaosSystem, Purpose, Reply } from './system';
import { Unreachable } from './system';
import { sleep } from './processes';

export const RATES = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2020-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.091200', ValidFrom: '2026-01-01' },
];

export interface InvoiceRecord {
  invoiceId: string;
  invoicenumber: string;
  contractId: string;
  origin: string;
  ilds: number;
  createdAt: string;
  confirm?: { status: number; at: string };
  /** Its confirmation was accepted with at least one ILD: it must end Posted. */
  expected: boolean;
  proposalCompleteAt?: string;
  postRequestedAt?: string;
  postedAt?: string;
  /** The last thing seen of it (for the report when it did not end Posted). */
  state: string;
  notes: string[];
}

export interface Finding {
  /** 'bug': a wrong answer or state. 'minor': a right outcome with a misleading answer on the way. */
  severity: 'bug' | 'minor';
  kind: string;
  detail: string;
  keys: Record<string, string>;
}

export interface WorkloadPlan {
  contracts: number;
  /** Most rounds per contract; rounds start every `roundEveryMs` until `lastStart`. */
  rounds: number;
  roundEveryMs: number;
  storms: number;
  probes: boolean;
  /** A round is not started after this (ms since epoch). */
  lastStart: number;
}

const problemDetail = (r: Reply): string => (typeof r.body === 'object' && r.body !== null && typeof r.body.detail === 'string' ? (r.body.detail as string) : r.text.slice(0, 300));

export class Workload {
  readonly invoices = new Map<string, InvoiceRecord>();
  readonly findings: Finding[] = [];
  readonly notes: string[] = [];
  readonly requests: Record<string, number> = {};
  readonly contracts: ContractFixture[] = [];
  /** Pipelines still following an invoice. */
  #following = new Set<Promise<void>>();
  /** Bumped whenever a pipeline sees progress (settle waits for it to stand still). */
  progress = 0;
  #stop = false;
  #deadline: number;

  constructor(
    private readonly sys: ChaosSystem,
    private readonly runId: string,
    private readonly log: (line: string) => void,
    deadline: number,
  ) {
    this.#deadline = deadline;
  }

  set deadline(at: number) {
    this.#deadline = at;
  }

  get deadline(): number {
    return this.#deadline;
  }

  /** Pipelines give up (their invoices are reported with the last state seen). */
  stop(): void {
    this.#stop = true;
  }

  get following(): number {
    return this.#following.size;
  }

  #expired(): boolean {
    return this.#stop || Date.now() > this.#deadline;
  }

  #id(...parts: (string | number)[]): string {
    return deterministicGuid('chaos', this.runId, ...parts.map(String));
  }

  /** Contracts (and their lines) and exchange rates: written to the tables directly, as Dataverse and F&O master data. */
  async seed(count: number): Promise<ContractFixture[]> {
    await this.sys.finance.exchangeRates.upsertMany(RATES);
    for (let i = 0; i < count; i++) {
      const fx = await seedContract(this.sys.dataverse, { key: `chaos-${this.runId}-${i}`, currency: i % 2 === 0 ? 'EUR' : 'USD' });
      this.contracts.push(fx);
    }
    return this.contracts;
  }

  /** One request, sent again on no answer, 5xx or a "send the request again" 409, until the deadline. */
  async call(name: string, method: string, route: string, body?: unknown, options: { purpose?: Purpose; idempotencyKey?: string; once?: boolean } = {}): Promise<Reply> {
    const headers = options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : undefined;
    for (let attempt = 0; ; attempt++) {
      this.requests[name] = (this.requests[name] ?? 0) + 1;
      let reply: Reply | undefined;
      let failure: string | undefined;
      try {
        reply = await this.sys.http(method, route, body, { purpose: options.purpose ?? 'workload', ...(headers ? { headers } : {}) });
      } catch (error) {
        if (!(error instanceof Unreachable)) throw error;
        failure = error.message;
      }
      const retry = reply === undefined || reply.status >= 500 || (reply.status === 409 && /send (the|this) request again/i.test(problemDetail(reply)));
      if (!retry || options.once) {
        if (reply) return reply;
        throw new Unreachable(failure ?? 'no answer');
      }
      if (this.#expired()) {
        if (reply) return reply;
        throw new Unreachable(`${method} /api/${route}: no answer before the deadline (${failure ?? ''})`);
      }
      await sleep(Math.min(5_000, 250 * 2 ** Math.min(attempt, 5)) + Math.floor(Math.random() * 250));
    }
  }

  #record(view: { invoice: { invoiceid: string; invoicenumber: string; salesorderid?: string }; details: unknown[] }, contractId: string, origin: string): InvoiceRecord {
    const existing = this.invoices.get(view.invoice.invoiceid);
    if (existing) {
      existing.ilds = view.details.length;
      existing.notes.push(`also answered to ${origin}`);
      return existing;
    }
    const rec: InvoiceRecord = {
      invoiceId: view.invoice.invoiceid,
      invoicenumber: view.invoice.invoicenumber,
      contractId,
      origin,
      ilds: view.details.length,
      createdAt: new Date().toISOString(),
      expected: false,
      state: 'Draft',
      notes: [],
    };
    this.invoices.set(rec.invoiceId, rec);
    return rec;
  }

  async #approve(fx: ContractFixture, key: string, entries: { cls: 'Time' | 'Expense' | 'Material'; quantity: string; price: string; fixed?: boolean }[]): Promise<string[]> {
    const line = (fixed?: boolean) => (fixed ? fx.fixedLine : fx.tmLine)!.salesorderdetailid;
    const reply = await this.call('approve', 'POST', 'dataverse/approvals', {
      entries: entries.map((e, i) => ({
        entryId: this.#id(fx.key, key, i),
        contractLineId: line(e.fixed),
        classification: e.cls,
        quantity: e.quantity,
        price: e.price,
        costPrice: e.cls === 'Expense' ? undefined : '60.00',
        documentDate: '2026-02-02',
        description: `chaos ${key} ${i}`,
      })),
    });
    if (reply.status !== 201) throw new Error(`approvals for ${key} answered ${reply.status}: ${problemDetail(reply)}`);
    const ids = (reply.body.entries as { unbilledActualId?: string }[]).map((e) => e.unbilledActualId).filter((x): x is string => x !== undefined);
    return ids;
  }

  async #ready(fx: ContractFixture, ids: string[]): Promise<Reply> {
    return this.call('ready', 'POST', 'dataverse/actuals/ready', { actualIds: ids, ready: true, contractId: fx.contract.salesorderid });
  }

  async #create(fx: ContractFixture, origin: string): Promise<{ reply: Reply; rec?: InvoiceRecord }> {
    const reply = await this.call('createInvoice', 'POST', `dataverse/contracts/${fx.contract.salesorderid}/invoices`, { taxPercent: '19' }, { idempotencyKey: randomUUID() });
    if (reply.status !== 201) return { reply };
    return { reply, rec: this.#record(reply.body, fx.contract.salesorderid, origin) };
  }

  async #confirm(rec: InvoiceRecord): Promise<Reply> {
    const reply = await this.call('confirm', 'POST', `dataverse/invoices/${rec.invoiceId}/confirm`, { confirmedBy: 'chaos' });
    if (reply.status === 202 || reply.status === 200) {
      rec.confirm ??= { status: reply.status, at: new Date().toISOString() };
      if (rec.ilds > 0 && !rec.expected) {
        rec.expected = true;
        this.#follow(rec);
      }
      rec.state = 'ConfirmationRequested';
    } else {
      rec.notes.push(`confirm answered ${reply.status}: ${problemDetail(reply)}`);
    }
    return reply;
  }

  async #view(invoiceId: string): Promise<Reply> {
    return this.call('getInvoice', 'GET', `dataverse/invoices/${invoiceId}`);
  }

  #follow(rec: InvoiceRecord): void {
    const p: Promise<void> = this.#followInvoice(rec)
      .catch((error: unknown) => {
        rec.notes.push(`follow failed: ${error instanceof Error ? error.message : String(error)}`);
      })
      .finally(() => this.#following.delete(p));
    this.#following.add(p);
  }

  /** From the confirmation request to Posted: wait for the complete proposal, post it, wait for Posted. */
  async #followInvoice(rec: InvoiceRecord): Promise<void> {
    const num = encodeURIComponent(rec.invoicenumber);
    const poll = () => sleep(1_500 + Math.floor(Math.random() * 1_000));
    while (!this.#expired()) {
      if (!rec.proposalCompleteAt) {
        const p = await this.call('getProposal', 'GET', `finance/proposals/${num}`).catch(() => undefined);
        if (p?.status === 200) {
          const rc = p.body.reconciliation as { complete?: boolean; importedLineCount?: number; expectedLineCount?: number } | undefined;
          if (p.body.proposal?.Status === 'Posted') {
            rec.proposalCompleteAt = new Date().toISOString();
            rec.postRequestedAt ??= rec.proposalCompleteAt;
          } else if (rc?.complete) {
            rec.proposalCompleteAt = new Date().toISOString();
            rec.state = 'ProposalComplete';
            this.progress += 1;
          } else {
            const s = `Proposal ${rc?.importedLineCount ?? '?'}/${rc?.expectedLineCount ?? '?'} lines`;
            if (s !== rec.state) this.progress += 1;
            rec.state = s;
          }
        } else if (p?.status === 404) {
          const v = await this.#view(rec.invoiceId).catch(() => undefined);
          const status = v?.status === 200 ? (v.body.invoice?.msdyn_projectinvoicestatus as number | undefined) : undefined;
          const s = status === InvoiceStatus.Confirmed ? 'Confirmed, no proposal yet' : status === InvoiceStatus.Posted ? 'Posted' : `invoice status ${String(status)}, no proposal yet`;
          if (s !== rec.state) this.progress += 1;
          rec.state = s;
        }
        if (!rec.proposalCompleteAt) {
          await poll();
          continue;
        }
      }
      if (!rec.postRequestedAt) {
        const r = await this.call('post', 'POST', `finance/proposals/${num}/post`, {});
        if (r.status === 202 || (r.status === 409 && /already posted/i.test(problemDetail(r)))) {
          rec.postRequestedAt = new Date().toISOString();
          rec.state = 'PostingRequested';
          this.progress += 1;
        } else {
          rec.notes.push(`post answered ${r.status}: ${problemDetail(r).slice(0, 200)}`);
          if (r.status === 409) rec.proposalCompleteAt = undefined; // not complete after all: wait again
          await poll();
          continue;
        }
      }
      const v = await this.#view(rec.invoiceId).catch(() => undefined);
      if (v?.status === 200 && v.body.invoice?.msdyn_projectinvoicestatus === InvoiceStatus.Posted) {
        rec.postedAt = new Date().toISOString();
        rec.state = 'Posted';
        this.progress += 1;
        return;
      }
      await poll();
    }
  }

  /** Edits on a fresh draft: the Time ILD down to 6, maybe delete the Material ILD, maybe add a fee. */
  async #edit(fx: ContractFixture, rec: InvoiceRecord, view: Reply, options: { remove: boolean; addFee: boolean }): Promise<void> {
    const details = view.body.details as { msdyn_invoicelinetransactionid: string; msdyn_transactionclassification: number; msdyn_quantity: string }[];
    const time = details.find((d) => d.msdyn_transactionclassification === TransactionClass.Time && d.msdyn_quantity !== '6');
    if (time) {
      const r = await this.call('editDetail', 'PATCH', `dataverse/invoices/${rec.invoiceId}/details/${time.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '6' });
      if (r.status !== 200) rec.notes.push(`PATCH quantity answered ${r.status}: ${problemDetail(r)}`);
    }
    const material = details.find((d) => d.msdyn_transactionclassification === TransactionClass.Material);
    if (options.remove && material && details.length > 1) {
      const r = await this.call('deleteDetail', 'DELETE', `dataverse/invoices/${rec.invoiceId}/details/${material.msdyn_invoicelinetransactionid}`);
      if (r.status === 200) rec.ilds -= 1;
      else rec.notes.push(`DELETE detail answered ${r.status}: ${problemDetail(r)}`);
    }
    if (options.addFee) {
      const r = await this.call('addDetail', 'POST', `dataverse/invoices/${rec.invoiceId}/details`, {
        msdyn_invoicelinetransactionid: this.#id(rec.invoiceId, 'fee'),
        msdyn_salescontractlineid: fx.tmLine!.salesorderdetailid,
        msdyn_transactionclassification: TransactionClass.Fee,
        msdyn_quantity: '1',
        msdyn_price: '50.00',
        taxPercent: '19',
      });
      if (r.status === 201) rec.ilds += 1;
      else rec.notes.push(`POST detail answered ${r.status}: ${problemDetail(r)}`);
    }
  }

  /** One round on a contract: approve, ready, invoice, edit, confirm; the invoice is then followed to Posted. */
  async round(fx: ContractFixture, r: number): Promise<void> {
    const unbilled = await this.#approve(fx, `round-${r}`, [
      { cls: 'Time', quantity: '8', price: '120.00' },
      { cls: 'Expense', quantity: '1', price: '245.50' },
      { cls: 'Material', quantity: '2', price: '75.25' },
      { cls: 'Time', quantity: '3', price: '0', fixed: true },
    ]);
    const ready = await this.#ready(fx, unbilled);
    if (ready.status !== 200) this.notes.push(`round ${r} of ${fx.contract.ordernumber}: mark ready answered ${ready.status}: ${problemDetail(ready)}`);
    const { reply, rec } = await this.#create(fx, `${fx.contract.ordernumber} round ${r}`);
    if (!rec) {
      this.notes.push(`round ${r} of ${fx.contract.ordernumber}: create invoice answered ${reply.status}: ${problemDetail(reply)}`);
      return;
    }
    await this.#edit(fx, rec, reply, { remove: r % 2 === 1, addFee: r % 3 === 2 });
    await this.#confirm(rec);
  }

  /** Concurrent creations, edits and confirmations on one contract. */
  async storm(fx: ContractFixture, s: number): Promise<void> {
    const ids = await this.#approve(fx, `storm-${s}`, [
      { cls: 'Time', quantity: '5', price: '110.00' },
      { cls: 'Time', quantity: '7', price: '110.00' },
      { cls: 'Expense', quantity: '1', price: '80.00' },
      { cls: 'Material', quantity: '4', price: '12.50' },
    ]);
    await this.#ready(fx, ids.slice(0, 2));
    const origin = `${fx.contract.ordernumber} storm ${s}`;
    const settled = await Promise.allSettled([this.#create(fx, origin), this.#create(fx, origin), this.#ready(fx, ids.slice(2)), this.#create(fx, origin)]);
    const made = new Map<string, { rec: InvoiceRecord; view: Reply }>();
    for (const x of settled) {
      if (x.status === 'fulfilled' && 'rec' in x.value && x.value.rec) made.set(x.value.rec.invoiceId, { rec: x.value.rec, view: x.value.reply });
    }
    this.log(`  storm ${s} on ${fx.contract.ordernumber}: ${made.size} invoice(s) from 3 concurrent creations`);
    await Promise.all(
      [...made.values()].map(async ({ rec, view }) => {
        const details = view.body.details as { msdyn_invoicelinetransactionid: string; msdyn_transactionclassification: number }[];
        const first = details[0];
        const last = details.length > 1 ? details[details.length - 1] : undefined;
        const ops: Promise<unknown>[] = [this.#confirm(rec), this.#confirm(rec)];
        if (first) {
          ops.push(this.call('editDetail', 'PATCH', `dataverse/invoices/${rec.invoiceId}/details/${first.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '4' }));
          ops.push(this.call('editDetail', 'PATCH', `dataverse/invoices/${rec.invoiceId}/details/${first.msdyn_invoicelinetransactionid}`, { msdyn_price: '99.00' }));
        }
        if (last) ops.push(this.call('deleteDetail', 'DELETE', `dataverse/invoices/${rec.invoiceId}/details/${last.msdyn_invoicelinetransactionid}`));
        const outcomes = await Promise.allSettled(ops);
        const v = await this.#view(rec.invoiceId).catch(() => undefined);
        if (v?.status === 200) rec.ilds = (v.body.details as unknown[]).length;
        const confirms = outcomes.slice(0, 2).map((o) => (o.status === 'fulfilled' ? (o.value as Reply) : undefined));
        // "Changed by someone else" is the right answer to a race; a rule refusal is not.
        const refused = confirms.find((c) => c?.status === 409 && !/changed by someone else/.test(problemDetail(c)));
        if (rec.expected && refused) {
          this.findings.push({
            severity: 'minor',
            kind: 'concurrent confirmation refused with a misleading reason',
            detail: `two POST dataverse/invoices/${rec.invoiceId}/confirm at once, racing two PATCHes of one ILD and a DELETE of another: one was accepted (the invoice ended consistent), the other answered 409 "${problemDetail(refused).slice(0, 300)}"; the ILD it names is likely the one being deleted (its actual already back to Ready, the ILD not yet removed), so the refusal tells the user to fix something that is not wrong`,
            keys: { invoiceId: rec.invoiceId, invoicenumber: rec.invoicenumber },
          });
        }
        if (!rec.expected && rec.ilds > 0) {
          // Nothing accepted its confirmation: once the edits are over, a draft with ILDs must be confirmable.
          const again = await this.#confirm(rec);
          if (again.status === 409) {
            this.findings.push({
              severity: 'bug',
              kind: 'created invoice cannot be confirmed',
              detail: `invoice ${rec.invoicenumber} answered 201 to a creation racing two other creations and a mark-ready, holds ${rec.ilds} ILD(s), and every confirmation is refused: "${problemDetail(again).slice(0, 400)}"`,
              keys: { invoiceId: rec.invoiceId, invoicenumber: rec.invoicenumber, contractId: fx.contract.salesorderid },
            });
          }
        }
      }),
    );
    // Whatever went back to the backlog (deleted ILDs, the second mark-ready) goes on one more invoice.
    const sweep = await this.#create(fx, `${origin} sweep`);
    if (sweep.rec) await this.#confirm(sweep.rec);
  }

  /** Requests with one right answer; a different answer is a finding. */
  async probes(fx: ContractFixture): Promise<void> {
    // 1. A confirmed invoice's id is never answered for a new draft over the same backlog.
    const [a] = await this.#approve(fx, 'probe-reuse', [{ cls: 'Time', quantity: '2', price: '100.00' }]);
    if (!a) return;
    await this.#ready(fx, [a]);
    const first = await this.#create(fx, `${fx.contract.ordernumber} probe reuse 1`);
    if (!first.rec) {
      this.notes.push(`probe reuse: create answered ${first.reply.status}: ${problemDetail(first.reply)}`);
      return;
    }
    const inv1 = first.rec;
    const ild = (first.reply.body.details as { msdyn_invoicelinetransactionid: string; msdyn_sourceactual?: string }[]).find((d) => d.msdyn_sourceactual === a);
    if (ild) {
      const del = await this.call('deleteDetail', 'DELETE', `dataverse/invoices/${inv1.invoiceId}/details/${ild.msdyn_invoicelinetransactionid}`, undefined, { purpose: 'probe' });
      if (del.status === 200) inv1.ilds -= 1;
    }
    const fee = await this.call(
      'addDetail',
      'POST',
      `dataverse/invoices/${inv1.invoiceId}/details`,
      { msdyn_invoicelinetransactionid: this.#id(inv1.invoiceId, 'probe-fee'), msdyn_salescontractlineid: fx.tmLine!.salesorderdetailid, msdyn_transactionclassification: TransactionClass.Fee, msdyn_quantity: '1', msdyn_price: '40.00' },
      { purpose: 'probe' },
    );
    if (fee.status === 201) inv1.ilds += 1;
    await this.#confirm(inv1);
    const confirmedAt = Date.now();
    while (!this.#expired() && Date.now() - confirmedAt < 90_000) {
      const v = await this.#view(inv1.invoiceId).catch(() => undefined);
      const st = v?.status === 200 ? (v.body.invoice?.msdyn_projectinvoicestatus as number) : undefined;
      if (st === InvoiceStatus.Confirmed || st === InvoiceStatus.Posted) break;
      await sleep(1_000);
    }
    const second = await this.#create(fx, `${fx.contract.ordernumber} probe reuse 2`);
    if (second.rec && second.rec.invoiceId === inv1.invoiceId) {
      this.findings.push({
        severity: 'bug',
        kind: 'invoice id reused',
        detail: `POST dataverse/contracts/${fx.contract.salesorderid}/invoices over actual ${a} (Ready again after its ILD was deleted from ${inv1.invoicenumber}, which was then confirmed with a manual fee ILD) answered the confirmed invoice ${inv1.invoicenumber} itself (201) instead of a new draft`,
        keys: { contractId: fx.contract.salesorderid, invoiceId: inv1.invoiceId, actualId: a },
      });
    } else if (second.rec) {
      // 2. Editing an ILD once the confirmation is requested is refused.
      const inv2 = second.rec;
      const d = (second.reply.body.details as { msdyn_invoicelinetransactionid: string }[])[0];
      await this.#confirm(inv2);
      if (d) {
        const edit = await this.call('editDetail', 'PATCH', `dataverse/invoices/${inv2.invoiceId}/details/${d.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '1' }, { purpose: 'probe' });
        if (edit.status < 300) {
          this.findings.push({
            severity: 'bug',
            kind: 'ILD edit accepted after confirmation requested',
            detail: `PATCH dataverse/invoices/${inv2.invoiceId}/details/${d.msdyn_invoicelinetransactionid} {"msdyn_quantity":"1"} right after POST .../confirm answered 202 was answered ${edit.status} (expected 409)`,
            keys: { invoiceId: inv2.invoiceId, detailId: d.msdyn_invoicelinetransactionid },
          });
        }
      }
    } else {
      this.notes.push(`probe reuse: the second create answered ${second.reply.status}: ${problemDetail(second.reply)}`);
    }
    // 3. Once Posted: confirming again and editing are refused.
    while (!this.#expired() && !inv1.postedAt) await sleep(2_000);
    if (!inv1.postedAt) return;
    const again = await this.call('confirm', 'POST', `dataverse/invoices/${inv1.invoiceId}/confirm`, {}, { purpose: 'probe' });
    if (again.status < 300) {
      this.findings.push({
        severity: 'bug',
        kind: 'confirm of a Posted invoice not refused',
        detail: `POST dataverse/invoices/${inv1.invoiceId}/confirm on Posted invoice ${inv1.invoicenumber} answered ${again.status} ${JSON.stringify(again.body).slice(0, 200)} (expected 409, as the queue path refuses it)`,
        keys: { invoiceId: inv1.invoiceId },
      });
    }
    const v = await this.#view(inv1.invoiceId);
    const pd = (v.body?.details as { msdyn_invoicelinetransactionid: string }[] | undefined)?.[0];
    if (pd) {
      const edit = await this.call('editDetail', 'PATCH', `dataverse/invoices/${inv1.invoiceId}/details/${pd.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '9' }, { purpose: 'probe' });
      if (edit.status < 300 || edit.status >= 500) {
        this.findings.push({
          severity: 'bug',
          kind: 'edit of a Posted invoice not refused',
          detail: `PATCH dataverse/invoices/${inv1.invoiceId}/details/${pd.msdyn_invoicelinetransactionid} on Posted ${inv1.invoicenumber} answered ${edit.status} (expected 409)`,
          keys: { invoiceId: inv1.invoiceId },
        });
      }
    }
  }

  /** Every contract's rounds, the storms and the probes, at once; resolves when every task has started its last invoice. */
  async run(plan: WorkloadPlan, onError: (line: string) => void): Promise<void> {
    const regular = this.contracts.slice(0, plan.contracts);
    const storms = this.contracts.slice(plan.contracts, plan.contracts + plan.storms);
    const probe = plan.probes ? this.contracts[plan.contracts + plan.storms] : undefined;
    const guard = (what: string, p: Promise<void>) =>
      p.catch((error: unknown) => {
        const line = `${what} stopped: ${error instanceof Error ? error.message : String(error)}`;
        this.notes.push(line);
        onError(line);
      });
    const tasks: Promise<void>[] = [];
    // Rounds keep coming while the faults run: one every roundEveryMs per contract, staggered.
    const stagger = Math.floor(plan.roundEveryMs / Math.max(1, regular.length));
    regular.forEach((fx, i) =>
      tasks.push(
        guard(
          `rounds of ${fx.contract.ordernumber}`,
          (async () => {
            await sleep(i * stagger);
            for (let r = 0; r < plan.rounds && Date.now() < plan.lastStart && !this.#stop; r++) {
              const started = Date.now();
              await this.round(fx, r);
              await sleep(Math.max(0, plan.roundEveryMs - (Date.now() - started)));
            }
          })(),
        ),
      ),
    );
    // Storms every three rounds' time, at most three per contract.
    storms.forEach((fx, s) =>
      tasks.push(
        guard(
          `storms on ${fx.contract.ordernumber}`,
          (async () => {
            await sleep(s * 2_000);
            for (let n = 0; n < 3 && Date.now() < plan.lastStart && !this.#stop; n++) {
              const started = Date.now();
              await this.storm(fx, n);
              await sleep(Math.max(0, 3 * plan.roundEveryMs - (Date.now() - started)));
            }
          })(),
        ),
      ),
    );
    if (probe) tasks.push(guard(`probes on ${probe.contract.ordernumber}`, this.probes(probe)));
    await Promise.all(tasks);
  }

  /** Until every followed invoice is Posted or given up. */
  async followed(): Promise<void> {
    while (this.#following.size) await Promise.all([...this.#following]);
  }
}
