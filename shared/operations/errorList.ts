/**
 * `GET api/errors?source=<function name>&status=Open|Resolved&top=<1..1000, default 200>`: the
 * integration error log, newest first: { count, errors }.
 */
import { z } from 'zod';
import type { ErrorLog, ErrorRow } from './errorLogStore';

export const errorsQuerySchema = z.strictObject({
  source: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, { message: 'must be a function name such as confirmProformaInvoice' })
    .optional(),
  status: z.enum(['Open', 'Resolved'], { message: 'must be Open or Resolved' }).optional(),
  top: z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number between 1 and 1000' })
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, { message: 'must be a whole number between 1 and 1000' })
    .optional(),
});
export type ErrorsQuery = z.infer<typeof errorsQuerySchema>;

export async function listErrors(deps: { errorLog: Pick<ErrorLog, 'list'> }, query: ErrorsQuery): Promise<{ count: number; errors: ErrorRow[] }> {
  const errors = await deps.errorLog.list({
    ...(query.source ? { source: query.source } : {}),
    ...(query.status ? { status: query.status } : {}),
    top: query.top ?? 200,
  });
  return { count: errors.length, errors };
}
