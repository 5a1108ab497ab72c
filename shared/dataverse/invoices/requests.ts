/**
 * Request bodies of the proforma invoice routes (Dataverse field names), parsed with zod at the
 * HTTP edge. What each field does: docs/decisions/proforma-invoices.md and the README's routes.
 */
import { z } from 'zod';
import { BillingType, TransactionClass } from '../../core/options';
import { billingType, guid, transactionClass } from '../../core/fields';
import { dateString, nonNegativeDecimal, taxAmount, taxPercent } from '../rules/requestFields';


export const createInvoiceRequestSchema = z.strictObject({
  invoiceDate: dateString.optional(),
  name: z.string().trim().min(1).max(200).optional(),
  taxPercent: taxPercent.optional(),
});
export type CreateInvoiceRequest = z.infer<typeof createInvoiceRequestSchema>;

const invoiceableBillingType = billingType.refine((v) => v !== BillingType.NotAvailable, {
  message: 'Not Available cannot be invoiced; use Chargeable (192350001), Non Chargeable (192350000) or Complimentary (192350002)',
});

export const updateDetailRequestSchema = z
  .strictObject({
    msdyn_quantity: nonNegativeDecimal.optional(),
    msdyn_price: nonNegativeDecimal.optional(),
    msdyn_billingtype: invoiceableBillingType.optional(),
    msdyn_transactionclassification: transactionClass.optional(),
    msdyn_tax: taxAmount.optional(),
    taxPercent: taxPercent.optional(),
  })
  .refine((r) => Object.keys(r).length > 0, { message: 'send at least one of msdyn_quantity, msdyn_price, msdyn_billingtype, msdyn_tax, taxPercent' })
  .refine((r) => r.msdyn_tax === undefined || r.taxPercent === undefined, { message: 'send either msdyn_tax or taxPercent, not both' });
export type UpdateDetailRequest = z.infer<typeof updateDetailRequestSchema>;

export const addDetailRequestSchema = z
  .strictObject({
    msdyn_invoicelinetransactionid: guid.optional(),
    msdyn_salescontractlineid: guid,
    msdyn_transactionclassification: transactionClass.refine((v) => v !== TransactionClass.Milestone, {
      message: 'a manual detail is Time (192350000), Expense (192350001), Material (192350002) or Fee (192350004); milestones come from the contract',
    }),
    msdyn_quantity: nonNegativeDecimal,
    msdyn_price: nonNegativeDecimal,
    msdyn_billingtype: invoiceableBillingType.optional(),
    msdyn_documentdate: dateString.optional(),
    msdyn_tax: taxAmount.optional(),
    taxPercent: taxPercent.optional(),
  })
  .refine((r) => r.msdyn_tax === undefined || r.taxPercent === undefined, { message: 'send either msdyn_tax or taxPercent, not both' });
export type AddDetailRequest = z.infer<typeof addDetailRequestSchema>;

export const confirmRequestSchema = z.strictObject({
  confirmedBy: z.string().trim().min(1).max(200).optional(),
});
export type ConfirmRequest = z.infer<typeof confirmRequestSchema>;
