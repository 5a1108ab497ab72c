import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { formatCustomerInvoiceId } from '../../../shared/finance/rules/posting';
import { TableSequenceStore } from '../../../shared/storage/sequences';

let azurite: LocalAzurite;
let sequences: TableSequenceStore;

beforeAll(async () => {
  azurite = await startAzurite();
  sequences = new TableSequenceStore(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

const format = formatCustomerInvoiceId;

describe('integrationSequences on Azurite', () => {
  it('hands out 1..n without gaps or duplicates to concurrent keys', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `INV-${i}`);
    const got = await Promise.all(keys.map((key) => sequences.reserve('Concurrent', key, { format })));
    expect(got.map((r) => r.number).sort((a, b) => a - b)).toEqual(keys.map((_, i) => i + 1));
    expect(new Set(got.map((r) => r.value)).size).toBe(12);
    expect(got.every((r) => r.created)).toBe(true);
    expect(await sequences.last('Concurrent')).toBe(12);
  });

  it('gives a key one number however often and however concurrently it asks', async () => {
    const first = await sequences.reserve('Same', 'A', { format, details: '{"who":"first"}' });
    const again = await Promise.all(Array.from({ length: 6 }, () => sequences.reserve('Same', 'A', { format, details: '{"who":"later"}' })));
    const racing = await Promise.all(Array.from({ length: 6 }, () => sequences.reserve('Same', 'B', { format })));
    expect(first).toMatchObject({ number: 1, value: 'CIV-000001', created: true, details: '{"who":"first"}' });
    expect(again.every((r) => r.number === 1 && !r.created && r.details === '{"who":"first"}')).toBe(true);
    expect(new Set(racing.map((r) => r.number))).toEqual(new Set([2]));
    expect(racing.filter((r) => r.created)).toHaveLength(1);
    expect(await sequences.last('Same')).toBe(2);
    expect((await sequences.find('Same', 'B'))?.value).toBe('CIV-000002');
    expect(await sequences.find('Same', 'C')).toBeUndefined();
  });
});
