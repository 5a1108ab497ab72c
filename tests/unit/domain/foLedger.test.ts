import { describe, expect, it } from 'vitest';
import { buildVoucher, credit, debit, isBalanced, voucherBalance } from '../../../shared/finance/rules/ledger';

describe('ledger vouchers', () => {
  it('debit keeps the sign, credit negates it', () => {
    expect(debit('ProjectCost', '10.5').amount).toBe('10.50');
    expect(credit('CostOffset', '10.5').amount).toBe('-10.50');
    expect(credit('CostOffset', '-10.50').amount).toBe('10.50');
    expect(credit('CostOffset', '0').amount).toBe('0.00');
  });

  it('numbers entries 1..n, drops zero lines and keeps references', () => {
    const entries = buildVoucher('V-1', '2026-03-01', [
      debit('WIPSalesValue', '0.00'),
      credit('AccruedRevenue', '0.00'),
      debit('ProjectCost', '100.00', { projectId: 'p', reference: 'r', text: 't' }),
      credit('CostOffset', '100.00'),
    ]);
    expect(entries).toEqual([
      { Voucher: 'V-1', LineNumber: 1, MainAccount: 'ProjectCost', Amount: '100.00', PostingDate: '2026-03-01', ProjectId: 'p', Reference: 'r', Text: 't' },
      { Voucher: 'V-1', LineNumber: 2, MainAccount: 'CostOffset', Amount: '-100.00', PostingDate: '2026-03-01' },
    ]);
    expect(voucherBalance(entries)).toBe('0.00');
    expect(isBalanced(entries)).toBe(true);
  });

  it('refuses to build an unbalanced voucher', () => {
    expect(() => buildVoucher('V-2', '2026-03-01', [debit('ProjectCost', '100.00'), credit('CostOffset', '99.99')])).toThrow(
      'Voucher V-2 does not balance: its lines sum to 0.01',
    );
  });
});
