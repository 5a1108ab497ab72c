/**
 * The import's own tables spread their rows over a few partitions ("S0".."S7"), so writes do not
 * pile onto one partition and a run can list them in parallel:
 * - the pending index (foStagingWork) by a hash of the row's contract, so one sync message (the
 *   actuals of one invoice or approval, one contract) writes its entries in one transaction;
 * - the voucher reservations (foVoucherReservations) by a hash of the ActualId.
 * Index entries written before the index was sharded by contract sit in their actual's shard;
 * import addresses every entry by the shard it was listed in, so they are still found and removed.
 */
import { shortHash } from '../../core/ids';

export const STAGING_WORK_SHARDS = 8;

function shard(key: string): string {
  return `S${Number.parseInt(shortHash(4, key), 16) % STAGING_WORK_SHARDS}`;
}

/** The shard of an actual's voucher reservation (and of index entries written before 2026-12-02). */
export function shardOf(actualId: string): string {
  return shard(actualId);
}

/** The pending-index shard of a staging row: every row of a contract in one. */
export function contractShardOf(contractId: string): string {
  return shard(contractId);
}
