/**
 * Proforma invoice numbers ("PI-000001", ...): the number sequence `ProformaInvoiceNumber`, one
 * reservation per invoice id, so a retried request keeps its number. The number becomes the F&O
 * invoice proposal id.
 */
import type { SequencePort } from '../../storage/sequences';

/** Hands out the proforma invoice number of an invoice id (the same number on every retry). */
export interface InvoiceNumbers {
  numberFor(invoiceId: string): Promise<string>;
}

export const PROFORMA_SEQUENCE = 'ProformaInvoiceNumber';

export function formatProformaNumber(n: number): string {
  return `PI-${String(n).padStart(6, '0')}`;
}

/** Proforma invoice numbers from the integration's number sequences, one reservation per invoice id. */
export function sequenceInvoiceNumbers(sequences: SequencePort): InvoiceNumbers {
  return {
    async numberFor(invoiceId) {
      return (await sequences.reserve(PROFORMA_SEQUENCE, invoiceId, { format: formatProformaNumber })).value;
    },
  };
}
