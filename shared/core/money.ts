/**
 * Money, quantities, prices and rates are decimal strings on every boundary (contract.md).
 * All arithmetic goes through decimal.js; rounding happens here and nowhere else.
 * Amounts round to 2 decimals, half away from zero (ROUND_HALF_UP in decimal.js terms).
 */
import Decimal from 'decimal.js';

export const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });
export type Dec = InstanceType<typeof D>;

export type DecimalInput = string | number | Dec;

export function dec(value: DecimalInput): Dec {
  return new D(value);
}

/** An amount as stored: 2 decimals ("1600.00"). */
export function amount(value: DecimalInput): string {
  const s = dec(value).toDecimalPlaces(2, D.ROUND_HALF_UP).toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

/** A quantity or price as stored: no trailing zeros beyond what is needed, at most 6 decimals. */
export function quantity(value: DecimalInput): string {
  const d = dec(value).toDecimalPlaces(6, D.ROUND_HALF_UP);
  return d.isZero() ? '0' : d.toFixed();
}

/**
 * A unit price as stored when it arrives as a money value from outside (a Dataverse Money): at
 * least 2 decimals, as currency amounts show ("100.00"), at most 6, as request prices allow
 * ("12.3456"); trailing zeros past the second decimal dropped.
 */
export function price(value: DecimalInput): string {
  const d = dec(value).toDecimalPlaces(6, D.ROUND_HALF_UP);
  const s = d.toFixed(Math.max(2, d.decimalPlaces()));
  return /^-0\.0+$/.test(s) ? s.slice(1) : s;
}

/** An exchange rate as stored: 6 decimals ("1.084500"). */
export function rate(value: DecimalInput): string {
  return dec(value).toDecimalPlaces(6, D.ROUND_HALF_UP).toFixed(6);
}

/** quantity x price, rounded to an amount. */
export function extend(qty: DecimalInput, price: DecimalInput): string {
  return amount(dec(qty).times(dec(price)));
}

export function sum(values: Iterable<DecimalInput>): Dec {
  let total = new D(0);
  for (const v of values) total = total.plus(dec(v));
  return total;
}

/** The negative of a decimal string, keeping its scale ("1600.00" -> "-1600.00"). */
export function negate(value: string): string {
  if (dec(value).isZero()) return value.replace(/^-/, '');
  return value.startsWith('-') ? value.slice(1) : `-${value}`;
}

export function isDecimalString(value: string): boolean {
  return /^-?\d+(\.\d+)?$/.test(value);
}

export function eq(a: DecimalInput, b: DecimalInput): boolean {
  return dec(a).equals(dec(b));
}
