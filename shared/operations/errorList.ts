/**
 * `GET api/errors?source=&category=&status=&since=&top=&continuationToken=`: the integration error
 * log, a page at a time (`top` rows, default 200, at most 1000), filtered in storage, never read
 * whole. Within a source the newest rows come first; `continuationToken` fetches the next page.
 */
import { z } from 'zod';
import { viewOfRow, type ErrorLog, type ErrorView } from './errorLogStore';

export const errorsQuerySchema = z.strictObject({
  source: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, { message: 'must be a function name such as confirmProformaInvoice' })
    .optional(),
  category: z.enum(['Validation', 'Business', 'Transient', 'DeadLetter'], { message: 'must be Validation, Business, Transient or DeadLetter' }).optional(),
  status: z.enum(['Open', 'Resolved', 'Replayed'], { message: 'must be Open, Resolved or Replayed' }).optional(),
  since: z.iso.datetime({ message: 'must be an ISO-8601 time such as 2026-12-01T00:00:00Z' }).optional(),
  top: z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number between 1 and 1000' })
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, { message: 'must be a whole number between 1 and 1000' })
    .optional(),
  continuationToken: z.string().min(1).max(2_000).optional(),
});
export type ErrorsQuery = z.infer<typeof errorsQuerySchema>;

export interface ErrorsPage {
  count: number;
  errors: ErrorView[];
  /** Send it back as `continuationToken` for the next page; absent on the last page. */
  continuationToken?: string;
}

export async function listErrors(deps: { errorLog: Pick<ErrorLog, 'page'> }, query: ErrorsQuery): Promise<ErrorsPage> {
  const page = await deps.errorLog.page(
    {
      ...(query.source ? { source: query.source } : {}),
      ...(query.category ? { category: query.category } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.since ? { since: query.since } : {}),
    },
    query.top ?? 200,
    query.continuationToken,
  );
  const errors = page.rows.map(viewOfRow);
  return { count: errors.length, errors, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
}
