/**
 * ETag-guarded writes of records a person's request read a moment ago: a record someone else
 * changed meanwhile fails the request with a ConcurrencyConflict that says sending it again is safe.
 */
import { ConcurrencyConflict, StaleWriteError } from '../core/errors';
import { withoutEtag, type Stored } from '../core/stored';
import type { TableStore } from '../storage/tableStore';

export async function replaceGuarded<T extends object>(table: Pick<TableStore<T>, 'replaceAllIfMatch'>, rows: readonly Stored<T>[], what: string): Promise<void> {
  if (!rows.length) return;
  try {
    await table.replaceAllIfMatch(rows.map((row) => ({ record: withoutEtag(row) as unknown as T, etag: row.etag })));
  } catch (error) {
    if (error instanceof StaleWriteError) {
      throw new ConcurrencyConflict(`${what} changed while this request was being applied (someone else updated them); nothing of yours was lost: send the request again.`);
    }
    throw error;
  }
}
