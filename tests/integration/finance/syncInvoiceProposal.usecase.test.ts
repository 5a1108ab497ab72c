import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { BusinessError } from '../../../shared/core/errors';
import { syncInvoiceProposal } from '../../../shared/finance/syncInvoiceProposal';
import { financeSide, id, proposalMessage, scenario, type FinanceSide } from '../../kit/fixtures/finance';

let azurite: LocalAzurite;
let side: FinanceSide;
beforeAll(async () => {
  azurite = await startAzurite();
  side = financeSide(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

const sync = (message: Parameters<typeof syncInvoiceProposal>[1]) => syncInvoiceProposal({ finance: side.finance }, message);
const header = (proposalId: string) => side.finance.proposals.get(proposalId, proposalId);

describe('syncInvoiceProposal on Azurite', () => {
  it('creates the Open header with the expected count and amount, and a redelivery changes nothing', async () => {
    const s = scenario('header');
    const message = proposalMessage(s, ['100.00', '250.50']);
    expect(await sync(message)).toBe('created');
    const created = await header(s.proposalId);
    expect(created).toMatchObject({
      ProposalId: s.proposalId,
      InvoiceId: s.invoiceId,
      ContractId: s.contractId,
      CustomerAccount: 'CUST-001',
      CurrencyCode: 'USD',
      InvoiceDate: '2024-03-31',
      ExpectedLineCount: 2,
      ExpectedAmount: '350.50',
      ImportedLineCount: 0,
      ImportedAmount: '0.00',
      Status: 'Open',
    });
    expect(await sync(message)).toBe('unchanged');
    expect((await header(s.proposalId))?.etag).toBe(created?.etag);
  });

  it('creates a new header without reading it first; a redelivery reads it once and writes nothing', async () => {
    const s = scenario('no-read');
    const proposals = side.finance.proposals;
    let reads = 0;
    const counted = Object.assign(Object.create(Object.getPrototypeOf(proposals) as object) as typeof proposals, proposals, {
      get: (pk: string, rk: string) => {
        reads++;
        return proposals.get(pk, rk);
      },
    });
    const finance = { ...side.finance, proposals: counted };
    const message = proposalMessage(s, ['12.00']);
    expect(await syncInvoiceProposal({ finance }, message)).toBe('created');
    expect(reads).toBe(0);
    expect(await header(s.proposalId)).toMatchObject({ ExpectedLineCount: 1, ExpectedAmount: '12.00', ImportedLineCount: 0, Status: 'Open' });
    const etag = (await header(s.proposalId))?.etag;
    expect(await syncInvoiceProposal({ finance }, message)).toBe('unchanged');
    expect(reads).toBe(1);
    expect((await header(s.proposalId))?.etag).toBe(etag);
  });

  it('keeps the imported counters when the header is sent again with new figures', async () => {
    const s = scenario('counters');
    await sync(proposalMessage(s, ['10.00']));
    const stored = (await header(s.proposalId))!;
    const { etag, ...rest } = stored;
    await side.finance.proposals.replaceIfMatch({ ...rest, ImportedLineCount: 1, ImportedAmount: '10.00' }, etag);
    expect(await sync(proposalMessage(s, ['10.00', '5.00']))).toBe('updated');
    expect(await header(s.proposalId)).toMatchObject({ ExpectedLineCount: 2, ExpectedAmount: '15.00', ImportedLineCount: 1, ImportedAmount: '10.00' });
  });

  it('counts lines that exist before the header is created', async () => {
    const s = scenario('early-lines');
    for (const [i, value] of ['20.00', '30.25'].entries()) {
      await side.finance.proposalLines.createIfAbsent({
        ProposalId: s.proposalId,
        LineId: id('early', i),
        ActualId: id('early', i),
        ProjectId: s.projectId,
        ContractLineId: s.contractLineId,
        TransType: 'Hour',
        LineProperty: 'Chargeable',
        Quantity: '1',
        SalesPrice: value,
        LineAmount: value,
        SalesTaxAmount: '0.00',
        CurrencyCode: 'USD',
      });
    }
    await sync(proposalMessage(s, ['20.00', '30.25']));
    expect(await header(s.proposalId)).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '50.25', ExpectedLineCount: 2, ExpectedAmount: '50.25' });
  });

  it('never touches a posted proposal', async () => {
    const s = scenario('posted');
    await sync(proposalMessage(s, ['10.00']));
    const { etag, ...rest } = (await header(s.proposalId))!;
    await side.finance.proposals.replaceIfMatch({ ...rest, Status: 'Posted', CustomerInvoiceId: 'CIV-000001', ImportedLineCount: 1, ImportedAmount: '10.00' }, etag);
    const posted = await header(s.proposalId);
    expect(await sync(proposalMessage(s, ['99.00', '1.00']))).toBe('posted');
    expect(await header(s.proposalId)).toEqual(posted);
  });

  it('refuses, as a business error, a header of another invoice with the same invoice number', async () => {
    const s = scenario('clash');
    await sync(proposalMessage(s, ['10.00']));
    const before = await header(s.proposalId);
    const other = { ...proposalMessage(s, ['70.00']), invoiceId: id('clash', 'other-invoice') };
    const error = await sync(other).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusinessError);
    expect((error as BusinessError).message).toMatch(new RegExp(`${s.proposalId} already belongs to invoice ${s.invoiceId}`));
    expect(await header(s.proposalId)).toEqual(before);
  });

  it('applies two deliveries racing on a new header once', async () => {
    const s = scenario('race');
    const outcomes = await Promise.all([sync(proposalMessage(s, ['1.00'])), sync(proposalMessage(s, ['1.00'])), sync(proposalMessage(s, ['1.00']))]);
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'unchanged')).toHaveLength(2);
  });
});
