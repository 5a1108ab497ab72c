/**
 * Field-level zod building blocks shared by every record and message schema.
 */
import { z } from 'zod';
import {
  AdjustmentStatus,
  BillingMethod,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from './options';

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A lowercase GUID string. Upper-case input is accepted and lower-cased. */
export const guid = z
  .string()
  .transform((s) => s.toLowerCase())
  .refine((s) => GUID.test(s), { message: 'must be a GUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301' });

/**
 * A decimal string ("1600.00", "-7.5"): at most 20 digits before the point and 12 after, so every
 * value computes exactly within the money library's 40 significant digits.
 */
export const decimalString = z
  .string()
  .regex(/^-?\d+(\.\d+)?$/, { message: 'must be a decimal string such as "1600.00"' })
  .regex(/^-?\d{1,20}(\.\d{1,12})?$/, { message: 'must have at most 20 digits before the decimal point and 12 after' });

/** An amount (contract: amounts have 2 decimals): a decimal string with at most 2 decimals. */
export const amountString = decimalString.regex(/^-?\d+(\.\d{1,2})?$/, { message: 'is an amount and may have at most 2 decimals' });

export const dateString = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date yyyy-MM-dd' })
  .refine(isCalendarDate, { message: 'must be a real calendar date' });

/** True for a yyyy-MM-dd string naming a day that exists (2026-02-30 does not). */
export function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

export const timestampString = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'must be an ISO-8601 timestamp' });

export const currencyCode = z.string().regex(/^[A-Z]{3}$/, { message: 'must be an ISO currency code such as EUR' });

function optionSet<T extends Record<string, number>>(set: T, label: string) {
  const values = Object.values(set);
  return z
    .number()
    .int()
    .refine((v) => values.includes(v), { message: `must be a ${label} option value (${values.join(', ')})` })
    .transform((v) => v as T[keyof T]);
}

export const transactionType = optionSet(TransactionType, 'transaction type');
export const transactionClass = optionSet(TransactionClass, 'transaction class');
export const billingType = optionSet(BillingType, 'billing type');
export const billingStatus = optionSet(BillingStatus, 'billing status');
export const adjustmentStatus = optionSet(AdjustmentStatus, 'adjustment status');
export const billingMethod = optionSet(BillingMethod, 'billing method');
export const invoiceStatus = optionSet(InvoiceStatus, 'invoice status');
export const milestoneStatus = optionSet(MilestoneStatus, 'milestone status');

/** Turn a zod error into one sentence per problem, naming the field: what a person reads in the error log. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}
