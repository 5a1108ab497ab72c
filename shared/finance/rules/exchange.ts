/**
 * Exchange rates on the F&O side (`foExchangeRates`): which rate applies to an amount on a date,
 * and the conversion of a transaction-currency amount into the accounting currency.
 *
 * Decisions:
 * - A rate row "FROM-TO" means 1 FROM = Rate TO. Only the direct pair is used; an inverse row
 *   (TO-FROM) is not inverted, because F&O keeps a rate per direction and inverting would
 *   invent a rate nobody entered.
 * - The rate that applies on a date is the one with the latest ValidFrom on or before that date
 *   (yyyy-MM-dd compares correctly as a string). None such: no rate, and the caller refuses
 *   with `missingRateReason`.
 * - Rates are returned with 6 decimals; converted amounts with 2 (money.ts rounds, half away
 *   from zero, so a negative amount converts to exactly the negative of its positive twin).
 */
import type { ExchangeRate } from '../records';
import { amount, dec, rate, type DecimalInput } from '../../core/money';

/** The rate of one unit of `same` currency in itself. */
export const UNIT_RATE = '1.000000';

/**
 * The rate from `from` to `to` that applies on `date` (yyyy-MM-dd), as a 6-decimal string.
 * Same currency: "1.000000". Otherwise the rate with the latest ValidFrom on or before `date`;
 * undefined when there is none.
 */
export function findRate(rates: readonly ExchangeRate[], from: string, to: string, date: string): string | undefined {
  if (from === to) return UNIT_RATE;
  let best: ExchangeRate | undefined;
  for (const r of rates) {
    if (r.FromCurrency !== from || r.ToCurrency !== to) continue;
    if (r.ValidFrom > date) continue;
    if (best === undefined || r.ValidFrom > best.ValidFrom) best = r;
  }
  return best === undefined ? undefined : rate(best.Rate);
}

/** An amount in the accounting currency: `value` x `exchangeRate`, rounded to 2 decimals. */
export function toAccounting(value: DecimalInput, exchangeRate: DecimalInput): string {
  return amount(dec(value).times(dec(exchangeRate)));
}

/** The reason a person reads when a rate is missing, naming both currencies and the date. */
export function missingRateReason(from: string, to: string, date: string): string {
  return `No exchange rate from ${from} to ${to} on or before ${date}`;
}

export type RateLookup = { ok: true; rate: string } | { ok: false; reason: string };

/** `findRate`, with the refusal reason already worded when there is no rate. */
export function lookupRate(rates: readonly ExchangeRate[], from: string, to: string, date: string): RateLookup {
  const found = findRate(rates, from, to, date);
  return found === undefined ? { ok: false, reason: missingRateReason(from, to, date) } : { ok: true, rate: found };
}
