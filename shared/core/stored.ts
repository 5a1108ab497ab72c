/**
 * A record as read from storage carries the ETag it was read with: guarded writes send it back,
 * answers and plans drop it.
 */
export type Stored<T> = T & { etag: string };

/** The record without its ETag (what routes answer, what plans compare and write back). */
export function withoutEtag<R extends { etag?: string }>(row: R): Omit<R, 'etag'> {
  const { etag: _etag, ...rest } = row;
  return rest;
}
