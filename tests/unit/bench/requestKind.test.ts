import { describe, expect, it } from 'vitest';
import { requestKind } from '../../../tools/bench/writeCounter';

describe('requestKind (what Azurite was asked, from method and URL)', () => {
  const base = '/devstoreaccount1';

  it('tells point reads and single writes by the key in the URL, decoded', () => {
    expect(requestKind('GET', `${base}/dvActuals(PartitionKey='c1',RowKey='a1')`, false)).toBe('point read dvActuals');
    expect(requestKind('GET', `${base}/dvActuals(PartitionKey=%27c1%27,RowKey=%27a1%27)?$select=x`, false)).toBe('point read dvActuals');
    for (const method of ['PUT', 'PATCH', 'MERGE', 'DELETE']) {
      expect(requestKind(method, `${base}/foProposals(PartitionKey='p',RowKey='p')`, false)).toBe('single write foProposals');
    }
  });

  it('tells queries, inserts, transactions and table operations', () => {
    expect(requestKind('GET', `${base}/dvInvoiceLineDetails()?$filter=PartitionKey%20eq%20'i1'&$top=1000`, false)).toBe('query dvInvoiceLineDetails');
    expect(requestKind('GET', `${base}/dvInvoices?$filter=x`, false)).toBe('query dvInvoices');
    expect(requestKind('POST', `${base}/foCustomerInvoices`, false)).toBe('single write foCustomerInvoices');
    expect(requestKind('POST', `${base}/$batch`, false)).toBe('transaction');
    expect(requestKind('POST', `${base}/Tables`, false)).toBe('table operation');
    expect(requestKind('DELETE', `${base}/Tables('benchBaselineB')`, false)).toBe('table operation');
    expect(requestKind('GET', `/`, false)).toBe('table operation');
  });

  it('sets the benchmark\'s own requests apart', () => {
    expect(requestKind('GET', `${base}/foActualsStaging()?$filter=x`, true)).toBe('bench query foActualsStaging');
    expect(requestKind('POST', `${base}/$batch`, true)).toBe('bench transaction');
  });

  it('keeps a URL that does not decode', () => {
    expect(requestKind('GET', `${base}/t%E0(PartitionKey='a',RowKey='b')`, false)).toBe('point read t%E0');
  });
});
