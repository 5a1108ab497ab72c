/**
 * Field schemas of the Dataverse side's requests (approvals, invoices, edits): quantities, prices,
 * tax amounts and tax rates as decimal strings with the limits a person can be told about.
 */
import { dec, isDecimalString } from '../../core/money';
import { decimalString } from '../../core/fields';

export { dateString } from '../../core/fields';

function decimals(value: string): number {
  const dot = value.indexOf('.');
  return dot < 0 ? 0 : value.length - dot - 1;
}

function integerDigits(value: string): number {
  const dot = value.indexOf('.');
  return (dot < 0 ? value.length : dot) - (value.startsWith('-') ? 1 : 0);
}

/** Largest number of digits before the decimal point a person may enter (999,999,999,999). */
const MAX_INTEGER_DIGITS = 12;
const withinRange = { message: `must be below one trillion (at most ${MAX_INTEGER_DIGITS} digits before the decimal point)` };

/** A quantity or price: a non-negative decimal string below one trillion with at most 6 decimals. */
export const nonNegativeDecimal = decimalString
  .refine((s) => !s.startsWith('-'), { message: 'must not be negative' })
  .refine((s) => integerDigits(s) <= MAX_INTEGER_DIGITS, withinRange)
  .refine((s) => decimals(s) <= 6, { message: 'may have at most 6 decimals' });

/** A quantity that must be above zero. */
export const positiveDecimal = nonNegativeDecimal.refine((s) => !isDecimalString(s) || dec(s).greaterThan(0), { message: 'must be greater than 0' });

/** A tax amount: non-negative, at most 2 decimals. */
export const taxAmount = decimalString
  .refine((s) => !s.startsWith('-'), { message: 'must not be negative' })
  .refine((s) => integerDigits(s) <= MAX_INTEGER_DIGITS, withinRange)
  .refine((s) => decimals(s) <= 2, { message: 'is an amount and may have at most 2 decimals' });

/** A tax rate in percent: "19" or "7.5", between 0 and 100, at most 4 decimals. */
export const taxPercent = decimalString
  .refine((s) => !isDecimalString(s) || (!s.startsWith('-') && dec(s).lessThanOrEqualTo(100)), { message: 'must be a percentage between 0 and 100 such as "19"' })
  .refine((s) => decimals(s) <= 4, { message: 'may have at most 4 decimals' });
