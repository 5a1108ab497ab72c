/**
 * The import's own tables (foStagingWork, foVoucherReservations) spread their rows over a few
 * partitions by a hash of the ActualId, so writes do not pile onto one partition and a run can
 * list them in parallel.
 */
import { shortHash } from '../../core/ids';

export const STAGING_WORK_SHARDS = 8;

/** The shard "S0".."S7" of an actual. */
export function shardOf(actualId: string): string {
  return `S${Number.parseInt(shortHash(4, actualId), 16) % STAGING_WORK_SHARDS}`;
}
