/**
 * Hostile numbers and ids at the edges (issue 14, found by the chaos harness's fuzz): 60-digit
 * quantities, 30-decimal amounts and 250,000-character proposal ids are refused by the schemas,
 * with a reason, before anything computes or stores them.
 */
import { describe, expect, it } from 'vitest';
import { amountString, decimalString } from '../../shared/core/fields';
import { nonNegativeDecimal, taxAmount } from '../../shared/dataverse/rules/requestFields';
import { invoiceProposalMessage, proposalIdText, proposalPostingMessage } from '../../shared/messages';

const reason = (result: { success: boolean; error?: { issues: { message: string }[] } }) => (result.success ? undefined : result.error!.issues.map((i) => i.message).join('; '));

describe('numbers at the edges', () => {
  it('a decimal string has at most 20 digits before the point and 12 after', () => {
    expect(decimalString.safeParse('12345678901234567890.123456789012').success).toBe(true);
    expect(reason(decimalString.safeParse('1'.repeat(21)))).toContain('at most 20 digits');
    expect(reason(decimalString.safeParse('1.1234567890123'))).toContain('12 after');
    expect(reason(decimalString.safeParse('1e5'))).toContain('decimal string');
  });

  it('an amount has at most 2 decimals', () => {
    expect(amountString.safeParse('-1045.50').success).toBe(true);
    expect(reason(amountString.safeParse('10.005'))).toContain('at most 2 decimals');
  });

  it('a quantity, price or tax a person enters stays below one trillion', () => {
    expect(nonNegativeDecimal.safeParse('999999999999.5').success).toBe(true);
    expect(reason(nonNegativeDecimal.safeParse('1'.repeat(13)))).toContain('below one trillion');
    expect(reason(nonNegativeDecimal.safeParse('1'.repeat(60)))).toContain('below one trillion');
    expect(reason(taxAmount.safeParse('1'.repeat(13)))).toContain('below one trillion');
  });
});

describe('proposal ids', () => {
  it('are table keys: at most 200 characters, no / \\ # ? or control characters', () => {
    expect(proposalIdText.safeParse('PI-000001').success).toBe(true);
    expect(reason(proposalIdText.safeParse('P'.repeat(250_000)))).toContain('at most 200 characters');
    expect(reason(proposalIdText.safeParse("PI-1/'or'1"))).toContain('table key');
    expect(reason(proposalIdText.safeParse('PI-1\u0000'))).toContain('table key');
    expect(proposalPostingMessage.safeParse({ proposalId: 'P'.repeat(201) }).success).toBe(false);
  });

  it('a proposal header with a forged 30-decimal amount or a huge id is refused', () => {
    const header = {
      proposalId: 'PI-000001',
      invoiceId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      contractId: '3f2504e0-4f89-41d3-9a0c-0305e82c3302',
      customerId: '3f2504e0-4f89-41d3-9a0c-0305e82c3303',
      customerAccount: 'C-1',
      currencyCode: 'EUR',
      invoiceDate: '2026-11-25',
      expectedLineCount: 1,
      expectedAmount: '100.00',
      expectedTax: '19.00',
      confirmedOn: '2026-11-25T10:00:00.000Z',
    };
    expect(invoiceProposalMessage.safeParse(header).success).toBe(true);
    expect(reason(invoiceProposalMessage.safeParse({ ...header, expectedAmount: `${'9'.repeat(30)}.${'9'.repeat(30)}` }))).toContain('at most 20 digits');
    expect(reason(invoiceProposalMessage.safeParse({ ...header, expectedAmount: '1.001' }))).toContain('at most 2 decimals');
    expect(reason(invoiceProposalMessage.safeParse({ ...header, proposalId: 'P'.repeat(250_000) }))).toContain('at most 200 characters');
  });
});
