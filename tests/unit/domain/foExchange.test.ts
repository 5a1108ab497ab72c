import { describe, expect, it } from 'vitest';
import type { ExchangeRate } from '../../../shared/finance/records';
import { findRate, lookupRate, missingRateReason, toAccounting } from '../../../shared/finance/rules/exchange';

const rates: ExchangeRate[] = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.0845', ValidFrom: '2026-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.102300', ValidFrom: '2026-03-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.095', ValidFrom: '2026-02-01' },
  { FromCurrency: 'USD', ToCurrency: 'EUR', Rate: '0.91', ValidFrom: '2025-01-01' },
  { FromCurrency: 'GBP', ToCurrency: 'USD', Rate: '1.27', ValidFrom: '2026-06-01' },
];

describe('findRate', () => {
  it('same currency is 1.000000 with or without rates', () => {
    expect(findRate([], 'USD', 'USD', '2026-03-01')).toBe('1.000000');
    expect(findRate(rates, 'EUR', 'EUR', '1999-01-01')).toBe('1.000000');
  });

  it('takes the latest rate valid on or before the date, whatever the order of the rows', () => {
    expect(findRate(rates, 'EUR', 'USD', '2026-01-01')).toBe('1.084500');
    expect(findRate(rates, 'EUR', 'USD', '2026-01-31')).toBe('1.084500');
    expect(findRate(rates, 'EUR', 'USD', '2026-02-28')).toBe('1.095000');
    expect(findRate(rates, 'EUR', 'USD', '2026-03-01')).toBe('1.102300');
    expect(findRate(rates, 'EUR', 'USD', '2027-12-31')).toBe('1.102300');
  });

  it('none before the date, or no such pair: undefined (the inverse pair is not used)', () => {
    expect(findRate(rates, 'EUR', 'USD', '2025-12-31')).toBeUndefined();
    expect(findRate(rates, 'GBP', 'USD', '2026-05-31')).toBeUndefined();
    expect(findRate(rates, 'EUR', 'GBP', '2026-03-01')).toBeUndefined();
    expect(findRate([{ FromCurrency: 'USD', ToCurrency: 'EUR', Rate: '0.9', ValidFrom: '2020-01-01' }], 'EUR', 'USD', '2026-01-01')).toBeUndefined();
  });

  it('lookupRate words the refusal with both currencies and the date', () => {
    expect(lookupRate(rates, 'EUR', 'USD', '2025-12-31')).toEqual({
      ok: false,
      reason: 'No exchange rate from EUR to USD on or before 2025-12-31',
    });
    expect(missingRateReason('EUR', 'USD', '2026-03-01')).toBe('No exchange rate from EUR to USD on or before 2026-03-01');
    expect(lookupRate(rates, 'EUR', 'USD', '2026-02-15')).toEqual({ ok: true, rate: '1.095000' });
  });
});

describe('toAccounting', () => {
  it('converts and rounds to 2 decimals, half away from zero, symmetric for negatives', () => {
    expect(toAccounting('1600.00', '1.084500')).toBe('1735.20');
    expect(toAccounting('0.10', '1.05')).toBe('0.11'); // 0.105 -> 0.11
    expect(toAccounting('-0.10', '1.05')).toBe('-0.11');
    expect(toAccounting('333.33', '1.102300')).toBe('367.43'); // 367.429659
    expect(toAccounting('0.00', '1.1')).toBe('0.00');
    expect(toAccounting('-0.001', '1')).toBe('0.00');
  });
});
