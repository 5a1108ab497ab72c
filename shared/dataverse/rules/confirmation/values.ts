/** Small value helpers shared by the confirmation files. Pure. */
import { amount, eq } from '../../../core/money';

/** A comparator by a string key, in code-unit order (ids are lowercase GUIDs). */
export function byId<T>(key: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** Decimal equality, skipping the decimal parse when the strings are identical (the common case). */
export function same(a: string, b: string): boolean {
  return a === b || eq(a, b);
}

const TWO_DECIMALS = /^-?\d+\.\d\d$/;
/** money.amount, skipping the decimal round trip for strings already in amount form. */
export function amt(value: string): string {
  return TWO_DECIMALS.test(value) && value !== '-0.00' ? value : amount(value);
}
